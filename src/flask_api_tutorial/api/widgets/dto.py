"""Request parsers and response models of the widgets namespace: data shapes only."""

import re
from datetime import datetime, time, timezone
from urllib.parse import urlsplit

from dateutil import parser as date_parser
from flask_restx import Model
from flask_restx.fields import Boolean, Integer, List, Nested, String
from flask_restx.reqparse import RequestParser

from flask_api_tutorial.api.auth.dto import BodyParser
from flask_api_tutorial.models.widget import NAME_MAX_LENGTH, URL_MAX_LENGTH

NAME_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{1,{NAME_MAX_LENGTH}}}")
PER_PAGE_CHOICES = (5, 10, 25, 50, 100)
DEADLINE_TIME = time(23, 59, 59, tzinfo=timezone.utc)


def widget_name(value):
    """Return ``value`` if it is 1-100 ASCII letters, digits, '-' and '_'; else ValueError."""
    if value == "":
        raise ValueError(f"name must be 1 to {NAME_MAX_LENGTH} characters long")
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"{value} is not a valid name: use 1 to {NAME_MAX_LENGTH} ASCII letters, "
            "digits, '-' and '_'"
        )
    return value


def info_url(value):
    """Return ``value`` if it is an http or https URL with a host, of at most 255 characters."""
    if not isinstance(value, str) or len(value) > URL_MAX_LENGTH:
        raise ValueError(f"info_url must be a URL of at most {URL_MAX_LENGTH} characters")
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an invalid port or IPv6 literal
        valid = False
    if not valid or not value.isascii() or any(c.isspace() for c in value):
        raise ValueError(f"{value} is not a valid http or https URL")
    return value


def future_date(value):
    """Return the deadline ``value`` as 23:59:59 UTC that day; today (UTC) or later.

    Any date dateutil reads, month first when ambiguous (12/31/26), as the tutorial.
    """
    if not isinstance(value, str):
        raise ValueError("deadline must be a date such as 2026-12-31 or 12/31/2026")
    try:
        parsed = date_parser.parse(value, dayfirst=False)
    except (ValueError, OverflowError, TypeError, LookupError):
        raise ValueError(f"{value} is not a date such as 2026-12-31 or 12/31/2026") from None
    if parsed.date() < datetime.now(timezone.utc).date():
        raise ValueError(f"deadline {value} is in the past; it must be today (UTC) or later")
    return datetime.combine(parsed.date(), DEADLINE_TIME)


def page_number(value):
    """Return ``value`` as a positive whole number, else ValueError."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
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


widget_name.__schema__ = {"type": "string", "pattern": NAME_PATTERN.pattern}
info_url.__schema__ = {"type": "string", "format": "uri", "maxLength": URL_MAX_LENGTH}
future_date.__schema__ = {"type": "string", "format": "date-like"}
page_number.__schema__ = {"type": "integer", "minimum": 1, "default": 1}
per_page.__schema__ = {"type": "integer", "enum": list(PER_PAGE_CHOICES), "default": 10}

create_widget_reqparser = BodyParser(bundle_errors=True)
create_widget_reqparser.add_argument(
    name="name", type=widget_name, location="form", required=True, nullable=False
)
create_widget_reqparser.add_argument(
    name="info_url", type=info_url, location="form", required=True, nullable=False
)
create_widget_reqparser.add_argument(
    name="deadline", type=future_date, location="form", required=True, nullable=False
)

update_widget_reqparser = create_widget_reqparser.copy()
update_widget_reqparser.remove_argument("name")

pagination_reqparser = RequestParser(bundle_errors=True)
pagination_reqparser.add_argument(
    "page", type=page_number, location="args", required=False, default=1
)
pagination_reqparser.add_argument(
    "per_page", type=per_page, location="args", required=False, default=10
)


def pagination(args):
    """Return (page, per_page) from query ``args`` as pagination_reqparser reads them.

    None where the parser would refuse them (it then says why). The list's hot path:
    the same checks without the parser's machinery.
    """
    found = []
    for name, check, default in (("page", page_number, 1), ("per_page", per_page, 10)):
        try:
            values = [check(value) for value in args.getlist(name)]
        except ValueError:
            return None
        found.append(values[0] if values else default)
    return tuple(found)


widget_owner_model = Model(
    "WidgetOwner",
    {"email": String(example="admin@example.com"), "public_id": String()},
)

widget_model = Model(
    "Widget",
    {
        "name": String(example="tetraWIDG"),
        "info_url": String(example="https://www.example.com/tetra"),
        "created_at": String(example="06/01/26 12:00:00 PM UTC"),
        "created_at_iso8601": String(example="2026-06-01T12:00:00+00:00"),
        "created_at_rfc822": String(example="Mon, 01 Jun 2026 12:00:00 GMT"),
        "deadline": String(example="12/31/26 11:59:59 PM UTC"),
        "deadline_passed": Boolean(),
        "time_remaining": String(example="3 days 4 hours 5 minutes 6 seconds"),
        "owner": Nested(widget_owner_model, allow_null=True),
        "link": String(example="/api/v1/widgets/tetraWIDG"),
    },
)

pagination_links_model = Model(
    "PaginationLinks",
    {
        "self": String(example="/api/v1/widgets?page=2&per_page=5"),
        "first": String(example="/api/v1/widgets?page=1&per_page=5"),
        "prev": String(example="/api/v1/widgets?page=1&per_page=5"),
        "next": String(example="/api/v1/widgets?page=3&per_page=5"),
        "last": String(example="/api/v1/widgets?page=3&per_page=5"),
    },
)

pagination_model = Model(
    "WidgetPage",
    {
        "links": Nested(pagination_links_model),
        "has_prev": Boolean(),
        "has_next": Boolean(),
        "page": Integer(),
        "total_pages": Integer(),
        "items_per_page": Integer(),
        "total_items": Integer(),
        "items": List(Nested(widget_model)),
    },
)
