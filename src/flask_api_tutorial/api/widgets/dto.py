"""Request parsers and response models of the widgets namespace: data shapes only."""

from datetime import datetime, time, timezone
from urllib.parse import urlsplit

from dateutil import parser as date_parser
from flask_restx import Model
from flask_restx.fields import Boolean, DateTime, Nested, String

from flask_api_tutorial.api.dto import BodyParser, page_model
from flask_api_tutorial.hardening import public_url
from flask_api_tutorial.models.widget import NAME_MAX_LENGTH, NAME_PATTERN, URL_MAX_LENGTH
from flask_api_tutorial.util.log_util import CONTROL_CHARACTERS

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
    """Return ``value`` if it is an http or https URL with a host, of at most 255 characters.

    ASCII only, without spaces or control characters, and a port (if any) from 1
    to 65535.
    """
    if not isinstance(value, str) or len(value) > URL_MAX_LENGTH:
        raise ValueError(f"info_url must be a URL of at most {URL_MAX_LENGTH} characters")
    try:
        parts = urlsplit(value)
        # .port raises ValueError above 65535 (or not a number); 0 is no port either.
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # an invalid port or IPv6 literal
        valid = False
    clean = value.isascii() and not CONTROL_CHARACTERS.search(value) and " " not in value
    if not valid or not clean:
        raise ValueError(f"{value} is not a valid http or https URL")
    return value


def future_date(value):
    """Return the deadline ``value`` as 23:59:59 UTC that day; today (UTC) or later.

    Any date dateutil reads, month first when ambiguous (12/31/26), as the tutorial.
    """
    if not isinstance(value, str):
        raise ValueError("deadline must be a date such as 2026-12-31 or 12/31/2026")
    if CONTROL_CHARACTERS.search(value):  # dateutil would skip them
        raise ValueError(f"{value} is not a date such as 2026-12-31 or 12/31/2026")
    try:
        parsed = date_parser.parse(value, dayfirst=False)
    except (ValueError, OverflowError, TypeError, LookupError):
        raise ValueError(f"{value} is not a date such as 2026-12-31 or 12/31/2026") from None
    if parsed.date() < datetime.now(timezone.utc).date():
        raise ValueError(f"deadline {value} is in the past; it must be today (UTC) or later")
    return datetime.combine(parsed.date(), DEADLINE_TIME)


widget_name.__schema__ = {"type": "string", "pattern": NAME_PATTERN.pattern}
info_url.__schema__ = {"type": "string", "format": "uri", "maxLength": URL_MAX_LENGTH}
future_date.__schema__ = {"type": "string", "format": "date-like"}

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

widget_owner_model = Model(
    "WidgetOwner",
    {"email": String(example="admin@example.com"), "public_id": String()},
)

# Read from a Widget by attribute name (models/widget.py): marshal(widget, widget_model).
widget_model = Model(
    "Widget",
    {
        "name": String(example="tetraWIDG"),
        "info_url": String(example="https://www.example.com/tetra"),
        "created_at": String(attribute="created_at_str", example="06/01/26 12:00:00 PM UTC"),
        "created_at_iso8601": DateTime(
            attribute="created_at", dt_format="iso8601", example="2026-06-01T12:00:00+00:00"
        ),
        "created_at_rfc822": String(example="Mon, 01 Jun 2026 12:00:00 GMT"),
        "deadline": String(attribute="deadline_str", example="12/31/26 11:59:59 PM UTC"),
        "deadline_passed": Boolean(),
        "time_remaining": String(
            attribute="time_remaining_str", example="3 days 4 hours 5 minutes 6 seconds"
        ),
        "owner": Nested(widget_owner_model, allow_null=True),
        "link": String(
            attribute=lambda widget: public_url("api.widget", name=widget.name),
            example="/api/v1/widgets/tetraWIDG",
        ),
    },
)

widget_page_model = page_model("WidgetPage", widget_model)
