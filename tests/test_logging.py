"""Request ids and the logs: X-Request-ID on every response, and in every line of its request.

The audit and app loggers' handlers are process-wide, made by the first create_app
and reformatted by each later one; they keep the stderr they were made with, which
capsys and capfd do not see, so ``log_lines`` swaps their stream for a buffer.
"""

import contextlib
import io
import json
import logging
import re
import socket
import threading
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import requests
from flask import url_for
from limits.errors import StorageError
from sqlalchemy.exc import OperationalError

from flask_api_tutorial import create_app, limiter
from flask_api_tutorial import db as _db
from flask_api_tutorial.audit import AUDIT_LOGGER
from flask_api_tutorial.config import ConfigError
from flask_api_tutorial.database import dispose_engines
from flask_api_tutorial.models import User
from flask_api_tutorial.models.token_blacklist import BlacklistedToken
from tests.support.databases import NO_DATABASE
from tests.support.paths import API, AUTH_LOGIN, AUTH_LOGOUT, AUTH_REGISTER, AUTH_USER
from tests.support.servers import GunicornServer
from tests.util import (
    ADMIN_EMAIL,
    EMAIL,
    PASSWORD,
    bearer,
    change_password,
    get_user,
    login_user,
    logout_user,
    refresh_tokens,
    register_user,
)

APP_LOGGER = "flask_api_tutorial"
HEADER = "X-Request-ID"
FIRST_KEYS = ["time", "level", "event", "request_id"]
SECOND_EMAIL = "second@example.com"
SECRET = "S3cret-passw0rd!"
NEW_SECRET = "N3w-s3cret-passw0rd!"
WIDGET = {"info_url": "https://example.com/w", "deadline": "2099-12-31"}
TEXT_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


def _fresh_id(value):
    """Check that ``value`` is an id the app made (a uuid4 in hex) and return it."""
    assert value is not None, "no X-Request-ID"
    assert re.fullmatch(r"[0-9a-f]{32}", value), value
    assert uuid.UUID(value).version == 4
    return value


@contextlib.contextmanager
def _written_log():
    """Yield a function returning the lines the audit and app loggers' handlers wrote."""
    buffer = io.StringIO()
    handlers = [
        handler
        for name in (AUDIT_LOGGER, APP_LOGGER)
        for handler in logging.getLogger(name).handlers
        if isinstance(handler, logging.StreamHandler)
    ]
    assert handlers, "create_app gives each logger a stderr handler"
    previous = [handler.setStream(buffer) for handler in handlers]
    try:
        yield lambda: buffer.getvalue().splitlines()
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


@pytest.fixture
def log_lines(app):
    """Return a function giving the log lines written so far in this test."""
    with _written_log() as lines:
        yield lines


@pytest.fixture
def make_app(app):
    """Return a factory of apps on the ``app`` fixture's database, with other settings.

    The handlers take the format of the newest app: a default one is made at the
    end, so that the tests after this one log as text again.
    """
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    made = []

    def factory(**settings):
        made.append(create_app("testing", {"SQLALCHEMY_DATABASE_URI": url, **settings}))
        return made[-1]

    yield factory
    for other in made:
        with other.app_context():
            dispose_engines()
    create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})


def _json_lines(lines):
    """Parse every line as one JSON object with the four keys first, and return them."""
    entries = []
    for line in lines:
        entry = json.loads(line)
        assert list(entry)[:4] == FIRST_KEYS, line
        logged_at = datetime.fromisoformat(entry["time"])
        assert logged_at.utcoffset() == timedelta(0), line
        assert abs(datetime.now(timezone.utc) - logged_at) < timedelta(minutes=5), line
        entries.append(entry)
    return entries


def _audit_text_lines(lines):
    return [line for line in lines if re.match(f"{TEXT_TIME} audit ", line)]


# Every kind of response carries a fresh id.


@pytest.fixture
def tokens(client, user, admin):
    """Return the access tokens of ``user`` and ``admin``."""
    return SimpleNamespace(
        user=login_user(client).get_json()["access_token"],
        admin=login_user(client, email=ADMIN_EMAIL).get_json()["access_token"],
    )


