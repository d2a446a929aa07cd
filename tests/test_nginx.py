"""The production front: the shipped nginx file in front of gunicorn, as the README runs it.

nginx reads each request whole before gunicorn sees it, so clients that send their
headers or body a byte at a time cannot hold gunicorn's threads; it replaces the
forwarding headers a client sends; and the metrics are not behind it at all.
"""

import os
import shutil
import socket
import threading
import time

import pytest
import requests

from tests.support.paths import AUTH_LOGIN, HEALTH
from tests.support.servers import GunicornServer, NginxFront
from tests.support.tcp_proxy import free_port
from tests.util import EMAIL, PASSWORD

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = [pytest.mark.served]
if NGINX is None and os.environ.get("REQUIRE_NGINX") != "1":
    pytestmark.append(
        pytest.mark.skip(reason="needs nginx (apt-get install nginx-light); REQUIRE_NGINX=1 fails")
    )

TIMEOUT = 30
TRICKLERS = 12  # of each kind: headers, and bodies
ANSWER_BOUND = 2  # seconds /health may take while they trickle
TRICKLE_SECONDS = 12  # how long a trickler goes on at most (bounded, stops by itself)


@pytest.fixture
def gunicorn(served_database):
    """Gunicorn with its production defaults for threads (2 workers x 4 threads)."""
    server = GunicornServer(
        served_database,
        workers=2,
        threads=4,
        TRUSTED_PROXY_COUNT="1",
        METRICS_ENABLED="true",
        METRICS_ADDRESS=f"127.0.0.1:{free_port()}",
    ).start()
    yield server
    server.stop()


@pytest.fixture
def nginx(gunicorn, tmp_path):
    front = NginxFront(tmp_path, gunicorn.port).start()
    yield front
    front.stop()


class Trickler:
    """A client that sends a request a byte at a time, never finishing; stopped by stop()."""

    HEADERS = f"GET {HEALTH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + "a" * 200
    BODY = (
        f"POST {AUTH_LOGIN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 500\r\n\r\n" + "{" + " " * 498 + "}"
    )

    def __init__(self, port, text, whole_headers_first):
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(port, text, whole_headers_first), daemon=True
        )

    def _run(self, port, text, whole_headers_first):
        deadline = time.monotonic() + TRICKLE_SECONDS
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                data = text.encode()
                if whole_headers_first:
                    head, _, data = text.partition("\r\n\r\n")
                    sock.sendall(f"{head}\r\n\r\n".encode())
                    data = data.encode()
                for byte in data:
                    if self.stop_event.wait(0.5) or time.monotonic() > deadline:
                        return
                    sock.sendall(bytes([byte]))
        except OSError:
            return  # the server gave up on it: fine

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=10)


def _trickling(port):
    """Start TRICKLERS clients that trickle headers and TRICKLERS that trickle a body."""
    return [
        *(Trickler(port, Trickler.HEADERS, False).start() for _ in range(TRICKLERS)),
        *(Trickler(port, Trickler.BODY, True).start() for _ in range(TRICKLERS)),
    ]


def _health_seconds(url, timeout):
    """Return how long GET /health took (200 expected), or None without an answer in time."""
    started = time.monotonic()
    try:
        response = requests.get(f"{url}{HEALTH}", timeout=timeout)
    except requests.Timeout:
        return None
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_trickling_clients_never_stall_the_api_behind_nginx(nginx):
    """The production defaults (2 workers x 4 threads) behind the shipped nginx file."""
    tricklers = _trickling(nginx.port)
    try:
        threading.Event().wait(1)  # every trickler connected and holding on
        for _ in range(3):
            seconds = _health_seconds(nginx.url, timeout=ANSWER_BOUND + 3)
            assert seconds is not None and seconds < ANSWER_BOUND, seconds
    finally:
        for trickler in tricklers:
            trickler.stop()


def test_trickling_clients_stall_gunicorn_alone(served_database):
    """The control: facing clients itself, a worker's threads all wait on tricklers.

    One worker, so that the stall does not depend on how the kernel shares the
    tricklers' connections between workers.
    """
    server = GunicornServer(served_database, workers=1, threads=4).start()
    tricklers = _trickling(server.port)
    try:
        threading.Event().wait(1)
        assert _health_seconds(server.url, timeout=ANSWER_BOUND + 1) is None
    finally:
        for trickler in tricklers:
            trickler.stop()
        server.stop()


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Forwarded-For": "127.0.0.1"}, {"Forwarded": "for=127.0.0.1"}],
    ids=["plain", "X-Forwarded-For", "Forwarded"],
)
def test_metrics_are_not_behind_nginx(gunicorn, nginx, headers):
    unknown = requests.get(f"{nginx.url}/no-such-route", headers=headers, timeout=TIMEOUT)
    response = requests.get(f"{nginx.url}/metrics", headers=headers, timeout=TIMEOUT)
    assert response.status_code == unknown.status_code == 404
    assert response.content == unknown.content
    assert b"auth_logins" not in response.content
    listener = requests.get(f"http://{gunicorn.env['METRICS_ADDRESS']}/metrics", timeout=TIMEOUT)
    assert listener.status_code == 200
    assert "auth_logins_total" in listener.text


def test_nginx_sets_the_headers_the_api_believes(gunicorn, nginx):
    """A client's X-Forwarded-For and X-Request-ID are replaced, not passed on."""
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "forged-by-the-client"}
    response = requests.post(
        f"{nginx.url}{AUTH_LOGIN}",
        json={"email": EMAIL, "password": PASSWORD},
        headers=forged,
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] != "forged-by-the-client"
    assert len(response.headers["X-Request-ID"]) == 32  # nginx's $request_id
    audit = [line for line in gunicorn.output if "event=login " in line]
    assert audit and "ip=127.0.0.1" in audit[-1] and "203.0.113.9" not in audit[-1]


def test_a_foreign_host_is_refused_behind_nginx(gunicorn, nginx):
    response = requests.get(f"{nginx.url}{HEALTH}", headers={"Host": "evil.example"}, timeout=30)
    assert response.status_code == 400
    assert response.json() == {"message": "This server does not answer for that Host."}
