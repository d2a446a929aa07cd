"""What only shows under gunicorn: start-up checks, the access log, chunked bodies."""

import http.client
import json

import pytest

from flask_api_tutorial import create_app
from flask_api_tutorial import db as _db
from flask_api_tutorial.database import dispose_engines
from flask_api_tutorial.models import User
from tests.support.databases import NO_DATABASE
from tests.support.paths import API, AUTH_LOGIN, AUTH_REGISTER, HEALTH
from tests.support.servers import GunicornServer
from tests.util import EMAIL, PASSWORD

WIDGETS = f"{API}/widgets"

pytestmark = [pytest.mark.served]


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
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    chunks = (body[i : i + chunk_size] for i in range(0, len(body), chunk_size))
    connection.request(
        "POST",
        AUTH_REGISTER,
        body=chunks,
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    result = response.status, json.loads(response.read())
    connection.close()
    return result


@pytest.mark.parametrize(
    "extra",
    [b" " * 70_000, b"x" * 70_000, b" " * 1024 * 1024],
    ids=["70 KB of spaces", "70 KB of garbage", "1 MB of spaces"],
)
def test_chunked_body_over_the_limit_is_413(served_database, extra):
    """Item 9: before, a valid body padded past the limit was cut short and registered."""
    server = GunicornServer(served_database).start()
    try:
        valid = json.dumps({"email": "chunked@example.com", "password": "correct-horse"})
        body = valid.encode().ljust(64 * 1024, b" ") + extra
        status, payload = _post_chunked(server, body)
        assert status == 413
        assert set(payload) == {"message"}
        # Within the limit, the same chunked body registers.
        assert _post_chunked(server, valid.encode().ljust(64 * 1024 - 1, b" "))[0] == 201
    finally:
        server.stop()
    with create_app("testing", {"SQLALCHEMY_DATABASE_URI": served_database}).app_context():
        emails = _db.session.scalars(_db.text("SELECT email FROM site_user")).all()
        _db.session.remove()
        dispose_engines()
    assert sorted(emails) == ["chunked@example.com", EMAIL]


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
def test_links_never_come_from_the_request(served_database, name):
    with create_app("testing", {"SQLALCHEMY_DATABASE_URI": served_database}).app_context():
        _db.session.execute(_db.update(User).values(admin=True))
        _db.session.commit()
        dispose_engines()
    server = GunicornServer(served_database, workers=1, threads=2).start()
    host = f"127.0.0.1:{server.port}"
    forged = CLIENT_HEADERS if name == "all" else {name: CLIENT_HEADERS[name]}
    try:
        login = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
        _, _, body = _send_raw(
            server, "POST", AUTH_LOGIN, {"Host": host, "Content-Type": "application/json"}, login
        )
        token = json.loads(body)["access_token"]
        headers = {"Host": host, "Authorization": f"Bearer {token}", **forged}
        widget = json.dumps(
            {"name": "linked", "info_url": "https://example.com", "deadline": "2099-12-31"}
        ).encode()
        created = _send_raw(
            server, "POST", WIDGETS, {**headers, "Content-Type": "application/json"}, widget
        )
        listed = _send_raw(server, "GET", f"{WIDGETS}?page=1&per_page=5", headers)
    finally:
        server.stop()
    status, created_headers, _ = created
    assert status == 201
    assert created_headers["Location"] == f"{server.env['PUBLIC_BASE_URL']}{WIDGETS}/linked"
    status, list_headers, list_body = listed
    assert status == 200
    page = json.loads(list_body)
    assert page["links"]["self"] == f"{WIDGETS}?page=1&per_page=5"
    assert page["items"][0]["link"] == f"{WIDGETS}/linked"
    assert list_headers["Link"].startswith(f"<{WIDGETS}?page=1&per_page=5>; rel=")
    assert "evil" not in json.dumps([created_headers, list_headers, page])


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.2", ""])
def test_a_host_not_served_is_400(served_database, host):
    server = GunicornServer(served_database, workers=1, threads=2).start()
    try:
        status, headers, body = _send_raw(server, "GET", HEALTH, {"Host": host})
        good, _, _ = _send_raw(server, "GET", HEALTH, {"Host": f"127.0.0.1:{server.port}"})
    finally:
        server.stop()
    assert (status, good) == (400, 200)
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"message": "This server does not answer for that Host."}
