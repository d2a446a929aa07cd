"""What every namespace shares: the body parser, pagination, and the documented error shapes.

A namespace registers the models it documents (``register_models``); a model shared
here is one object under one name, so the Swagger document shows each once.
"""

import json
from http import HTTPStatus
from types import SimpleNamespace

from flask import request
from flask_restx import Model, abort
from flask_restx.fields import Boolean, Integer, List, Nested, Raw, String
from flask_restx.reqparse import RequestParser
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from flask_api_tutorial.hardening import public_url

FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
UNSUPPORTED_MEDIA_TYPE = (
    "Send the body as application/json, application/x-www-form-urlencoded or multipart/form-data."
)
MALFORMED_JSON = "The request body is not valid JSON."
NOT_AN_OBJECT = "The JSON body must be an object."
PARSED_BODIES_KEY = "flask_api_tutorial.parsed_bodies"
PER_PAGE_CHOICES = (5, 10, 25, 50, 100)
DEFAULT_PAGE = 1
DEFAULT_PER_PAGE = 10
# No table holds this many pages: a later page is just as empty, and its OFFSET could
# overflow the database's integers, so it is read as this one (and answered as asked).
MAX_PAGE_READ = 2**31


class BodyParser(RequestParser):
    """A request parser for a body sent as form data or as a JSON object, parsed once.

    Arguments are declared in the form location, which is what Swagger UI sends; a
    JSON object is presented to the same arguments as if it were a form, so both
    encodings get the same fields, validation and messages. The first
    ``parse_args()`` of a request parses and validates; later calls in the same
    request (the rate-limit key, then the resource) return the same arguments, or
    raise the same 400/413/415.
    """

    def parse_args(self, req=None, strict=False):
        """Return the parsed arguments of the current request's body, or abort."""
        # Kept in the WSGI environ, which lives exactly as long as the request (g may
        # outlive it: a test's app context spans several requests).
        results = request.environ.setdefault(PARSED_BODIES_KEY, {})
        if self not in results:
            try:
                results[self] = self._parse(strict)
            except HTTPException as error:
                results[self] = error
        result = results[self]
        if isinstance(result, HTTPException):
            raise result
        return result

    def _parse(self, strict):
        if request.mimetype in FORM_MIMETYPES:
            return super().parse_args(strict=strict)
        if not request.is_json:
            abort(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED_MEDIA_TYPE)
        try:
            body = json.loads(request.get_data(cache=True))
        except (ValueError, RecursionError):
            abort(HTTPStatus.BAD_REQUEST, MALFORMED_JSON)
        if not isinstance(body, dict):
            abort(HTTPStatus.BAD_REQUEST, NOT_AN_OBJECT)
        # A list of pairs keeps a JSON list as one (invalid) value instead of many.
        form = MultiDict(list(body.items()))
        return super().parse_args(req=SimpleNamespace(form=form), strict=strict)


