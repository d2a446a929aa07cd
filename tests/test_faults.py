"""Outages that refuse nothing: a PostgreSQL or a Redis whose packets are dropped.

A proxy between gunicorn and the server goes silent (connections stay open, new
ones are accepted, no byte gets through): every request must still be answered
within the README's bound, with 503 JSON, and service must come back by itself
when the proxy forwards again. Before the fixes such requests hung for as long
as the silence lasted.
"""

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy.engine import make_url

from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.support.paths import AUTH_LOGIN, AUTH_LOGOUT, AUTH_REGISTER, AUTH_USER, HEALTH
from tests.support.servers import GunicornServer
from tests.support.tcp_proxy import TcpProxy
from tests.util import EMAIL, LOGIN_FAILED, PASSWORD

# The bounds the README documents: a request that needs an unreachable database
# is answered within 10 s; one that needs unreachable rate-limit counts within 2 s.
DATABASE_BOUND = 10
COUNTS_BOUND = 2
# Past this the client gives up: a hang fails the test instead of stalling it.
CLIENT_TIMEOUT = 20
DB_DOWN = {"message": "Service unavailable: the database cannot be reached."}
COUNTS_DOWN = {"message": "Service unavailable: the rate-limit counts cannot be reached."}


def _request(method, url, json=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    response = requests.request(method, url, json=json, headers=headers, timeout=CLIENT_TIMEOUT)
    return response, time.monotonic() - started


def _all_at_once(calls):
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def _proxied(url, proxy):
    return url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


@pytest.mark.postgres
def test_silent_database_is_answered_503_in_bounded_time_and_heals(app, db, user):
    url = make_url(TEST_DATABASE_URL)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    instance = GunicornServer(_proxied(url, proxy), workers=1, threads=8).start()
    base = instance.url
    login = {"email": EMAIL, "password": PASSWORD}
    try:
        token = _request("POST", base + AUTH_LOGIN, login)[0].json()["access_token"]
        assert _request("GET", base + AUTH_USER, token=token)[0].status_code == 200

        proxy.silence()
        calls = [
            lambda: _request("GET", base + HEALTH),
            lambda: _request("GET", base + AUTH_USER, token=token),
            lambda: _request("POST", base + AUTH_LOGOUT, token=token),
            lambda: _request("POST", base + AUTH_LOGIN, login),
            lambda: _request("POST", base + AUTH_REGISTER, {**login, "email": "b@b.io"}),
        ]
        # Twice: first on pooled connections gone silent, then on new connections
        # (the pool was invalidated) that connect to a server that never answers.
        for _ in range(2):
            for response, elapsed in _all_at_once(calls):
                assert response.status_code == 503, response.text
                assert response.json() == DB_DOWN
                assert elapsed < DATABASE_BOUND

        proxy.restore()
        # Same process, no restart: the next requests get new connections.
        assert instance.process.poll() is None
        health, elapsed = _request("GET", base + HEALTH)
        assert health.status_code == 200
        assert elapsed < DATABASE_BOUND
        # Logged out or not, the token was never accepted unchecked.
        response, _ = _request("GET", base + AUTH_USER, token=token)
        assert response.status_code in (200, 401)
        assert _request("POST", base + AUTH_LOGIN, login)[0].status_code == 200
    finally:
        instance.stop()
        proxy.cut()


@pytest.fixture
def served_through_redis_proxy(served_database):
    """Serve the API (2 workers) counting in Redis through a proxy; yield both."""
    url = served_database
    redis_url = make_url(TEST_REDIS_URL)
    proxy = TcpProxy(redis_url.host or "127.0.0.1", redis_url.port or 6379).start()
    instance = GunicornServer(
        url,
        workers=2,
        threads=4,
        RATELIMIT_ENABLED="true",
        RATELIMIT_STORAGE_URI=_proxied(redis_url, proxy),
        RATELIMIT_KEY_PREFIX=f"faults-{time.monotonic_ns()}",
        RATELIMIT_LOGIN_ACCOUNT="1000 per minute",
        RATELIMIT_LOGIN_ACCOUNT_ATTEMPTS="1000 per minute",
        RATELIMIT_LOGIN_ADDRESS="1000 per minute",
    ).start()
    try:
        yield instance, proxy
    finally:
        instance.stop()
        proxy.cut()


@pytest.mark.served
@pytest.mark.redis
def test_silent_redis_answers_login_503_in_bounded_time_and_heals(served_through_redis_proxy):
    instance, proxy = served_through_redis_proxy
    base = instance.url
    wrong = {"email": EMAIL, "password": "wrong-password"}
    assert _request("POST", base + AUTH_LOGIN, wrong)[0].json() == LOGIN_FAILED
    token = _request("POST", base + AUTH_LOGIN, {**wrong, "password": PASSWORD})[0].json()

    proxy.silence()
    logins = [lambda: _request("POST", base + AUTH_LOGIN, wrong)] * 6
    for response, elapsed in _all_at_once(logins):
        assert response.status_code == 503, response.text
        assert response.json() == COUNTS_DOWN
        assert elapsed < COUNTS_BOUND
    # What needs no counts goes on: health, and the token check.
    assert _request("GET", base + HEALTH)[0].status_code == 200
    user, _ = _request("GET", base + AUTH_USER, token=token["access_token"])
    assert user.status_code == 200

    proxy.restore()
    response, elapsed = _request("POST", base + AUTH_LOGIN, wrong)
    assert response.status_code == 401
    assert response.json() == LOGIN_FAILED
    assert instance.process.poll() is None


@pytest.mark.served
@pytest.mark.redis
def test_flapping_redis_never_gives_a_500_or_a_hang(served_through_redis_proxy):
    """Redis drops traffic every other 0.2 s while failed logins are counted."""
    instance, proxy = served_through_redis_proxy
    url = instance.url + AUTH_LOGIN
    stop = threading.Event()

    def flap():
        # The fault's own rhythm (not a clock a token depends on); stops when told.
        while not stop.is_set():
            proxy.silence()
            stop.wait(0.2)
            proxy.restore()
            stop.wait(0.2)

    flapper = threading.Thread(target=flap, daemon=True)
    flapper.start()
    try:
        wrong = {"email": EMAIL, "password": "wrong-password"}
        results = []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            results += _all_at_once([lambda: _request("POST", url, wrong)] * 4)
    finally:
        stop.set()
        flapper.join(timeout=5)
        proxy.restore()
    statuses = {response.status_code for response, _ in results}
    assert statuses <= {401, 503}, [r.text for r, _ in results if r.status_code not in (401, 503)]
    assert 503 in statuses  # the flapping was seen
    assert max(elapsed for _, elapsed in results) < COUNTS_BOUND
    for response, _ in results:
        assert response.json() in (LOGIN_FAILED, COUNTS_DOWN)


@pytest.mark.postgres
def test_deadline_cuts_a_command_still_waiting_and_spares_idle_ones():
    """The watcher closes only a connection whose command is in flight past its deadline."""
    import psycopg

    from flask_api_tutorial.database import CommandDeadline

    deadline = CommandDeadline(seconds=0.3, ping_seconds=0.3, interval=0.05)
    with psycopg.connect(_dsn(), autocommit=True) as connection:
        deadline.watch(connection)
        deadline.arm(connection)
        assert connection.execute("SELECT 1").fetchone() == (1,)
        # Idle past its deadline (the server sleeps, not the test): spared.
        with psycopg.connect(_dsn(), autocommit=True) as other:
            other.execute("SELECT pg_sleep(0.5)")
        assert connection.execute("SELECT 2").fetchone() == (2,)

        deadline.arm(connection)
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            connection.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 2
        deadline.release(connection)


def _dsn():
    return make_url(TEST_DATABASE_URL).set(drivername="postgresql").render_as_string(False)


@pytest.mark.postgres
def test_deadline_never_cuts_a_socket_that_reused_the_connections_descriptor():
    """Once libpq has closed its descriptor, its number may name another socket: spared.

    The deadline cuts its own duplicate of the connection's socket, kept from the
    moment the connection opened; the descriptor number libpq had is never used.
    Here that number is made to name another socket while a command waits.
    """
    import psycopg

    from flask_api_tutorial.database import CommandDeadline

    deadline = CommandDeadline(seconds=0, ping_seconds=0)
    mine, peer = socket.socketpair()
    # Not a `with` block: its exit would send COMMIT on the connection left busy here.
    connection = psycopg.connect(_dsn(), autocommit=True)
    try:
        deadline.watch(connection)
        backend = connection.info.backend_pid
        # The server looks for its client while it sleeps, so a cut ends its process.
        connection.execute("SET client_connection_check_interval = 50")
        connection.pgconn.send_query(b"SELECT pg_sleep(30)")  # in flight: ACTIVE
        # What a reuse does to the number: it now names the other socket.
        os.dup2(mine.fileno(), connection.pgconn.socket)
        deadline.arm(connection)
        deadline.cut_overdue()  # the watcher's pass, run here: no waiting on a thread
        peer.sendall(b"still open")
        assert mine.recv(16) == b"still open"
        mine.sendall(b"both ways")
        assert peer.recv(16) == b"both ways"
        # The connection itself was cut: its server process ends.
        assert _ends(backend)
    finally:
        deadline.release(connection)
        connection.close()
        mine.close()
        peer.close()


def _ends(backend, seconds=5):
    """Return True once the server process ``backend`` is gone (within ``seconds``)."""
    import psycopg

    ended = threading.Event()
    with psycopg.connect(_dsn(), autocommit=True) as watcher:
        for _ in range(int(seconds / 0.05)):
            alive = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend]
            ).fetchone()
            if alive == (0,):
                ended.set()
                break
            ended.wait(0.05)
    return ended.is_set()
