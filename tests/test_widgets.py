"""/api/v1/widgets: the contract's widget resource, line by line.

Testing tokens live 5 seconds, so every test that logs in freezes the clock first
(NOW, a fixed UTC instant) and travels from there; deadlines are relative to NOW.
"""

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask import url_for

from flask_api_tutorial import create_app
from flask_api_tutorial.database import dispose_engines
from flask_api_tutorial.models import Widget
from tests.support.races import assert_one_wins, release_together
from tests.util import (
    ADMIN_EMAIL,
    BAD_REQUEST,
    EMAIL,
    PASSWORD,
    TOKEN_BLACKLISTED,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    add_user,
    assert_unauthorized,
    bearer,
    login_user,
    logout_all,
    logout_user,
)

pytestmark = [pytest.mark.database]

UTC = timezone.utc
NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
BASE = "/api/v1/widgets"
INFO_URL = "https://example.com/widgets/info"
DEADLINE = "2026-12-31"
DEADLINE_SHOWN = "12/31/26 11:59:59 PM UTC"
DEADLINE_STORED = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
# From NOW to DEADLINE_STORED.
REMAINING_AT_NOW = "213 days 11 hours 59 minutes 59 seconds"
NOT_ADMIN = {"message": "You are not an administrator"}
ADMIN_CHALLENGE = (
    'Bearer realm="admin_users@mydomain.com", error="insufficient_scope", '
    'error_description="You are not an administrator"'
)
WIDGET_KEYS = {
    "name",
    "info_url",
    "created_at",
    "created_at_iso8601",
    "created_at_rfc822",
    "deadline",
    "deadline_passed",
    "time_remaining",
    "owner",
    "link",
}
BODY_KINDS = ["json", "form", "multipart"]


# --- helpers ---------------------------------------------------------------------------


def _login(client, time_machine, when=NOW, email=ADMIN_EMAIL):
    """Freeze the clock at ``when``, log in as ``email`` and return the access token."""
    time_machine.move_to(when, tick=False)
    response = login_user(client, email=email, password=PASSWORD)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def _body(fields, kind="json"):
    """Return the test client's keyword arguments that send ``fields`` as ``kind``."""
    if kind == "json":
        return {"json": fields}
    if kind == "form":
        return {"data": fields}
    return {"data": fields, "content_type": "multipart/form-data"}


def _fields(name="Widget-1", info_url=INFO_URL, deadline=DEADLINE, **overrides):
    fields = {"name": name, "info_url": info_url, "deadline": deadline, **overrides}
    return {key: value for key, value in fields.items() if value is not None}


def _create(client, token, kind="json", **fields):
    """POST /widgets with a bearer token."""
    return client.post(
        url_for("api.widget_list"), headers=bearer(token), **_body(_fields(**fields), kind)
    )


def _put(client, token, name, kind="json", info_url=INFO_URL, deadline=DEADLINE):
    fields = {"info_url": info_url, "deadline": deadline}
    fields = {key: value for key, value in fields.items() if value is not None}
    return client.put(
        url_for("api.widget", name=name), headers=bearer(token), **_body(fields, kind)
    )


def _get(client, token, name):
    return client.get(url_for("api.widget", name=name), headers=bearer(token))


def _delete(client, token, name):
    return client.delete(url_for("api.widget", name=name), headers=bearer(token))


def _list(client, token, **query):
    return client.get(url_for("api.widget_list", **query), headers=bearer(token))


def _count(db):
    return db.session.scalar(db.select(db.func.count()).select_from(Widget))


def _stored(db, name):
    db.session.expire_all()
    return Widget.find_by_name(name)


def assert_json(response, status, body):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/json"
    assert response.get_json() == body


def assert_created(response, name):
    assert_json(response, 201, {"status": "success", "message": f"New widget added: {name}."})
    assert response.headers["Location"] == f"http://localhost{BASE}/{name}"


def assert_forbidden(response):
    assert_json(response, 403, NOT_ADMIN)
    assert response.headers["WWW-Authenticate"] == ADMIN_CHALLENGE


def assert_not_found(response, name):
    assert_json(response, 404, {"message": f"{name} not found in database."})


def assert_invalid(response, field):
    """Check a 400 naming ``field`` (and only it) in ``errors``."""
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.content_type == "application/json"
    body = response.get_json()
    assert set(body) == {"message", "errors"}
    assert body["message"] == BAD_REQUEST
    assert set(body["errors"]) == {field}
    assert isinstance(body["errors"][field], str) and body["errors"][field]


def _widget(
    name,
    owner,
    info_url=INFO_URL,
    created_at=NOW,
    deadline=DEADLINE_SHOWN,
    time_remaining=REMAINING_AT_NOW,
    passed=False,
):
    """Return the widget body the contract describes, without created_at_rfc822."""
    return {
        "name": name,
        "info_url": info_url,
        "created_at": created_at.strftime("%m/%d/%y %I:%M:%S %p UTC"),
        "created_at_iso8601": created_at.isoformat(),
        "deadline": deadline,
        "deadline_passed": passed,
        "time_remaining": time_remaining,
        "owner": {"email": owner.email, "public_id": owner.public_id},
        "link": f"{BASE}/{name}",
    }


def assert_widget(actual, expected, created_at=NOW):
    """Compare a widget body; created_at_rfc822 must parse back to ``created_at``."""
    actual = dict(actual)
    assert set(actual) == WIDGET_KEYS
    rfc822 = parsedate_to_datetime(actual.pop("created_at_rfc822"))
    # "-0000" (what email.utils.formatdate writes for UTC) parses to a naive datetime.
    if rfc822.tzinfo is None:
        rfc822 = rfc822.replace(tzinfo=UTC)
    assert rfc822 == created_at
    assert actual == expected


