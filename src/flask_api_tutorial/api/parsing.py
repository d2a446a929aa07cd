"""Read a POST body sent as form data or as a JSON object, with one request parser.

The parsers declare their arguments in the form location, which is what Swagger UI
sends; a JSON object is presented to the same parser as if it were a form, so both
encodings get the same fields, validation and messages.
"""

import json
from http import HTTPStatus
from types import SimpleNamespace

from flask import request
from flask_restx import abort
from werkzeug.datastructures import MultiDict

FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
UNSUPPORTED_MEDIA_TYPE = (
    "Send the body as application/json, application/x-www-form-urlencoded or multipart/form-data."
)
MALFORMED_JSON = "The request body is not valid JSON."
NOT_AN_OBJECT = "The JSON body must be an object."


def parse_body(parser):
    """Return the parsed arguments of the current request's form or JSON body."""
    if request.mimetype in FORM_MIMETYPES:
        return parser.parse_args()
    if request.is_json:
        body = _json_object()
        # A list of pairs keeps a JSON list as one (invalid) value instead of many.
        form = MultiDict(list(body.items()))
        return parser.parse_args(req=SimpleNamespace(form=form))
    abort(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED_MEDIA_TYPE)


def _json_object():
    """Return the body as a dict, or abort with 400 when it is not a JSON object."""
    try:
        body = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):
        abort(HTTPStatus.BAD_REQUEST, MALFORMED_JSON)
    if not isinstance(body, dict):
        abort(HTTPStatus.BAD_REQUEST, NOT_AN_OBJECT)
    return body
