"""What only shows under gunicorn: start-up checks, the access log, chunked bodies."""

import http.client
import json

import pytest

from flask_api_tutorial import create_app
from flask_api_tutorial import db as _db
from flask_api_tutorial.database import dispose_engines
from tests.support import databases
from tests.support.databases import NO_DATABASE
from tests.support.paths import API, AUTH_LOGIN, AUTH_REGISTER, HEALTH
from tests.support.servers import GunicornServer
from tests.util import EMAIL, PASSWORD, add_user

WIDGETS = f"{API}/widgets"

pytestmark = [pytest.mark.served]


@pytest.fixture(scope="module")
def server(migrated_template, tmp_path_factory):
    """Return one gunicorn instance for this module's tests that only send requests.

    Its own database (SQLite: this module is not a PostgreSQL one) holds EMAIL with
    PASSWORD, an administrator; each test writes rows of its own names only.
    """
    path = tmp_path_factory.mktemp("served") / "test.db"
    url = databases.migrated_sqlite_copy(migrated_template, path)
    with create_app("testing", {"SQLALCHEMY_DATABASE_URI": url}).app_context():
        add_user(admin=True)
        _db.session.remove()
        dispose_engines()
    server = GunicornServer(url, workers=1, threads=2).start()
    yield server
    server.stop()


def _emails(server):
    """Return the emails registered in ``server``'s database."""
    url = server.env["DATABASE_URL"]
    with create_app("testing", {"SQLALCHEMY_DATABASE_URI": url}).app_context():
        emails = _db.session.scalars(_db.text("SELECT email FROM site_user")).all()
        _db.session.remove()
        dispose_engines()
    return emails


@pytest.mark.parametrize(
    ("secret_key", "message"),
    [
        ("", "SECRET_KEY must be set in production"),
        ("too-short", "SECRET_KEY must be at least 32 bytes in production"),
    ],
)
def test_refused_configuration_stops_gunicorn(tmp_path, secret_key, message):
    """Item 12: before, workers crash-looped while the port stayed open."""
    finished = GunicornServer(NO_DATABASE, SECRET_KEY=secret_key).run_refused()
    assert finished.returncode != 0
    assert f"Configuration error: {message}" in finished.stderr


def test_memory_counts_with_several_workers_are_warned_about(served_database):
    server = GunicornServer(
        served_database, workers=2, RATELIMIT_ENABLED="true", RATELIMIT_STORAGE_URI="memory://"
    ).start()
    server.stop()
    log = "".join(server.output)
    assert "RATELIMIT_STORAGE_URI=memory:// counts per process: with 2 workers" in log


def test_access_log_has_no_query_string(served_database, tmp_path):
    """Item 13: a password wrongly put in a URL must not reach the log."""
    access_log = tmp_path / "access.log"
    server = GunicornServer(served_database, GUNICORN_ACCESS_LOG=str(access_log)).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", f"{HEALTH}?email=a@b.io&password=hunter2-secret")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        server.stop()
    lines = access_log.read_text().splitlines()
    assert any(f'"GET {HEALTH} HTTP/1.1" 200' in line for line in lines), lines
    assert "hunter2" not in access_log.read_text()
    assert "password" not in access_log.read_text()