# --- create, read, case ----------------------------------------------------------------


def test_routes_are_the_contracts_paths(app):
    assert url_for("api.widget_list") == BASE
    assert url_for("api.widget", name="Widget-1") == f"{BASE}/Widget-1"


@pytest.mark.parametrize("kind", BODY_KINDS)
def test_create_then_get(client, db, admin, time_machine, kind):
    token = _login(client, time_machine)
    assert_created(_create(client, token, kind), "Widget-1")
    response = _get(client, token, "Widget-1")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert_widget(response.get_json(), _widget("Widget-1", admin))
    widget = _stored(db, "Widget-1")
    assert widget.name == "Widget-1"
    assert widget.info_url == INFO_URL
    assert widget.deadline == DEADLINE_STORED
    assert widget.deadline.utcoffset() == timedelta(0)
    assert widget.created_at == NOW
    assert widget.owner_id == admin.id
    assert widget.owner.email == ADMIN_EMAIL
    assert _count(db) == 1


def test_get_shows_created_at_in_every_format(client, admin, time_machine):
    created = datetime(2026, 6, 1, 0, 5, 9, tzinfo=UTC)
    token = _login(client, time_machine, when=created)
    assert_created(_create(client, token), "Widget-1")
    body = _get(client, token, "Widget-1").get_json()
    assert body["created_at"] == "06/01/26 12:05:09 AM UTC"
    assert body["created_at_iso8601"] == "2026-06-01T00:05:09+00:00"
    assert_widget(
        body,
        _widget("Widget-1", admin, created_at=created, time_remaining=body["time_remaining"]),
        created_at=created,
    )


def test_get_unknown_widget(client, admin, time_machine):
    token = _login(client, time_machine)
    assert_not_found(_get(client, token, "no-such-widget"), "no-such-widget")


# Names from the path that no widget can have: not found, before any query (PostgreSQL
# refuses a NUL in a query's text, which used to answer 500).
UNNAMEABLE = ["\x00", "a\x00b", "widget\x00", "\x1b[31m", "caf\u00e9", "a" * 101, "a.b"]


@pytest.mark.parametrize("name", UNNAMEABLE)
def test_get_and_delete_a_name_no_widget_can_have(client, db, admin, time_machine, name):
    token = _login(client, time_machine)
    assert_created(_create(client, token), "Widget-1")
    assert_not_found(_get(client, token, name), name)
    assert_not_found(_delete(client, token, name), name)
    assert _count(db) == 1


def test_name_kept_as_written_and_found_in_any_case(client, db, admin, time_machine):
    token = _login(client, time_machine)
    assert_created(_create(client, token, name="MixedCase_Widget-9"), "MixedCase_Widget-9")
    for asked in ("mixedcase_widget-9", "MIXEDCASE_WIDGET-9", "mixedCASE_widget-9"):
        response = _get(client, token, asked)
        assert response.status_code == 200
        assert_widget(response.get_json(), _widget("MixedCase_Widget-9", admin))
        assert _stored(db, asked).name == "MixedCase_Widget-9"


@pytest.mark.parametrize(
    "asked", ["\u212aey", "\u212aEY"], ids=["kelvin sign", "kelvin sign upper"]
)
def test_non_ascii_lookalike_is_not_another_capitalisation(client, db, admin, time_machine, asked):
    """The Kelvin sign lower-cases to "k" in Unicode, but it is no ASCII letter of a name."""
    token = _login(client, time_machine)
    assert_created(_create(client, token, name="Key"), "Key")
    assert_not_found(_get(client, token, asked), asked)
    assert_not_found(_delete(client, token, asked), asked)
    assert_invalid(_put(client, token, asked), "name")
    assert _count(db) == 1
    assert _stored(db, "Key").info_url == INFO_URL


def test_put_in_another_case_updates_the_widget(client, db, admin, time_machine):
    token = _login(client, time_machine)
    assert_created(_create(client, token, name="MixedCase"), "MixedCase")
    response = _put(client, token, "MIXEDCASE", info_url="https://example.org/new")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    body = response.get_json()
    # The contract does not say which spelling the message quotes: the path's or the stored one.
    assert body in (
        {"status": "success", "message": "'MIXEDCASE' was successfully updated"},
        {"status": "success", "message": "'MixedCase' was successfully updated"},
    )
    assert "Location" not in response.headers
    shown = _get(client, token, "mixedcase").get_json()
    assert_widget(shown, _widget("MixedCase", admin, info_url="https://example.org/new"))
    assert _count(db) == 1


def test_delete_in_another_case(client, db, admin, time_machine):
    token = _login(client, time_machine)
    assert_created(_create(client, token, name="MixedCase"), "MixedCase")
    response = _delete(client, token, "mixedCASE")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_not_found(_get(client, token, "MixedCase"), "MixedCase")
    assert _count(db) == 0


@pytest.mark.parametrize("kind", BODY_KINDS)
@pytest.mark.parametrize("again", ["Widget-1", "WIDGET-1", "widget-1"])
def test_create_existing_name_in_any_case(client, db, admin, time_machine, again, kind):
    token = _login(client, time_machine)
    assert_created(_create(client, token), "Widget-1")
    response = _create(client, token, kind, name=again, info_url="https://example.org/other")
    assert_json(
        response,
        409,
        {"status": "fail", "message": f"Widget name: {again} already exists, must be unique."},
    )
    assert "Location" not in response.headers
    assert _count(db) == 1
    assert _stored(db, "widget-1").info_url == INFO_URL


