"""Read a POST body sent as form data or as a JSON object, with one request parser.

The parsers declare their arguments in the form location, which is what Swagger UI
sends; a JSON object is presented to the same parser as if it were a form, so both
encodings get the same fields, validation and messages. A body is parsed once per
request: the rate-limit keys and the resource share the result (or the 400).
"""

import json
from http import HTTPStatus
from types import SimpleNamespace

from flask import request
from flask_restx import abort
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
UNSUPPORTED_MEDIA_TYPE = (
    "Send the body as application/json, application/x-www-form-urlencoded or multipart/form-data."
)
MALFORMED_JSON = "The request body is not valid JSON."
NOT_AN_OBJECT = "The JSON body must be an object."


class _BodyError(Exception):
    """The body cannot be read as its content type says."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def parse_body(parser):
    """Return the parsed arguments of the current request's form or JSON body, or abort.

    The first call parses and validates; later calls in the same request return
    the same arguments, or raise the same 400/413/415.
    """
    # Kept in the WSGI environ, which lives exactly as long as the request (g may
    # outlive it: a test's app context spans several requests).
    results = request.environ.setdefault("flask_api_tutorial.parsed_bodies", {})
    if parser not in results:
        try:
            results[parser] = _parse(parser)
        except HTTPException as error:
            results[parser] = error
    result = results[parser]
    if isinstance(result, HTTPException):
        raise result
    return result


def _parse(parser):
    try:
        form = _body_as_form()
    except _BodyError as error:
        abort(error.status, error.message)
    if request.mimetype in FORM_MIMETYPES:
        return parser.parse_args()
    return parser.parse_args(req=SimpleNamespace(form=form))


def _body_as_form():
    """Return the body as a MultiDict, whichever of the accepted types it was sent as."""
    if request.mimetype in FORM_MIMETYPES:
        return request.form
    if not request.is_json:
        raise _BodyError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED_MEDIA_TYPE)
    try:
        body = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):
        raise _BodyError(HTTPStatus.BAD_REQUEST, MALFORMED_JSON) from None
    if not isinstance(body, dict):
        raise _BodyError(HTTPStatus.BAD_REQUEST, NOT_AN_OBJECT)
    # A list of pairs keeps a JSON list as one (invalid) value instead of many.
    return MultiDict(list(body.items()))