def _post_chunked(server, body, chunk_size=8192):
    """POST ``body`` chunked to the register endpoint; return (status, JSON body).

    The server may answer (413) and close before the client has sent everything:
    the rest then meets a closed socket, and the answer is read all the same.
    """
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    chunks = (body[i : i + chunk_size] for i in range(0, len(body), chunk_size))
    try:
        try:
            connection.request(
                "POST",
                AUTH_REGISTER,
                body=chunks,
                headers={"Content-Type": "application/json"},
                encode_chunked=True,
            )
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    "extra",
    [b" " * 70_000, b"x" * 70_000, b" " * 1024 * 1024],
    ids=["70 KB of spaces", "70 KB of garbage", "1 MB of spaces"],
)
def test_chunked_body_over_the_limit_is_413(server, extra):
    """Item 9: before, a valid body padded past the limit was cut short and registered."""
    email = f"chunked-{len(extra)}-{extra[:1].decode()}@example.com".replace(" ", "s")
    valid = json.dumps({"email": email, "password": "correct-horse"})
    body = valid.encode().ljust(64 * 1024, b" ") + extra
    status, payload = _post_chunked(server, body)
    assert status == 413
    assert set(payload) == {"message"}
    assert email not in _emails(server)
    # Within the limit, the same chunked body registers.
    assert _post_chunked(server, valid.encode().ljust(64 * 1024 - 1, b" "))[0] == 201
    assert _emails(server).count(email) == 1


def test_sqlite_syncs_every_commit(tmp_path):
    """What a commit acknowledged (a logout above all) survives a power cut."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    with app.app_context(), _db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        # 2 is FULL: the write-ahead log is synced on every commit.
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    with app.app_context():
        dispose_engines()


# Links come from PUBLIC_BASE_URL, never from what a client sends, even from 127.0.0.1
# (which gunicorn's FORWARDED_ALLOW_IPS trusts by default).

CLIENT_HEADERS = {
    "SCRIPT_NAME": "/evil",
    "PATH_INFO": "/evil",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Prefix": "/evil",
    "X-Forwarded-Port": "4443",
    "Forwarded": "host=evil.example;proto=https",
}


def _send_raw(server, method, path, headers, body=b""):
    """Send a request as written (underscores in header names included): (status, headers)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("name", [*CLIENT_HEADERS, "all"])
def test_links_never_come_from_the_request(server, name):
    host = f"127.0.0.1:{server.port}"
    forged = CLIENT_HEADERS if name == "all" else {name: CLIENT_HEADERS[name]}
    widget_name = f"linked-{name.replace('_', '-')}"
    login = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
    _, _, body = _send_raw(
        server, "POST", AUTH_LOGIN, {"Host": host, "Content-Type": "application/json"}, login
    )
    token = json.loads(body)["access_token"]
    headers = {"Host": host, "Authorization": f"Bearer {token}", **forged}
    widget = json.dumps(
        {"name": widget_name, "info_url": "https://example.com", "deadline": "2099-12-31"}
    ).encode()
    created = _send_raw(
        server, "POST", WIDGETS, {**headers, "Content-Type": "application/json"}, widget
    )
    listed = _send_raw(server, "GET", f"{WIDGETS}/{widget_name}", headers)
    paged = _send_raw(server, "GET", f"{WIDGETS}?page=1&per_page=5", headers)
    status, created_headers, _ = created
    assert status == 201
    assert created_headers["Location"] == (
        f"{server.env['PUBLIC_BASE_URL']}{WIDGETS}/{widget_name}"
    )
    status, _, widget_body = listed
    assert status == 200
    assert json.loads(widget_body)["link"] == f"{WIDGETS}/{widget_name}"
    status, page_headers, page_body = paged
    assert status == 200
    page = json.loads(page_body)
    assert page["links"]["self"] == f"{WIDGETS}?page=1&per_page=5"
    assert page["items"] and all(
        item["link"] == f"{WIDGETS}/{item['name']}" for item in page["items"]
    )
    assert page_headers["Link"].startswith(f"<{WIDGETS}?page=1&per_page=5>; rel=")
    assert "evil" not in json.dumps([created_headers, widget_body.decode(), page_headers, page])


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.2", ""])
def test_a_host_not_served_is_400(server, host):
    status, headers, body = _send_raw(server, "GET", HEALTH, {"Host": host})
    good, _, _ = _send_raw(server, "GET", HEALTH, {"Host": f"127.0.0.1:{server.port}"})
    assert (status, good) == (400, 200)
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"message": "This server does not answer for that Host."}