@pytest.mark.parametrize("name", ["a", "Z", "0", "-", "_", "a" * 100, "Az09-_"])
def test_valid_names(client, db, admin, time_machine, name):
    token = _login(client, time_machine)
    assert_created(_create(client, token, name=name), name)
    response = _get(client, token, name)
    assert response.status_code == 200
    assert response.get_json()["name"] == name
    assert response.get_json()["link"] == f"{BASE}/{name}"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "https://example.com/a?b=c#d",
        "http://localhost:5000/x",
        "https://example.com/" + "a" * 235,
        "https://example.com:1/x",
        "https://example.com:65535/x",
        "https://[2001:db8::1]:8443/x",
    ],
    ids=["http", "https with query", "port", "255 chars", "port 1", "port 65535", "IPv6"],
)
def test_valid_info_urls(client, admin, time_machine, url):
    token = _login(client, time_machine)
    assert_created(_create(client, token, info_url=url), "Widget-1")
    assert _get(client, token, "Widget-1").get_json()["info_url"] == url


# --- deadlines -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["json", "form"])
@pytest.mark.parametrize(
    "deadline",
    [
        "2026-12-31",
        "12/31/2026",
        "12/31/26",
        "Dec 31 2026",
        "December 31, 2026",
        # Not ambiguous (there is no month 31): dateutil reads it as 31 December.
        "31/12/2026",
        "2026-12-31 08:00:00",
    ],
)
def test_every_deadline_format_gives_the_same_deadline(
    client, db, admin, time_machine, deadline, kind
):
    token = _login(client, time_machine)
    assert_created(_create(client, token, kind, deadline=deadline), "Widget-1")
    body = _get(client, token, "Widget-1").get_json()
    assert body["deadline"] == DEADLINE_SHOWN
    assert body["time_remaining"] == REMAINING_AT_NOW
    assert _stored(db, "Widget-1").deadline == DEADLINE_STORED


def test_ambiguous_deadline_is_read_month_first(client, db, admin, time_machine):
    token = _login(client, time_machine)
    assert_created(_create(client, token, deadline="07/02/2026"), "Widget-1")
    assert _get(client, token, "Widget-1").get_json()["deadline"] == "07/02/26 11:59:59 PM UTC"
    assert _stored(db, "Widget-1").deadline == datetime(2026, 7, 2, 23, 59, 59, tzinfo=UTC)


def test_deadline_today_is_accepted(client, db, admin, time_machine):
    token = _login(client, time_machine)
    assert_created(_create(client, token, deadline="2026-06-01"), "Widget-1")
    body = _get(client, token, "Widget-1").get_json()
    assert_widget(
        body,
        _widget(
            "Widget-1",
            admin,
            deadline="06/01/26 11:59:59 PM UTC",
            time_remaining="11 hours 59 minutes 59 seconds",
        ),
    )


@pytest.mark.parametrize(
    "utc_now, zone, accepted",
    [
        # 20:00 UTC on 1 June is already 2 June at UTC+14: 1 June is still today in UTC.
        (datetime(2026, 6, 1, 20, 0, 0, tzinfo=UTC), "Pacific/Kiritimati", True),
        # 02:00 UTC on 2 June is still 1 June at UTC-10: 1 June is yesterday in UTC.
        (datetime(2026, 6, 2, 2, 0, 0, tzinfo=UTC), "Pacific/Honolulu", False),
    ],
    ids=["local tomorrow", "local yesterday"],
)
def test_today_is_the_utc_date_whatever_the_local_zone(
    client, db, admin, time_machine, utc_now, zone, accepted
):
    # A ZoneInfo destination makes time-machine also set the process's local zone.
    token = _login(client, time_machine, when=utc_now.astimezone(ZoneInfo(zone)))
    response = _create(client, token, deadline="2026-06-01")
    if accepted:
        assert_created(response, "Widget-1")
        body = _get(client, token, "Widget-1").get_json()
        assert body["deadline"] == "06/01/26 11:59:59 PM UTC"
        assert body["time_remaining"] == "3 hours 59 minutes 59 seconds"
    else:
        assert_invalid(response, "deadline")
        assert _count(db) == 0


@pytest.mark.parametrize(
    "left, shown",
    [
        (timedelta(days=3, hours=4, minutes=5, seconds=6), "3 days 4 hours 5 minutes 6 seconds"),
        (timedelta(days=1), "1 day 0 hours 0 minutes 0 seconds"),
        (timedelta(days=2, hours=1, minutes=1, seconds=1), "2 days 1 hour 1 minute 1 second"),
        (
            timedelta(days=1, hours=23, minutes=59, seconds=59),
            "1 day 23 hours 59 minutes 59 seconds",
        ),
        (timedelta(hours=4, minutes=5, seconds=6), "4 hours 5 minutes 6 seconds"),
        (timedelta(hours=23, minutes=59, seconds=59), "23 hours 59 minutes 59 seconds"),
        (timedelta(hours=1), "1 hour 0 minutes 0 seconds"),
        (timedelta(minutes=5, seconds=6), "0 hours 5 minutes 6 seconds"),
        (timedelta(seconds=1), "0 hours 0 minutes 1 second"),
    ],
)
def test_time_remaining(client, admin, time_machine, left, shown):
    token = _login(client, time_machine)
    assert_created(_create(client, token, deadline="2026-06-04"), "Widget-1")
    deadline = datetime(2026, 6, 4, 23, 59, 59, tzinfo=UTC)
    token = _login(client, time_machine, when=deadline - left)
    response = _get(client, token, "Widget-1")
    assert response.status_code == 200
    assert_widget(
        response.get_json(),
        _widget("Widget-1", admin, deadline="06/04/26 11:59:59 PM UTC", time_remaining=shown),
    )