def _new_widget_deleted(client, tokens):
    path = url_for("api.widget", name=f"w{uuid.uuid4().hex}")
    assert client.put(path, json=WIDGET, headers=bearer(tokens.admin)).status_code == 201
    return client.delete(path, headers=bearer(tokens.admin))


def _login_raising(client, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr("flask_api_tutorial.api.auth.endpoints.process_login_request", broken)
    return login_user(client)


def _login_losing_the_database(client, monkeypatch):
    def lost(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr("flask_api_tutorial.models.User.find_by_email", lost)
    return login_user(client)


RESPONSES = {
    "200 login": (200, lambda client, tokens, mp: login_user(client)),
    "200 user": (200, lambda client, tokens, mp: get_user(client, tokens.user)),
    "201 register": (
        201,
        lambda client, tokens, mp: register_user(client, email=f"{uuid.uuid4().hex}@example.com"),
    ),
    "204 delete": (204, lambda client, tokens, mp: _new_widget_deleted(client, tokens)),
    "204 options": (204, lambda client, tokens, mp: client.options(url_for("api.auth_login"))),
    "400 invalid email": (
        400,
        lambda client, tokens, mp: register_user(client, email="not-an-email"),
    ),
    "401 no token": (401, lambda client, tokens, mp: client.get(url_for("api.auth_user"))),
    "401 refused token": (401, lambda client, tokens, mp: get_user(client, "not.a.token")),
    "403 not admin": (
        403,
        lambda client, tokens, mp: client.post(
            url_for("api.widget_list"), json=WIDGET, headers=bearer(tokens.user)
        ),
    ),
    "404 unknown route": (404, lambda client, tokens, mp: client.get("/api/v1/nothing")),
    "405 wrong method": (405, lambda client, tokens, mp: client.get(url_for("api.auth_login"))),
    "409 registered": (409, lambda client, tokens, mp: register_user(client)),
    "413 too large": (
        413,
        lambda client, tokens, mp: client.post(
            url_for("api.auth_login"), json={"email": EMAIL, "password": "a" * 70_000}
        ),
    ),
    "415 content type": (
        415,
        lambda client, tokens, mp: client.post(
            url_for("api.auth_login"), data="x", content_type="text/plain"
        ),
    ),
    "500 unexpected": (500, lambda client, tokens, mp: _login_raising(client, mp)),
    "503 database lost": (503, lambda client, tokens, mp: _login_losing_the_database(client, mp)),
}


@pytest.mark.parametrize(("status", "send"), RESPONSES.values(), ids=RESPONSES.keys())
def test_every_response_carries_a_fresh_request_id(client, tokens, monkeypatch, status, send):
    responses = [send(client, tokens, monkeypatch) for _ in range(2)]
    assert [response.status_code for response in responses] == [status, status]
    first, second = (_fresh_id(response.headers.get(HEADER)) for response in responses)
    assert first != second


def test_rate_limit_answers_carry_a_request_id(make_app, user, monkeypatch):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_ADDRESS="1 per minute")
    limiter.reset()
    client = limited.test_client()
    allowed, refused = login_user(client), login_user(client)
    assert (allowed.status_code, refused.status_code) == (200, 429)

    def unreachable(*args, **kwargs):
        raise StorageError(ConnectionError("Redis went away"))

    monkeypatch.setattr(limiter.limiter, "hit", unreachable)
    down = login_user(client)
    assert down.status_code == 503
    ids = [_fresh_id(response.headers.get(HEADER)) for response in (allowed, refused, down)]
    assert len(set(ids)) == 3


def test_counts_lost_after_the_answer_503_carries_the_request_id(
    make_app, user, log_lines, monkeypatch
):
    # As in production: Flask answers what an after_request hook raises, not re-raises it.
    limited = make_app(RATELIMIT_ENABLED=True, PROPAGATE_EXCEPTIONS=False)
    limiter.reset()
    original_hit = limiter.limiter.hit

    def hit(item, *identifiers, cost=1):
        if identifiers[-1].endswith(":login-account"):  # only the count after the answer
            raise StorageError(ConnectionError("Redis went away"))
        return original_hit(item, *identifiers, cost=cost)

    monkeypatch.setattr(limiter.limiter, "hit", hit)
    response = login_user(limited.test_client(), password="wrong-password")
    assert response.status_code == 503
    (error_line,) = [line for line in log_lines() if " ERROR in " in line]
    logged_id = re.search(r"request_id=([0-9a-f]{32}): ", error_line).group(1)
    assert response.headers.get(HEADER) == logged_id


# An incoming X-Request-ID: kept only from a trusted proxy, and only when valid.

VALID_IDS = ["abc-123", "A.b_c-9", "0af7651916cd43dd8448eb211c80319c", "x" * 128]
INVALID_IDS = {
    "129 characters": "x" * 129,
    "space": "abc def",
    "newline": "abc\nevent=login",
    "crlf": "abc\r\nSet-Cookie: a=b",
    "unicode": "idé-1",
    "semicolon": "abc;def",
    "empty": "",
}


@pytest.mark.parametrize(
    ("trusted_proxies", "incoming", "kept"),
    [
        *[pytest.param(0, value, False, id=f"untrusted-{value[:12]}") for value in VALID_IDS],
        *[pytest.param(1, value, True, id=f"trusted-{value[:12]}") for value in VALID_IDS],
        *[
            pytest.param(1, value, False, id=f"invalid-{name}")
            for name, value in INVALID_IDS.items()
        ],
    ],
)
def test_incoming_request_id(make_app, log_lines, trusted_proxies, incoming, kept):
    proxied = make_app(TRUSTED_PROXY_COUNT=trusted_proxies)
    response = proxied.test_client().get(
        url_for("api.auth_user"),
        headers=bearer("not.a.token"),
        # Straight into the WSGI environ: the test client refuses newlines in headers.
        environ_base={"HTTP_X_REQUEST_ID": incoming},
    )
    assert response.status_code == 401
    sent = response.headers[HEADER]
    if kept:
        assert sent == incoming
    else:
        assert _fresh_id(sent) != incoming
    (line,) = _audit_text_lines(log_lines())
    assert line.endswith(
        f" event=token_rejected reason=invalid public_id=- ip=127.0.0.1 request_id={sent}"
    )


# Log lines carry the id of the response: text (the default) and JSON.


def test_text_audit_line_ends_with_the_response_id(client, user, log_lines):
    response = login_user(client)
    request_id = _fresh_id(response.headers[HEADER])
    (line,) = _audit_text_lines(log_lines())
    assert re.fullmatch(
        f"{TEXT_TIME} audit event=login email={re.escape(EMAIL)} "
        rf"public_id={user.public_id} session=[0-9a-f-]{{36}} ip=127\.0\.0\.1 "
        f"request_id={request_id}",
        line,
    ), line


def _failing_request(failing_app, where, monkeypatch):
    """Send a request that fails with a RuntimeError in an API route or a plain Flask one."""
    if where == "api":
        return _login_raising(failing_app.test_client(), monkeypatch)

    def broken():
        raise RuntimeError("unexpected")

    failing_app.add_url_rule("/broken", "broken", broken)
    return failing_app.test_client().get("/broken")


@pytest.mark.parametrize("where", ["api", "flask"])
def test_text_error_line_carries_the_response_id(make_app, log_lines, monkeypatch, where):
    response = _failing_request(make_app(), where, monkeypatch)
    assert response.status_code == 500
    request_id = _fresh_id(response.headers[HEADER])
    lines = log_lines()
    (error_line,) = [line for line in lines if " ERROR in " in line]
    assert re.fullmatch(
        rf"\[{TEXT_TIME}\] ERROR in \w+ request_id={request_id}: .*", error_line
    ), error_line
    # The traceback follows it.
    traceback = lines[lines.index(error_line) + 1 :]
    assert traceback[0] == "Traceback (most recent call last):"
    assert "RuntimeError: unexpected" in traceback


@pytest.mark.parametrize("where", ["api", "flask"])
def test_json_error_line_carries_the_response_id(make_app, log_lines, monkeypatch, where):
    response = _failing_request(make_app(LOG_FORMAT="json"), where, monkeypatch)
    assert response.status_code == 500
    request_id = _fresh_id(response.headers[HEADER])
    (entry,) = [entry for entry in _json_lines(log_lines()) if entry["event"] == "error"]
    assert entry["level"] == "error"
    assert entry["request_id"] == request_id
    assert entry["logger"] == APP_LOGGER
    assert response.request.path in entry["message"]
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("RuntimeError: unexpected")


def test_lines_outside_a_request_have_no_request_id(make_app, log_lines):
    json_app = make_app(LOG_FORMAT="json")
    # A thread of its own: pytest-flask keeps a request context pushed in this one.
    thread = threading.Thread(target=json_app.logger.error, args=("outside",))
    thread.start()
    thread.join()
    (entry,) = _json_lines(log_lines())
    assert entry["request_id"] is None
    assert (entry["event"], entry["message"]) == ("error", "outside")


# No secret in any line, in-process and served; the served JSON and access lines.


def _forbidden(passwords, token_bodies, hashes):
    """Return what no log line may contain: passwords, tokens and hashes, or their parts.

    A token's parts are its header, claims and signature; a bcrypt hash's
    ($2b$<cost>$<salt><checksum>) are its salt and its checksum.
    """
    tokens = [token for body in token_bodies for token in _tokens_of(body)]
    parts = [part for token in tokens for part in token.split(".")]
    hash_parts = [part for hashed in hashes for part in (hashed[7:29], hashed[29:])]
    return [*passwords, *tokens, *parts, *hashes, *hash_parts]


def _tokens_of(body):
    return [body[key] for key in ("access_token", "refresh_token") if key in body]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_password_token_or_hash_in_the_written_log(make_app, db, user, log_lines, log_format):
    client = make_app(LOG_FORMAT=log_format).test_client()
    register_user(client, email=SECOND_EMAIL, password=SECRET)
    first_hash = User.find_by_email(SECOND_EMAIL).password_hash
    login = login_user(client, email=SECOND_EMAIL, password=SECRET).get_json()
    login_user(client, email=SECOND_EMAIL, password=SECRET + "x")
    get_user(client, login["access_token"])
    refreshed = refresh_tokens(client, login["refresh_token"]).get_json()
    logout_user(client, refreshed["access_token"], refreshed["refresh_token"])
    get_user(client, refreshed["access_token"])
    again = login_user(client, email=SECOND_EMAIL, password=SECRET).get_json()
    change_password(client, again["access_token"], SECRET + "y", NEW_SECRET)
    changed = change_password(client, again["access_token"], SECRET, NEW_SECRET).get_json()
    db.session.expire_all()
    hashes = [user.password_hash, first_hash, User.find_by_email(SECOND_EMAIL).password_hash]
    assert len(set(hashes)) == 3

    lines = log_lines()
    if log_format == "json":
        events = [entry["event"] for entry in _json_lines(lines)]
    else:
        events = [re.search(r" audit event=(\w+)", line).group(1) for line in lines]
    assert events == [
        "registered",
        "login",
        "login_failed",
        "refresh",
        "logout",
        "token_rejected",
        "login",
        "password_change_failed",
        "password_changed",
    ]
    written = "\n".join(lines)
    passwords = [SECRET, SECRET + "x", SECRET + "y", NEW_SECRET, PASSWORD]
    for forbidden in _forbidden(passwords, [login, refreshed, again, changed], hashes):
        assert forbidden not in written
    assert "$2b$" not in written


def _drop_blacklist(database_url):
    """Drop the revoked-token table under a served app, so that its token check fails."""
    setup = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    with setup.app_context():
        BlacklistedToken.__table__.drop(_db.engine)
        dispose_engines()


@pytest.mark.served
def test_served_json_log_and_access_log_carry_the_response_ids(served_database, tmp_path):
    """Under gunicorn (production config): each stderr line that is JSON, and each access line."""
    access_log = tmp_path / "access.log"
    server = GunicornServer(
        served_database,
        workers=1,
        threads=2,
        LOG_FORMAT="json",
        GUNICORN_ACCESS_LOG=str(access_log),
        TZ="Asia/Kolkata",  # the lines' time is UTC whatever the server's zone
    ).start()
    responses = []

    def send(method, path, expected, **kwargs):
        response = requests.request(method, f"{server.url}{path}", timeout=30, **kwargs)
        assert response.status_code == expected, response.text
        responses.append(response)
        return response

    credentials = {"email": SECOND_EMAIL, "password": SECRET}
    try:
        send("POST", AUTH_REGISTER, 201, json=credentials)
        login = send("POST", AUTH_LOGIN, 200, json=credentials).json()
        public_id = send("GET", AUTH_USER, 200, headers=bearer(login["access_token"])).json()[
            "public_id"
        ]
        send("POST", AUTH_LOGIN, 401, json={**credentials, "password": SECRET + "x"})
        send(
            "POST",
            AUTH_LOGOUT,
            200,
            headers=bearer(login["access_token"]),
            json={"refresh_token": login["refresh_token"]},
        )
        send("GET", AUTH_USER, 401, headers=bearer(login["access_token"]))
        again = send("POST", AUTH_LOGIN, 200, json=credentials).json()
        _drop_blacklist(served_database)
        broken = requests.get(
            f"{server.url}{AUTH_USER}", headers=bearer(again["access_token"]), timeout=30
        )
        # SQLite: "no such table" is an OperationalError (503); PostgreSQL's is a 500.
        assert broken.status_code in (500, 503), broken.text
        responses.append(broken)
    finally:
        server.stop()
    ids = [_fresh_id(response.headers.get(HEADER)) for response in responses]
    assert len(set(ids)) == len(ids)
    register_id, login_id, _, failed_id, logout_id, rejected_id, again_id, broken_id = ids

    output = "".join(server.output).splitlines()
    entries = _json_lines([line for line in output if line.startswith("{")])
    # No text line left: neither an audit line nor an error line.
    assert not [line for line in output if " audit event=" in line or " ERROR in " in line]
    audit_entries = [entry for entry in entries if entry["event"] != "error"]
    assert [(entry["event"], entry["request_id"]) for entry in audit_entries] == [
        ("registered", register_id),
        ("login", login_id),
        ("login_failed", failed_id),
        ("logout", logout_id),
        ("token_rejected", rejected_id),
        ("login", again_id),
    ]
    registered, login_entry, failed, logout, rejected, _ = audit_entries
    assert all(entry["level"] == "info" and entry["ip"] == "127.0.0.1" for entry in audit_entries)
    assert (registered["email"], registered["public_id"]) == (SECOND_EMAIL, public_id)
    assert (login_entry["email"], login_entry["public_id"]) == (SECOND_EMAIL, public_id)
    assert (failed["reason"], failed["email"]) == ("wrong_password", SECOND_EMAIL)
    assert logout["public_id"] == public_id
    assert "refresh_family" in logout
    assert (rejected["reason"], rejected["public_id"]) == ("revoked", public_id)
    (error,) = [entry for entry in entries if entry["event"] == "error"]
    assert (error["level"], error["request_id"]) == ("error", broken_id)
    assert (error["logger"], AUTH_USER in error["message"]) == (APP_LOGGER, True)
    assert "token_blacklist" in error["exception"]

    access_lines = access_log.read_text().splitlines()
    assert [line.rsplit(" request_id=", 1)[1] for line in access_lines] == ids
    assert f'"GET {AUTH_USER} HTTP/1.1" {broken.status_code} ' in access_lines[-1]

    written = "\n".join([*output, *access_lines])
    with create_app("testing", {"SQLALCHEMY_DATABASE_URI": served_database}).app_context():
        hashes = list(_db.session.scalars(_db.select(User.password_hash)))
        _db.session.remove()
        dispose_engines()
    assert len(hashes) == 2
    for forbidden in _forbidden([SECRET, SECRET + "x", PASSWORD], [login, again], hashes):
        assert forbidden not in written
    assert "$2b$" not in written


# An unknown LOG_FORMAT stops start-up.


@pytest.mark.served
def test_unknown_log_format_is_refused_at_start_up(tmp_path):
    message = "LOG_FORMAT='xml' is not one of: text, json"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        create_app("testing", {"LOG_FORMAT": "xml"})
    finished = GunicornServer(NO_DATABASE, LOG_FORMAT="xml").run_refused()
    assert finished.returncode != 0
    assert f"Configuration error: {message}" in finished.stderr
    assert "Booting worker" not in finished.stderr


# No client writes a log line of its own: control characters in what a request
# brings (its path, a header, an email) are escaped in every line, both formats.

CONTROLS = "\r\n\x00\x1b\x07\x7f\x85\x9b"
FORGED = "forged-line event=login email=admin@example.com"


def _raw_request(port, text):
    """Send ``text`` (a whole HTTP request, latin-1) and return the status of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(text.encode("latin-1"))
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def _control_characters(line):
    return [char for char in line if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0]


@pytest.mark.served
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_request_writes_a_log_line_of_its_own(served_database, tmp_path, log_format):
    access_log = tmp_path / "access.log"
    server = GunicornServer(
        served_database,
        workers=1,
        threads=2,
        LOG_FORMAT=log_format,
        GUNICORN_ACCESS_LOG=str(access_log),
    ).start()
    forged_path = quote(f"x{CONTROLS}{FORGED}", safe="")
    host = f"Host: 127.0.0.1:{server.port}\r\n"
    try:
        login = requests.post(
            f"{server.url}{AUTH_LOGIN}", json={"email": EMAIL, "password": PASSWORD}, timeout=30
        )
        token = login.json()["access_token"]
        sent = [
            # In the path (percent-encoded, decoded by gunicorn), with a valid token.
            f"GET {API}/widgets/{forged_path} HTTP/1.1\r\n{host}"
            f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n",
            # In headers: gunicorn refuses C0 and DEL there (400), not C1 (obs-text).
            f"GET {AUTH_USER} HTTP/1.1\r\n{host}Authorization: Bearer {token}\r\n"
            f"User-Agent: ua\x85\x9b[2J{FORGED}\r\nReferer: http://x/\x9b0m{FORGED}\r\n"
            "Connection: close\r\n\r\n",
            f"GET {AUTH_USER} HTTP/1.1\r\n{host}User-Agent: ua\x1b[2J\x07\r\n\r\n",
        ]
        statuses = [_raw_request(server.port, text) for text in sent]
        # In an email (JSON lets it carry CR and LF).
        email = requests.post(
            f"{server.url}{AUTH_LOGIN}",
            json={"email": f"a{CONTROLS}{FORGED}@example.com", "password": PASSWORD},
            timeout=30,
        )
        # And in the path of a request that fails (Flask's "Exception on <path>").
        _drop_blacklist(served_database)
        failed = _raw_request(server.port, sent[0])
    finally:
        server.stop()
    assert statuses == [404, 200, 400]
    assert email.status_code == 400
    assert failed in (500, 503)

    access_lines = access_log.read_text().splitlines()
    # One line per request gunicorn parsed: the login, three raw requests, the email.
    assert len(access_lines) == 5
    output = "".join(server.output).splitlines()
    written = [*access_lines, *output]
    assert not [line for line in written if _control_characters(line)]
    assert not [line for line in written if line.startswith(FORGED)]
    # Found by content: two threads may write their lines in either order.
    path_lines = [line for line in access_lines if f"{API}/widgets/" in line]
    assert len(path_lines) == 2
    assert all(f"{API}/widgets/x\\x0d\\x0a\\x00\\x1b\\x07\\x7f" in line for line in path_lines)
    (agent_line,) = [line for line in access_lines if '"ua\\x' in line]
    assert f'"ua\\x85\\x9b[2J{FORGED}"' in agent_line
    if log_format == "text":
        (exception_line,) = [line for line in output if "Exception on " in line]
        assert "x\\x0d\\x0a\\x00\\x1b\\x07\\x7f" in exception_line
    else:
        errors = [entry for entry in _json_lines(line for line in output if line[:1] == "{")]
        (exception,) = [entry for entry in errors if "Exception on " in entry.get("message", "")]
        assert f"x{CONTROLS[:3]}" in exception["message"]  # JSON escapes it in the line
