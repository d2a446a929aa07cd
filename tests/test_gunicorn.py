"""What only shows under gunicorn: start-up checks, the access log, chunked bodies."""

import http.client
import json

import pytest

from flask_api_tutorial import create_app
from flask_api_tutorial import db as _db
from flask_api_tutorial.database import dispose_engines
from tests.support.databases import NO_DATABASE
from tests.support.paths import AUTH_REGISTER, HEALTH
from tests.support.servers import GunicornServer
from tests.util import EMAIL

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