@pytest.mark.parametrize("late", [timedelta(seconds=1), timedelta(days=30)])
def test_deadline_passed(client, admin, time_machine, late):
    token = _login(client, time_machine)
    assert_created(_create(client, token, deadline="2026-06-04"), "Widget-1")
    token = _login(client, time_machine, when=datetime(2026, 6, 4, 23, 59, 59, tzinfo=UTC) + late)
    response = _get(client, token, "Widget-1")
    assert response.status_code == 200
    assert_widget(
        response.get_json(),
        _widget(
            "Widget-1",
            admin,
            deadline="06/04/26 11:59:59 PM UTC",
            time_remaining="No time remaining",
            passed=True,
        ),
    )


# --- validation ------------------------------------------------------------------------

INVALID_FIELDS = [
    ("name", ""),
    ("name", "a" * 101),
    ("name", "café"),
    ("name", "a b"),
    ("name", "a/b"),
    ("name", "widget\n"),
    ("name", "١٢٣"),
    ("name", "a.b"),
    ("info_url", "ftp://x"),
    ("info_url", "not a url"),
    ("info_url", "http://"),
    ("info_url", "https://"),
    ("info_url", "http:///path"),
    ("info_url", "//example.com/x"),
    ("info_url", "javascript:alert(1)"),
    ("info_url", ""),
    ("info_url", "https://example.com/" + "a" * 236),
    ("info_url", "https://ok.example:99999/"),
    ("info_url", "https://ok.example:65536/"),
    ("info_url", "https://ok.example:0/"),
    ("info_url", "https://ok.example:-1/"),
    ("info_url", "https://ok.example:x/"),
    ("info_url", "https://[::1/"),
    ("info_url", "https://ok.example/\x00"),
    ("info_url", "https://ok.example/\x1b[31m"),
    ("info_url", "https://ok.example/\x7f"),
    ("info_url", "https://ok.example/\x85"),
    ("name", "a\x00b"),
    ("deadline", "2026-12-31\x00"),
    ("deadline", "2026-05-31"),
    ("deadline", "05/31/2026"),
    ("deadline", "not a date"),
    ("deadline", "13/13/2026"),
    ("deadline", ""),
]
INVALID_IDS = [
    "name empty",
    "name 101 chars",
    "name non-ascii",
    "name space",
    "name slash",
    "name trailing newline",
    "name non-ascii digits",
    "name dot",
    "url ftp",
    "url not a url",
    "url http no host",
    "url https no host",
    "url empty host with path",
    "url no scheme",
    "url javascript",
    "url empty",
    "url 256 chars",
    "url port 99999",
    "url port 65536",
    "url port 0",
    "url port -1",
    "url port not a number",
    "url broken IPv6",
    "url NUL",
    "url ESC",
    "url DEL",
    "url C1",
    "name NUL",
    "deadline NUL",
    "deadline yesterday iso",
    "deadline yesterday month-first",
    "deadline not a date",
    "deadline no such month",
    "deadline empty",
]


@pytest.mark.parametrize("kind", ["json", "form"])
@pytest.mark.parametrize("field, value", INVALID_FIELDS, ids=INVALID_IDS)
def test_create_invalid_field(client, db, admin, time_machine, field, value, kind):
    token = _login(client, time_machine)
    response = _create(client, token, kind, **{field: value})
    assert_invalid(response, field)
    assert "Location" not in response.headers
    assert _count(db) == 0


@pytest.mark.parametrize("kind", ["json", "form"])
@pytest.mark.parametrize("field", ["name", "info_url", "deadline"])
def test_create_missing_field(client, db, admin, time_machine, field, kind):
    token = _login(client, time_machine)
    fields = _fields()
    del fields[field]
    response = client.post(
        url_for("api.widget_list"), headers=bearer(token), **_body(fields, kind)
    )
    assert_invalid(response, field)
    assert _count(db) == 0


def test_create_with_no_fields_names_them_all(client, db, admin, time_machine):
    token = _login(client, time_machine)
    response = client.post(url_for("api.widget_list"), headers=bearer(token), json={})
    assert response.status_code == 400
    body = response.get_json()
    assert body["message"] == BAD_REQUEST
    assert set(body["errors"]) == {"name", "info_url", "deadline"}
    assert _count(db) == 0


@pytest.mark.parametrize("field, value", [("name", 123), ("info_url", ["x"]), ("deadline", {})])
def test_create_field_of_wrong_type(client, db, admin, time_machine, field, value):
    token = _login(client, time_machine)
    response = _create(client, token, **{field: value})
    assert response.status_code == 400
    assert response.content_type == "application/json"
    assert response.get_json()["message"] == BAD_REQUEST
    assert _count(db) == 0


@pytest.mark.parametrize(
    "data, content_type, status",
    [
        ("[1, 2]", "application/json", 400),
        ('{"name": ', "application/json", 400),
        ("name=Widget-1", "text/plain", 415),
    ],
    ids=["json array", "malformed json", "text/plain"],
)
def test_create_body_not_a_json_object_or_form(
    client, db, admin, time_machine, data, content_type, status
):
    token = _login(client, time_machine)
    response = client.post(
        url_for("api.widget_list"), headers=bearer(token), data=data, content_type=content_type
    )
    assert response.status_code == status
    assert response.content_type == "application/json"
    assert _count(db) == 0


