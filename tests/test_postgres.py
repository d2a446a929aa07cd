"""PostgreSQL in production shape: gunicorn instances, real races, an outage."""

import os
import socket
from collections import Counter
from functools import partial

import pytest
import requests
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from flask_api_tutorial import create_app
from flask_api_tutorial import db as _db
from flask_api_tutorial.database import autocommit_engine, dispose_engines
from flask_api_tutorial.models import User
from tests.conftest import TEST_DATABASE_URL
from tests.support.paths import (
    AUTH_LOGIN,
    AUTH_LOGOUT,
    AUTH_REFRESH,
    AUTH_REGISTER,
    AUTH_USER,
    HEALTH,
)
from tests.support.races import (
    assert_one_logout,
    assert_one_registration,
    assert_one_wins,
    release_together,
)
from tests.support.servers import GunicornServer
from tests.support.tcp_proxy import TcpProxy
from tests.util import EMAIL, PASSWORD, TOKEN_BLACKLISTED, bearer, path_for

pytestmark = pytest.mark.postgres

TIMEOUT = 30
DB_DOWN = {"message": "Service unavailable: the database cannot be reached."}


@pytest.fixture(scope="module")
def server():
    """Serve the API with gunicorn (2 workers x 8 threads) on the test database."""
    instance = GunicornServer(TEST_DATABASE_URL).start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def other_server():
    """Serve a second, identical instance on the same database."""
    instance = GunicornServer(TEST_DATABASE_URL).start()
    yield instance
    instance.stop()