def page_number(value):
    """Return ``value`` as a positive whole number, else ValueError."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    # int() also reads " 2", "+2", "02" and a fullwidth "２": only the plain digits pass.
    if number < 1 or str(value).strip() != str(number):
        raise ValueError(f"page must be a positive whole number, not {value}")
    return number


def per_page(value):
    """Return ``value`` as one of 5, 10, 25, 50 or 100, else ValueError."""
    choices = ", ".join(str(choice) for choice in PER_PAGE_CHOICES)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number not in PER_PAGE_CHOICES or str(value).strip() != str(number):
        raise ValueError(f"per_page must be one of {choices}, not {value}")
    return number


page_number.__schema__ = {"type": "integer", "minimum": 1, "default": DEFAULT_PAGE}
per_page.__schema__ = {
    "type": "integer",
    "enum": list(PER_PAGE_CHOICES),
    "default": DEFAULT_PER_PAGE,
}

pagination_reqparser = RequestParser(bundle_errors=True)
pagination_reqparser.add_argument(
    "page", type=page_number, location="args", required=False, default=DEFAULT_PAGE
)
pagination_reqparser.add_argument(
    "per_page", type=per_page, location="args", required=False, default=DEFAULT_PER_PAGE
)

status_model = Model(
    "Status",
    {
        "status": String(example="fail"),
        "message": String(example="email or password does not match"),
    },
)

error_model = Model("Error", {"message": String(example="Invalid token. Please log in again.")})

validation_error_model = Model(
    "ValidationError",
    {
        "message": String(example="Input payload validation failed"),
        "errors": Raw(
            description="field name → what is wrong with it",
            example={"email": "foo is not a valid email"},
        ),
    },
)

page_links_model = Model(
    "PageLinks",
    {
        rel: String(description=f"path of the {rel} page, with page and per_page")
        for rel in ("self", "first", "prev", "next", "last")
    },
)

SHARED_MODELS = (status_model, error_model, validation_error_model, page_links_model)


def page_model(name, item_model):
    """Return the model of one page of ``item_model`` items, as the list endpoints answer."""
    return Model(
        name,
        {
            "links": Nested(page_links_model),
            "has_prev": Boolean(),
            "has_next": Boolean(),
            "page": Integer(),
            "total_pages": Integer(),
            "items_per_page": Integer(),
            "total_items": Integer(),
            "items": List(Nested(item_model)),
        },
    )


def page_response(page, pagination, endpoint, items):
    """Answer page ``page`` of a list: the page_model body, Link and Total-Count headers.

    ``pagination`` is what db.paginate read for it, ``items`` its items as answered,
    and ``endpoint`` the list's (e.g. "api.widget_list"): links are its paths.
    """
    per_page = pagination.per_page
    total_pages = max(pagination.pages, 1)
    numbers = {"self": page, "first": DEFAULT_PAGE}
    if page > 1:
        numbers["prev"] = page - 1
    if page < total_pages:
        numbers["next"] = page + 1
    numbers["last"] = total_pages
    links = {
        rel: public_url(endpoint, page=number, per_page=per_page)
        for rel, number in numbers.items()
    }
    body = {
        "links": links,
        "has_prev": page > 1,
        "has_next": page < total_pages,
        "page": page,
        "total_pages": total_pages,
        "items_per_page": per_page,
        "total_items": pagination.total,
        "items": items,
    }
    headers = {
        "Link": ", ".join(f'<{link}>; rel="{rel}"' for rel, link in links.items()),
        "Total-Count": str(pagination.total),
    }
    return body, HTTPStatus.OK, headers


def register_models(namespace, *models):
    """Register the shared models and ``models`` with ``namespace`` for its Swagger docs."""
    for model in (*SHARED_MODELS, *models):
        namespace.add_model(model.name, model)


# What the endpoints document, besides each one's own answers.
BODY_ERRORS = {
    int(HTTPStatus.BAD_REQUEST): ("Validation error.", validation_error_model),
    int(HTTPStatus.REQUEST_ENTITY_TOO_LARGE): ("Request body too large.", error_model),
    int(HTTPStatus.UNSUPPORTED_MEDIA_TYPE): ("Unsupported body type.", error_model),
}
RATE_LIMITED = {
    int(HTTPStatus.TOO_MANY_REQUESTS): ("Rate limit hit; see Retry-After.", error_model),
}
SERVER_ERRORS = {
    int(HTTPStatus.INTERNAL_SERVER_ERROR): ("Internal server error.", error_model),
    int(HTTPStatus.SERVICE_UNAVAILABLE): (
        "Database (or, where limited, the rate-limit counts) unreachable.",
        error_model,
    ),
}
TOKEN_ERRORS = {
    int(HTTPStatus.UNAUTHORIZED): ("Token is missing, expired, revoked or invalid.", error_model),
    **SERVER_ERRORS,
}
ADMIN_ERRORS = {
    **TOKEN_ERRORS,
    int(HTTPStatus.FORBIDDEN): ("You are not an administrator.", error_model),
}