# --- PUT -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BODY_KINDS)
def test_put_existing_widget(client, db, admin, time_machine, kind):
    token = _login(client, time_machine)
    assert_created(_create(client, token), "Widget-1")
    response = _put(client, token, "Widget-1", kind, "http://example.net/v2", "Jan 15 2027")
    assert_json(
        response, 200, {"status": "success", "message": "'Widget-1' was successfully updated"}
    )
    assert "Location" not in response.headers
    body = _get(client, token, "Widget-1").get_json()
    assert_widget(
        body,
        _widget(
            "Widget-1",
            admin,
            info_url="http://example.net/v2",
            deadline="01/15/27 11:59:59 PM UTC",
            time_remaining="228 days 11 hours 59 minutes 59 seconds",
        ),
    )
    assert _stored(db, "Widget-1").deadline == datetime(2027, 1, 15, 23, 59, 59, tzinfo=UTC)
    assert _count(db) == 1


@pytest.mark.parametrize("kind", BODY_KINDS)
def test_put_absent_name_creates_the_widget(client, db, admin, time_machine, kind):
    token = _login(client, time_machine)
    assert_created(_put(client, token, "New_Widget", kind), "New_Widget")
    response = _get(client, token, "new_widget")
    assert response.status_code == 200
    assert_widget(response.get_json(), _widget("New_Widget", admin))
    assert _count(db) == 1


@pytest.mark.parametrize("kind", ["json", "form"])
@pytest.mark.parametrize(
    "field, value",
    [
        ("info_url", "ftp://x"),
        ("info_url", "not a url"),
        ("info_url", "https://example.com/" + "a" * 236),
        ("deadline", "2026-05-31"),
        ("deadline", "not a date"),
    ],
)
def test_put_invalid_field_changes_nothing(client, db, admin, time_machine, field, value, kind):
    token = _login(client, time_machine)
    assert_created(_create(client, token), "Widget-1")
    assert_invalid(_put(client, token, "Widget-1", kind, **{field: value}), field)
    assert_invalid(_put(client, token, "Other", kind, **{field: value}), field)
    assert_widget(_get(client, token, "Widget-1").get_json(), _widget("Widget-1", admin))
    assert _count(db) == 1


@pytest.mark.parametrize("field", ["info_url", "deadline"])
def test_put_missing_field(client, db, admin, time_machine, field):
    token = _login(client, time_machine)
    assert_created(_create(client, token), "Widget-1")
    assert_invalid(_put(client, token, "Widget-1", **{field: None}), field)
    assert_widget(_get(client, token, "Widget-1").get_json(), _widget("Widget-1", admin))


@pytest.mark.parametrize("name", ["café", "a b", "a" * 101, "a.b", "١٢٣", "a\x00b", "\x00"])
def test_put_bad_name_in_path(client, db, admin, time_machine, name):
    token = _login(client, time_machine)
    assert_invalid(_put(client, token, name), "name")
    assert _count(db) == 0


# --- DELETE ----------------------------------------------------------------------------


def test_delete(client, db, admin, time_machine):
    token = _login(client, time_machine)
    assert_created(_create(client, token), "Widget-1")
    response = _delete(client, token, "Widget-1")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_not_found(_get(client, token, "Widget-1"), "Widget-1")
    assert_not_found(_delete(client, token, "Widget-1"), "Widget-1")
    assert _count(db) == 0
    # The name is free again.
    assert_created(_create(client, token, name="WIDGET-1"), "WIDGET-1")


def test_delete_unknown_widget(client, db, admin, time_machine):
    token = _login(client, time_machine)
    assert_not_found(_delete(client, token, "never-there"), "never-there")


# --- 401 and 403 -----------------------------------------------------------------------

ROUTES = [
    ("GET", "api.widget_list"),
    ("POST", "api.widget_list"),
    ("GET", "api.widget"),
    ("PUT", "api.widget"),
    ("DELETE", "api.widget"),
]
ROUTE_IDS = [f"{method} {endpoint}" for method, endpoint in ROUTES]


def _request(client, method, endpoint, headers, fields=None, kind="json", **open_kwargs):
    values = {"name": "Widget-1"} if endpoint == "api.widget" else {}
    body = _body(fields, kind) if fields is not None else {}
    return client.open(
        url_for(endpoint, **values), method=method, headers=headers, **body, **open_kwargs
    )


def _valid_fields(method, endpoint):
    if method == "POST":
        return _fields(name="Widget-2", info_url="https://example.org/changed")
    if method == "PUT":
        return {"info_url": "https://example.org/changed", "deadline": "2027-01-01"}
    return None


@pytest.mark.parametrize("method, endpoint", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    "credentials, message",
    [
        ("none", None),
        ("basic", None),
        ("empty bearer", None),
        ("malformed", TOKEN_INVALID),
        ("bad signature", TOKEN_INVALID),
        ("expired", TOKEN_EXPIRED),
        ("logged out", TOKEN_BLACKLISTED),
    ],
)
def test_refused_without_a_valid_token(
    client, db, admin, time_machine, method, endpoint, credentials, message
):
    token = _login(client, time_machine)
    assert_created(_create(client, token), "Widget-1")
    if credentials == "none":
        headers = {}
    elif credentials == "basic":
        headers = {"Authorization": "Basic YWRtaW46cGFzc3dvcmQ="}
    elif credentials == "empty bearer":
        headers = {"Authorization": "Bearer "}
    elif credentials == "malformed":
        headers = bearer("x.y.z")
    elif credentials == "bad signature":
        head, claims, signature = token.split(".")
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        headers = bearer(f"{head}.{claims}.{flipped}")
    elif credentials == "expired":
        time_machine.move_to(NOW + timedelta(seconds=6), tick=False)
        headers = bearer(token)
    else:
        assert logout_user(client, token).status_code == 200
        headers = bearer(token)
    response = _request(client, method, endpoint, headers, _valid_fields(method, endpoint))
    assert_unauthorized(response, message)
    # Nothing was changed.
    assert _count(db) == 1
    widget = _stored(db, "Widget-1")
    assert widget.info_url == INFO_URL
    assert widget.deadline == DEADLINE_STORED