def _post(url, path, json=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(url + path, json=json, headers=headers, timeout=TIMEOUT)


def _get(url, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url + path, headers=headers, timeout=TIMEOUT)


def _login(url, email=EMAIL):
    response = _post(url, AUTH_LOGIN, {"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_20_registrations_of_one_email(app, db, server):
    body = {"email": EMAIL, "password": PASSWORD}
    responses = release_together([lambda: _post(server.url, AUTH_REGISTER, body)] * 20)
    assert_one_registration(responses, EMAIL, db)


def test_20_logouts_of_one_token(app, db, user, server):
    token = _login(server.url)
    responses = release_together([lambda: _post(server.url, AUTH_LOGOUT, token=token)] * 20)
    assert_one_logout(responses, db)


def test_100_registrations_of_distinct_emails(app, db, server):
    emails = [f"user{i:03d}@example.com" for i in range(100)]
    bodies = [{"email": email, "password": PASSWORD} for email in emails]
    responses = release_together([partial(_post, server.url, AUTH_REGISTER, b) for b in bodies])
    assert Counter(r.status_code for r in responses) == {201: 100}
    assert db.session.scalar(db.select(db.func.count(User.id))) == 100
    tokens = release_together([partial(_login, server.url, email) for email in emails])
    assert len(set(tokens)) == 100


def test_two_instances_share_users_and_revocations(app, db, server, other_server):
    a, b = server.url, other_server.url
    response = _post(a, AUTH_REGISTER, {"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 201
    token_from_a = response.json()["access_token"]
    # Registered on A: B sees the account, and accepts A's token.
    token_from_b = _login(b)
    assert _get(b, AUTH_USER, token_from_a).json()["email"] == EMAIL
    assert _get(a, AUTH_USER, token_from_b).status_code == 200
    # Logged out on A: refused by B at once, and by A.
    assert _post(a, AUTH_LOGOUT, token=token_from_a).status_code == 200
    for url in (b, a):
        refused = _get(url, AUTH_USER, token_from_a)
        assert refused.status_code == 401
        assert refused.json() == {"message": TOKEN_BLACKLISTED}
    # The other token is independent.
    assert _get(a, AUTH_USER, token_from_b).status_code == 200


def test_health(app, server):
    response = _get(server.url, HEALTH)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_database_outage_and_recovery(app, db, user):
    """Cut the connection to PostgreSQL under a running instance, then restore it."""
    url = make_url(TEST_DATABASE_URL)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    instance = GunicornServer(proxied_url, workers=1, threads=4).start()
    try:
        token = _login(instance.url)
        assert _get(instance.url, AUTH_USER, token).status_code == 200

        proxy.cut()
        for response in (
            _get(instance.url, HEALTH),
            _get(instance.url, AUTH_USER, token),
            _post(instance.url, AUTH_LOGOUT, token=token),
            _post(instance.url, AUTH_LOGIN, {"email": EMAIL, "password": PASSWORD}),
        ):
            # Answered, not hung (requests would raise after TIMEOUT), and never a 200.
            assert response.status_code == 503
            assert response.json() == DB_DOWN
            assert response.headers["Content-Type"] == "application/json"
            assert response.elapsed.total_seconds() < TIMEOUT
        assert "Traceback" not in response.text

        proxy.restore()
        # Same process, no restart: the pool replaces the dead connections.
        assert instance.process.poll() is None
        assert _get(instance.url, HEALTH).status_code == 200
        response = _get(instance.url, AUTH_USER, token)
        assert response.status_code == 200
        assert response.json()["email"] == EMAIL
    finally:
        instance.stop()
        proxy.cut()


def test_idle_connection_killed_by_the_server_is_replaced_unseen(app, user):
    """A connection that idled through its own death is pinged and replaced on checkout.

    In both pools: the transactions' and the token check's (autocommit) one.
    """
    pinging = create_app(
        "testing", {"SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL, "DB_PING_AFTER_IDLE_SECONDS": 0}
    )
    with pinging.app_context():
        engines = [_db.engine, autocommit_engine()]
        assert engines[0] is not engines[1]
        backends = []
        for engine in engines:
            with engine.connect() as connection:
                backends.append(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        # The pooled connections are idle now; the server ends them, as a restart would.
        admin = create_engine(TEST_DATABASE_URL, poolclass=NullPool)
        with admin.connect() as connection:
            for backend in backends:
                connection.exec_driver_sql(f"SELECT pg_terminate_backend({backend})")
        admin.dispose()
        for engine in engines:
            with engine.connect() as connection:
                backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                assert backend not in backends
                assert connection.exec_driver_sql("SELECT count(*) FROM site_user").scalar() == 1
        # Replaced connections serve: a login (transactions) and token checks (autocommit).
        client = pinging.test_client()
        login = client.post(
            path_for(pinging, "api.auth_login"), json={"email": EMAIL, "password": PASSWORD}
        )
        token = login.get_json()["access_token"]
        for _ in range(3):
            response = client.get(
                path_for(pinging, "api.auth_user"), headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200
        dispose_engines()


def test_token_check_on_connections_ended_mid_burst_fails_once_then_the_pool_is_renewed(app, user):
    """Connections the server ended while pooled (no idle ping): one 503, then served.

    SQLAlchemy renews the whole pool on the first lost connection, so the others,
    lost too, are never handed out.
    """
    burst = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL,
            "DB_PING_AFTER_IDLE_SECONDS": 3600,
            "DB_POOL_SIZE": 3,
        },
    )
    with burst.app_context():
        engine = autocommit_engine()
        connections = [engine.connect() for _ in range(3)]
        backends = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in connections]
        for connection in connections:
            connection.close()
        admin = create_engine(TEST_DATABASE_URL, poolclass=NullPool)
        with admin.connect() as connection:
            for backend in backends:
                connection.exec_driver_sql(f"SELECT pg_terminate_backend({backend})")
        admin.dispose()
        token = User.find_by_email(EMAIL).encode_access_token()
        _db.session.remove()
        client = burst.test_client()
        path = path_for(burst, "api.auth_user")
        responses = [client.get(path, headers=bearer(token)) for _ in range(4)]
        dispose_engines()
    assert [response.status_code for response in responses] == [503, 200, 200, 200]
    assert responses[0].get_json() == DB_DOWN
    assert responses[1].get_json()["email"] == EMAIL


def test_read_cancelled_by_the_statement_timeout_keeps_its_connection():
    """A cancelled read is an OperationalError (503), and the connection serves on.

    Neither SQLAlchemy (it is no disconnect) nor the command deadline (it comes a
    second later) ends the connection.
    """
    slow_app = create_app(
        "testing", {"SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL, "DB_STATEMENT_TIMEOUT_MS": 200}
    )
    with slow_app.app_context(), autocommit_engine().connect() as connection:
        before = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with pytest.raises(OperationalError) as raised:
            connection.exec_driver_sql("SELECT pg_sleep(5)")
        after = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with slow_app.app_context():
        dispose_engines()
    assert "statement timeout" in str(raised.value.orig)
    assert not raised.value.connection_invalidated
    assert after == before


def test_statement_timeout_answers_503():
    """A query stuck longer than DB_STATEMENT_TIMEOUT_MS is cancelled: 503, not a hang."""
    slow_app = create_app(
        "testing", {"SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL, "DB_STATEMENT_TIMEOUT_MS": 200}
    )
    slow_app.add_url_rule(
        "/slow", "slow", lambda: str(_db.session.execute(_db.text("SELECT pg_sleep(5)")).scalar())
    )
    with slow_app.app_context():
        response = slow_app.test_client().get("/slow")
        dispose_engines()
    assert response.status_code == 503
    assert response.get_json() == DB_DOWN


def test_engine_options_for_postgres(app, db):
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert "pool_pre_ping" not in options  # replaced by the idle ping below
    assert options["connect_args"]["options"] == "-c statement_timeout=5000"
    for engine in (db.engine, autocommit_engine()):
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "5s"
            fd = connection.connection.dbapi_connection.pgconn.socket
            with socket.socket(fileno=os.dup(fd)) as sock:
                # libpq's keepalives and tcp_user_timeout, as DB_* configures them.
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 10
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000


def test_10_concurrent_refreshes_of_one_token(app, db, user, server):
    login = _post(server.url, AUTH_LOGIN, {"email": EMAIL, "password": PASSWORD})
    refresh = login.json()["refresh_token"]
    responses = release_together(
        [lambda: _post(server.url, AUTH_REFRESH, {"refresh_token": refresh})] * 10
    )
    assert_one_wins(responses, 200, 401)