def test_regular_user_reads(client, db, admin, user, time_machine):
    token = _login(client, time_machine)
    assert_created(_create(client, token), "Widget-1")
    token = _login(client, time_machine, email=EMAIL)
    response = _get(client, token, "widget-1")
    assert response.status_code == 200
    assert_widget(response.get_json(), _widget("Widget-1", admin))
    response = _list(client, token)
    assert response.status_code == 200
    assert response.headers["Total-Count"] == "1"
    body = response.get_json()
    assert body["total_items"] == 1
    assert [item["name"] for item in body["items"]] == ["Widget-1"]
    assert_not_found(_get(client, token, "nope"), "nope")


@pytest.mark.parametrize(
    "method, endpoint", [r for r in ROUTES if r[0] != "GET"], ids=ROUTE_IDS[1:2] + ROUTE_IDS[3:]
)
@pytest.mark.parametrize(
    "body",
    ["valid", "invalid fields", "malformed json", "text/plain", "none"],
)
def test_regular_user_refused_before_the_body(
    client, db, admin, user, time_machine, method, endpoint, body
):
    token = _login(client, time_machine)
    assert_created(_create(client, token), "Widget-1")
    token = _login(client, time_machine, email=EMAIL)
    headers = bearer(token)
    if body == "valid":
        response = _request(client, method, endpoint, headers, _valid_fields(method, endpoint))
    elif body == "invalid fields":
        bad = {"name": "café", "info_url": "ftp://x", "deadline": "not a date"}
        response = _request(client, method, endpoint, headers, bad)
    elif body == "malformed json":
        response = _request(
            client, method, endpoint, headers, data='{"name": ', content_type="application/json"
        )
    elif body == "text/plain":
        response = _request(
            client, method, endpoint, headers, data="name=x", content_type="text/plain"
        )
    else:
        response = _request(client, method, endpoint, headers)
    assert_forbidden(response)
    assert _count(db) == 1
    widget = _stored(db, "Widget-1")
    assert widget.info_url == INFO_URL
    assert widget.deadline == DEADLINE_STORED


def test_regular_user_cannot_put_a_new_widget(client, db, user, time_machine):
    token = _login(client, time_machine, email=EMAIL)
    assert_forbidden(_put(client, token, "Fresh"))
    assert_forbidden(_put(client, token, "café"))
    assert _count(db) == 0


def test_demoted_admin_refused_at_once(client, db, admin, time_machine):
    token = _login(client, time_machine)
    assert_created(_create(client, token), "Widget-1")
    admin.admin = False
    db.session.commit()
    assert_forbidden(_create(client, token, name="Widget-2"))
    assert_forbidden(_put(client, token, "Widget-1", info_url="https://example.org/changed"))
    assert_forbidden(_delete(client, token, "Widget-1"))
    assert _count(db) == 1
    assert _stored(db, "Widget-1").info_url == INFO_URL
    # Reading stays open to every user.
    assert _get(client, token, "Widget-1").status_code == 200


def test_promoted_user_accepted_at_once(client, db, user, time_machine):
    token = _login(client, time_machine, email=EMAIL)
    assert_forbidden(_create(client, token))
    user.admin = True
    db.session.commit()
    assert_created(_create(client, token), "Widget-1")
    response = _get(client, token, "Widget-1")
    assert_widget(response.get_json(), _widget("Widget-1", user))
    assert _stored(db, "Widget-1").owner.email == EMAIL


# --- pagination ------------------------------------------------------------------------

# Created in this order, one second apart: neither alphabetical nor reversed.
PAGE_NAMES = [f"w{n:02d}" for n in (7, 3, 11, 0, 9, 1, 5, 10, 2, 8, 4, 6)]
LISTED_AT = NOW + timedelta(seconds=len(PAGE_NAMES))
REMAINING_AT_LISTED = "213 days 11 hours 59 minutes 47 seconds"
LINK_ENTRY = re.compile(r'\s*<([^<>]*)>\s*;\s*rel="([a-z]+)"\s*')


def _create_page_widgets(client, time_machine):
    for index, name in enumerate(PAGE_NAMES):
        token = _login(client, time_machine, when=NOW + timedelta(seconds=index))
        assert_created(_create(client, token, name=name), name)


def _link(page, per_page):
    return f"{BASE}?page={page}&per_page={per_page}"


def _path_and_query(link):
    """Return a link's path and its query as a sorted tuple; it must be a path, no host."""
    parts = urlsplit(link)
    assert not parts.scheme and not parts.netloc, link
    return parts.path, tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))


def _parse_link_header(value):
    """Return the set of (path and query, rel) of an RFC 8288 Link header."""
    entries = set()
    for part in value.split(","):
        match = LINK_ENTRY.fullmatch(part)
        assert match, value
        entries.add((_path_and_query(match[1]), match[2]))
    return entries


def assert_page(response, page, per_page, total, names, admin):
    """Check a whole page: body, links, Link and Total-Count."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type == "application/json"
    body = response.get_json()
    total_pages = -(-total // per_page)
    last = max(total_pages, 1)
    links = {"self": _link(page, per_page), "first": _link(1, per_page)}
    if page > 1:
        links["prev"] = _link(page - 1, per_page)
    if page < total_pages:
        links["next"] = _link(page + 1, per_page)
    links["last"] = _link(last, per_page)
    assert set(body) == {
        "links",
        "has_prev",
        "has_next",
        "page",
        "total_pages",
        "items_per_page",
        "total_items",
        "items",
    }
    assert set(body["links"]) == set(links)
    assert {rel: _path_and_query(link) for rel, link in body["links"].items()} == {
        rel: _path_and_query(link) for rel, link in links.items()
    }
    assert body["has_prev"] is (page > 1)
    assert body["has_next"] is (page < total_pages)
    assert body["page"] == page
    if total:
        assert body["total_pages"] == total_pages
    else:
        # The contract fixes only the last link (page=1) for an empty table.
        assert body["total_pages"] in (0, 1)
    assert body["items_per_page"] == per_page
    assert body["total_items"] == total
    assert [item["name"] for item in body["items"]] == names
    for item in body["items"]:
        created = NOW + timedelta(seconds=PAGE_NAMES.index(item["name"]))
        expected = _widget(
            item["name"], admin, created_at=created, time_remaining=REMAINING_AT_LISTED
        )
        assert_widget(item, expected, created_at=created)
    assert _parse_link_header(response.headers["Link"]) == {
        (_path_and_query(link), rel) for rel, link in links.items()
    }
    assert response.headers["Total-Count"] == str(total)


@pytest.mark.parametrize(
    "page, names",
    [
        (1, PAGE_NAMES[0:5]),
        (2, PAGE_NAMES[5:10]),
        (3, PAGE_NAMES[10:12]),
        (4, []),
        (99, []),
        (2**63, []),
        (10**30, []),
    ],
    ids=["first", "middle", "last", "just past the end", "far past the end", "2**63", "10**30"],
)
def test_pages(client, admin, time_machine, page, names):
    _create_page_widgets(client, time_machine)
    token = _login(client, time_machine, when=LISTED_AT)
    response = _list(client, token, page=page, per_page=5)
    assert_page(response, page, 5, len(PAGE_NAMES), names, admin)


def test_page_defaults(client, admin, user, time_machine):
    _create_page_widgets(client, time_machine)
    token = _login(client, time_machine, when=LISTED_AT, email=EMAIL)
    assert_page(_list(client, token), 1, 10, len(PAGE_NAMES), PAGE_NAMES[:10], admin)
    assert_page(_list(client, token, page=2), 2, 10, len(PAGE_NAMES), PAGE_NAMES[10:], admin)


@pytest.mark.parametrize("per_page", [5, 10, 25, 50, 100])
def test_allowed_page_sizes(client, admin, time_machine, per_page):
    _create_page_widgets(client, time_machine)
    token = _login(client, time_machine, when=LISTED_AT)
    response = _list(client, token, page=1, per_page=per_page)
    assert_page(response, 1, per_page, len(PAGE_NAMES), PAGE_NAMES[:per_page], admin)


@pytest.mark.parametrize("page", [1, 2])
def test_empty_table(client, admin, time_machine, page):
    token = _login(client, time_machine)
    assert_page(_list(client, token, page=page, per_page=5), page, 5, 0, [], admin)
    assert_page(_list(client, token), 1, 10, 0, [], admin)


@pytest.mark.parametrize(
    "query, field",
    [
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "x"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": ""}, "page"),
        ({"per_page": 7}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": "x"}, "per_page"),
        ({"per_page": 1000}, "per_page"),
        ({"per_page": -5}, "per_page"),
        ({"page": 2, "per_page": 7}, "per_page"),
    ],
)
def test_bad_page_query(client, admin, user, time_machine, query, field):
    token = _login(client, time_machine, email=EMAIL)
    response = _list(client, token, **query)
    assert_invalid(response, field)
    assert "Link" not in response.headers


@pytest.mark.parametrize(
    "credentials, message",
    [
        ("none", None),
        ("logged out", TOKEN_BLACKLISTED),
        ("logged out everywhere", TOKEN_BLACKLISTED),
        ("account gone", TOKEN_INVALID),
    ],
)
@pytest.mark.parametrize(
    "query", [{}, {"page": 2, "per_page": 5}, {"page": 99}, {"page": 0}, {"per_page": 7}]
)
def test_page_is_never_answered_to_a_refused_token(
    client, db, admin, user, time_machine, credentials, message, query
):
    """A refused token gets its 401 alone: not the page, not its headers, not a 400."""
    _create_page_widgets(client, time_machine)
    token = _login(client, time_machine, when=LISTED_AT, email=EMAIL)
    headers = bearer(token)
    if credentials == "none":
        headers = {}
    elif credentials == "logged out":
        assert logout_user(client, token).status_code == 200
    elif credentials == "logged out everywhere":
        assert logout_all(client, token).status_code == 200
    else:
        with db.engine.begin() as connection:
            connection.exec_driver_sql(f"DELETE FROM site_user WHERE id = {user.id}")
    response = client.get(url_for("api.widget_list", **query), headers=headers)
    assert_unauthorized(response, message)
    assert "Link" not in response.headers
    assert "Total-Count" not in response.headers


@pytest.mark.parametrize(
    "query, page, per_page",
    [
        ("page=2&page=3", 2, 10),
        ("per_page=5&per_page=25", 1, 5),
        ("page=2&per_page=5&page=1", 2, 5),
    ],
)
def test_repeated_page_arguments_take_the_first(
    client, admin, time_machine, query, page, per_page
):
    _create_page_widgets(client, time_machine)
    token = _login(client, time_machine, when=LISTED_AT)
    response = client.get(f"{url_for('api.widget_list')}?{query}", headers=bearer(token))
    start = (page - 1) * per_page
    assert_page(
        response, page, per_page, len(PAGE_NAMES), PAGE_NAMES[start : start + per_page], admin
    )


@pytest.mark.parametrize(
    "query, field",
    [("page=2&page=x", "page"), ("page=x&page=2", "page"), ("per_page=5&per_page=7", "per_page")],
)
def test_any_bad_repeated_page_argument_is_400(client, admin, time_machine, query, field):
    token = _login(client, time_machine)
    response = client.get(f"{url_for('api.widget_list')}?{query}", headers=bearer(token))
    assert_invalid(response, field)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", (1, 10)),
        ("page=1", (1, 10)),
        ("page=2&per_page=5", (2, 5)),
        ("page=2&page=3", (2, 10)),
        ("page=2&page=x", "page"),
        ("page=x&page=2", "page"),
        ("page=%202", (2, 10)),
        ("page=2%20", (2, 10)),
        ("page=+2", (2, 10)),  # "+" is a space in a query string
        ("page=02", "page"),
        ("page=%EF%BC%92", "page"),  # a fullwidth 2, which int() reads as 2
        ("page=1e3", "page"),
        ("page=", "page"),
        ("page", "page"),
        ("page=-0", "page"),
        ("PAGE=0", (1, 10)),
        ("page=99999999999999999999999", (99999999999999999999999, 10)),
        ("per_page=10&per_page=5", (1, 10)),
        ("per_page=10&per_page=7", "per_page"),
        ("per_page=05", "per_page"),
        ("per_page=100&page=3&unknown=1", (3, 100)),
    ],
)
def test_page_arguments_as_the_documented_parser_reads_them(
    client, admin, time_machine, query, expected
):
    """A valid token gets its page, or a 400 naming the argument (pagination_reqparser)."""
    token = _login(client, time_machine)
    response = client.get(f"{url_for('api.widget_list')}?{query}", headers=bearer(token))
    if isinstance(expected, str):
        assert_invalid(response, expected)
        return
    page, per_page = expected
    assert_page(response, page, per_page, 0, [], admin)


# --- concurrency -----------------------------------------------------------------------

THREADS = 8
# One name in eight spellings (none that a copy's renaming would change).
MIXED_CASE_NAMES = [
    "Race-Name",
    "race-name",
    "RACE-NAME",
    "Race-name",
    "race-Name",
    "rACE-nAME",
    "RaCe-NaMe",
    "rAcE-nAmE",
]


@pytest.mark.parametrize("spelling", ["same", "mixed case"])
def test_same_name_created_at_once(app, client, db, admin, time_machine, spelling):
    token = _login(client, time_machine)
    path = url_for("api.widget_list")  # the threads have no request context
    names = ["Race-Name"] * THREADS if spelling == "same" else MIXED_CASE_NAMES

    def send(name):
        return lambda: app.test_client().post(path, json=_fields(name=name), headers=bearer(token))

    responses = release_together([send(name) for name in names])
    assert_one_wins(responses, 201, 409)
    for name, response in zip(names, responses, strict=True):
        if response.status_code == 201:
            assert response.get_json() == {
                "status": "success",
                "message": f"New widget added: {name}.",
            }
        else:
            assert response.get_json() == {
                "status": "fail",
                "message": f"Widget name: {name} already exists, must be unique.",
            }
    assert _count(db) == 1


def test_owner_is_null_once_the_admins_account_is_gone(client, db, admin, user, time_machine):
    """The widget outlives its owner's account (nothing is lost); its owner reads null."""
    token = _login(client, time_machine)
    assert _create(client, token, name="orphan").status_code == 201
    db.session.delete(admin)
    db.session.commit()
    reader = _login(client, time_machine, email=EMAIL)
    response = client.get(url_for("api.widget", name="orphan"), headers=bearer(reader))
    assert response.status_code == 200
    assert response.get_json()["owner"] is None
    assert response.get_json()["name"] == "orphan"


def test_create_by_an_admin_deleted_meanwhile_is_401_not_409(
    app, client, db, admin, time_machine, monkeypatch
):
    """The owner's row vanishes between the token check and the insert: 401, nothing stored."""
    from flask_api_tutorial.api.auth import decorators

    token = _login(client, time_machine)
    check = decorators._check_access_token

    def check_then_delete_the_admin():
        user = check()
        with db.engine.begin() as connection:
            connection.exec_driver_sql(f"DELETE FROM site_user WHERE id = {user.id}")
        return user

    monkeypatch.setattr(decorators, "_check_access_token", check_then_delete_the_admin)
    response = _create(client, token, name="ownerless")
    assert_unauthorized(response, TOKEN_INVALID)
    assert db.session.scalar(db.select(db.func.count(Widget.id))) == 0


def test_links_carry_the_public_base_urls_prefix(database, time_machine):
    """Behind a proxy that serves the API under a path, PUBLIC_BASE_URL says so."""
    base = "https://api.example.com/tutorial"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database, "PUBLIC_BASE_URL": base})
    with app.app_context():
        add_user(email=ADMIN_EMAIL, admin=True)
        client = app.test_client()
        time_machine.move_to(NOW, tick=False)
        login = client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD}
        )
        headers = bearer(login.get_json()["access_token"])
        created = client.post(BASE, json=_fields(name="prefixed"), headers=headers)
        listed = client.get(f"{BASE}?page=1&per_page=5", headers=headers)
        dispose_engines()
    assert created.headers["Location"] == f"{base}{BASE}/prefixed"
    assert listed.get_json()["links"]["self"] == f"/tutorial{BASE}?page=1&per_page=5"
    assert listed.get_json()["items"][0]["link"] == f"/tutorial{BASE}/prefixed"
    assert listed.headers["Link"].startswith(f"</tutorial{BASE}?page=1&per_page=5>;")
