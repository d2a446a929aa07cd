"""Prometheus metrics: on a listener of gunicorn's master only, bounded series, auth counts.

The in-process tests read prometheus_client's registry, which every app of a test
run shares: they compare counts before and after what they do. The served tests
run gunicorn in multiprocess mode: the API's port has no /metrics at all, the
master's listener (METRICS_ADDRESS) answers, and a real Prometheus scrapes it,
before and after a worker is killed and replaced.
"""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
import requests
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.parser import text_string_to_metric_families

from flask_api_tutorial import create_app, mail
from flask_api_tutorial import db as _db
from flask_api_tutorial.database import dispose_engines
from flask_api_tutorial.models import User
from flask_api_tutorial.util.datetime_util import utc_now
from tests.support.paths import API, AUTH_LOGIN, AUTH_LOGOUT, AUTH_REGISTER, AUTH_USER
from tests.support.servers import GunicornServer
from tests.support.smtp import token_in
from tests.support.tcp_proxy import free_port
from tests.util import (
    EMAIL,
    PASSWORD,
    add_user,
    bearer,
    change_password,
    confirm_password_reset,
    end_session,
    get_user,
    login_user,
    logout_all,
    logout_user,
    refresh_tokens,
    register_user,
    request_password_reset,
    resend_verification,
    verify_email,
)

METRICS = "/metrics"
WIDGET_ROUTE = f"{API}/widgets/<name>"
UNKNOWN_ROUTE = "/no-such-route"
TIMEOUT = 30
# How long Prometheus gets to scrape what the test expects (it scrapes every second).
SCRAPE_DEADLINE = 30


@pytest.fixture
def make_app(database):
    """Return a factory of testing apps on one database, with METRICS_ENABLED by default."""
    created = []

    def factory(**settings):
        app = create_app(
            "testing", {"SQLALCHEMY_DATABASE_URI": database, "METRICS_ENABLED": True, **settings}
        )
        created.append(app)
        return app

    yield factory
    for app in created:
        with app.app_context():
            _db.session.remove()
            dispose_engines()


@pytest.fixture
def app(make_app):
    """Return a testing app with METRICS_ENABLED: conftest's client and user use it."""
    app = make_app()
    with app.app_context():
        yield app


def _metrics_text():
    """Return this process's metrics as a scrape would: the text format."""
    return generate_latest(REGISTRY).decode()


def _samples(prefix=""):
    """Return the samples whose name starts with ``prefix``: {(name, labels): value}.

    Left out: the ``_created`` timestamps.
    """
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(_metrics_text())
        for sample in family.samples
        if sample.name.startswith(prefix) and not sample.name.endswith("_created")
    }


def _changes(action, prefix="auth_"):
    """Run ``action``; return its result and the samples it changed: {(name, labels): delta}."""
    before = _samples(prefix)
    result = action()
    after = _samples(prefix)
    changed = {key: after[key] - before.get(key, 0) for key in after}
    return result, {key: delta for key, delta in changed.items() if delta}


def _key(name, **labels):
    return name, tuple(sorted(labels.items()))


def _series():
    """Return every series (name and labels, without values)."""
    text = _metrics_text()
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _login(client, email=EMAIL, password=PASSWORD):
    response = login_user(client, email=email, password=password)
    assert response.status_code == 200
    body = response.get_json()
    return body["access_token"], body["refresh_token"]


def _logins(result):
    return _key("auth_logins_total", result=result)


def _rejections(reason):
    return _key("auth_token_rejections_total", reason=reason)


def _assert_counted(client, action, status, series):
    """Check that ``action`` answers ``status`` and adds 1 to ``series``, and to no other."""
    response, changed = _changes(action)
    assert response.status_code == status, response.get_json()
    assert changed == {series: 1}


# Each auth event, counted once


def test_each_auth_event_adds_one_to_its_series(app, client, db):
    _assert_counted(client, lambda: register_user(client), 201, _key("auth_registrations_total"))
    _assert_counted(client, lambda: login_user(client), 200, _logins("success"))
    _assert_counted(
        client, lambda: login_user(client, password="wrong-pw"), 401, _logins("wrong_password")
    )
    _assert_counted(
        client, lambda: login_user(client, email="no@example.com"), 401, _logins("unknown_email")
    )

    access, refresh = _login(client)
    _assert_counted(client, lambda: logout_user(client, access), 200, _key("auth_logouts_total"))
    _assert_counted(client, lambda: get_user(client, access), 401, _rejections("revoked"))
    _assert_counted(client, lambda: get_user(client, "not.a-token"), 401, _rejections("invalid"))
    expired = User.find_by_email(EMAIL).encode_access_token(
        now=utc_now() - app.config["ACCESS_TOKEN_LIFETIME"] - timedelta(seconds=1)
    )
    _assert_counted(client, lambda: get_user(client, expired), 401, _rejections("expired"))

    # A used refresh token presented again; its first use counts nothing.
    response, changed = _changes(lambda: refresh_tokens(client, refresh))
    assert response.status_code == 200
    assert changed == {}
    _assert_counted(
        client,
        lambda: refresh_tokens(client, refresh),
        401,
        _key("auth_refresh_token_reuse_total"),
    )

    access, _ = _login(client)
    older, _ = _login(client)
    _assert_counted(client, lambda: logout_all(client, access), 200, _key("auth_logout_all_total"))
    _assert_counted(client, lambda: get_user(client, older), 401, _rejections("superseded"))
    access, _ = _login(client)
    _assert_counted(
        client,
        lambda: change_password(client, access, PASSWORD, "another-password"),
        200,
        _key("auth_password_changes_total"),
    )

    gone = add_user(email="gone@example.com")
    token = gone.encode_access_token()
    db.session.delete(gone)
    db.session.commit()
    _assert_counted(client, lambda: get_user(client, token), 401, _rejections("unknown_user"))


def test_each_account_event_adds_one_to_its_series(app, client, db, user, mailbox):
    _assert_counted(
        client,
        lambda: request_password_reset(client),
        202,
        _key("auth_mails_requested_total", kind="password_reset"),
    )
    _assert_counted(
        client,
        lambda: resend_verification(client, email=EMAIL),
        202,
        _key("auth_mails_requested_total", kind="verify_email"),
    )
    request_password_reset(client, "nobody@example.com")
    outcomes, changed = _changes(mail.deliver_due, prefix="mail_")
    assert outcomes == {"sent": 2, "dropped": 1}
    assert changed == {
        _key("mail_messages_total", kind="password_reset", result="sent"): 1,
        _key("mail_messages_total", kind="password_reset", result="dropped"): 1,
        _key("mail_messages_total", kind="verify_email", result="sent"): 1,
    }
    reset, verification = (token_in(message) for message in mailbox.to(EMAIL))
    _assert_counted(
        client,
        lambda: verify_email(client, verification),
        200,
        _key("auth_email_verifications_total"),
    )
    _assert_counted(
        client,
        lambda: confirm_password_reset(client, reset, "a-new-password-1"),
        200,
        _key("auth_password_resets_total"),
    )
    _assert_counted(
        client,
        lambda: confirm_password_reset(client, reset, "a-new-password-2"),
        400,
        _key("auth_account_token_rejections_total", purpose="password_reset", reason="unknown"),
    )
    access, _ = _login(client, password="a-new-password-1")
    other, _ = _login(client, password="a-new-password-1")
    sid = jwt.decode(other, options={"verify_signature": False})["sid"]
    _assert_counted(
        client, lambda: end_session(client, access, sid), 204, _key("auth_sessions_ended_total")
    )
    app.config["REQUIRE_VERIFIED_EMAIL"] = True
    add_user(email="unverified@example.com")
    _assert_counted(
        client,
        lambda: login_user(client, email="unverified@example.com"),
        403,
        _logins("unverified"),
    )


def test_rate_limit_hit_is_counted_by_endpoint_and_limit(make_app):
    client = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_REGISTER_ADDRESS="1 per minute",
    ).test_client()

    def register(email):
        return client.post(AUTH_REGISTER, json={"email": email, "password": PASSWORD})

    assert register("first@example.com").status_code == 201
    _assert_counted(
        client,
        lambda: register("second@example.com"),
        429,
        _key("auth_rate_limit_hits_total", endpoint="api.auth_register", limit="1 per 1 minute"),
    )


# Requests, by route template


def test_requests_are_counted_by_route_template_never_by_path(client, user):
    access, _ = _login(client)
    name = f"widget-{uuid.uuid4().hex}"
    path = f"{API}/widgets/{name}"

    response, changed = _changes(
        lambda: client.get(path, headers=bearer(access)), "http_requests_total"
    )
    assert response.status_code == 404
    assert changed == {
        _key("http_requests_total", route=WIDGET_ROUTE, method="GET", status="404"): 1
    }
    # Its time too: every series of both families that changed is the template's.
    response, changed = _changes(lambda: client.get(path), "http_request")
    assert response.status_code == 401
    requests_key = _key("http_requests_total", route=WIDGET_ROUTE, method="GET", status="401")
    assert changed[requests_key] == 1
    timed_key = _key("http_request_duration_seconds_count", route=WIDGET_ROUTE, method="GET")
    assert changed[timed_key] == 1
    assert {dict(labels)["route"] for _, labels in changed} == {WIDGET_ROUTE}

    response, changed = _changes(
        lambda: client.open(f"/{name}", method="BREW"), "http_requests_total"
    )
    assert response.status_code == 404
    assert changed == {
        _key("http_requests_total", route="<unmatched>", method="other", status="404"): 1
    }
    assert name not in _metrics_text()


def _random_name():
    """Return a name a client might put in a path: a UUID, a token, a JWT, odd text."""
    return secrets.choice(
        [
            str(uuid.uuid4()),
            secrets.token_urlsafe(24),
            secrets.token_hex(50),
            f"eyJ{secrets.token_urlsafe(40)}.{secrets.token_urlsafe(60)}.{secrets.token_urlsafe(30)}",
            f"{secrets.token_hex(4)}%20{secrets.token_hex(4)}",
            f"caf\u00e9-{secrets.token_hex(6)}",
            "x" * secrets.choice([101, 300, 2000]),
        ]
    )


def test_random_paths_and_widget_names_add_no_series(client, user):
    access, _ = _login(client)
    shapes = [
        lambda name: client.get(f"{API}/widgets/{name}", headers=bearer(access)),
        lambda name: client.get(f"{API}/widgets/{name}"),
        lambda name: client.get(f"{API}/widgets/{name}", headers=bearer(name)),
        lambda name: client.get(f"/{name}"),
        lambda name: client.get(f"{API}/{name}/{name}"),
        lambda name: client.post(f"/{name}"),
        lambda name: client.open(f"/{name}", method=name[:8].upper().replace("-", "")),
    ]
    # Each first request adds its series (route, method, status).
    for shape in shapes:
        shape("warm-up")
    before = _series()
    for index in range(1000):
        shapes[index % len(shapes)](_random_name())
    assert _series() == before


# The API's port serves no metrics: they are the master's listener's (METRICS_ADDRESS).


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "OPTIONS"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Forwarded-For": "127.0.0.1"}, {"Forwarded": "for=127.0.0.1"}],
    ids=["direct", "X-Forwarded-For", "Forwarded"],
)
def test_the_api_has_no_metrics_route(client, method, headers):
    """Whoever asks, however: /metrics on the API is the 404 of a route that does not exist."""
    unknown = client.open(UNKNOWN_ROUTE, method=method, headers=headers)
    response = client.open(METRICS, method=method, headers=headers)
    assert response.status_code == unknown.status_code == 404
    assert response.get_data() == unknown.get_data()
    assert b"auth_logins" not in response.get_data()


def _promtool_check(text):
    """Run ``promtool check metrics`` on ``text``; return (exit code, its output lines)."""
    finished = subprocess.run(
        [shutil.which("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return finished.returncode, (finished.stdout + finished.stderr).splitlines()


@pytest.mark.prometheus
def test_promtool_accepts_the_metrics(client, user):
    login_user(client, password="wrong-password")
    client.get(f"{API}/widgets/any")
    client.get(UNKNOWN_ROUTE)
    text = _metrics_text()
    # Single-process output has a _created gauge beside each counter; promtool takes them.
    assert "auth_logins_created" in text
    assert _promtool_check(text) == (0, [])


# Served by gunicorn: two workers, one directory of counts, a real Prometheus

# What a previous run left in the directory: gunicorn must start from empty files.
STALE_COUNTS = """
from prometheus_client import Counter

Counter("auth_logins", "", ["result"]).labels("wrong_password").inc(1000)
"""
WRONG_PASSWORD = _logins("wrong_password")
INVALID_TOKEN = _rejections("invalid")


def _send(server, method, path, token=None, json=None, headers=None):
    # A new connection for each request, so that any worker may answer it.
    headers = {"Connection": "close", **(headers or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, server.url + path, json=json, headers=headers, timeout=TIMEOUT)


def _served_login(server, password=PASSWORD, email=EMAIL):
    return _send(server, "POST", AUTH_LOGIN, json={"email": email, "password": password})


def _metrics_server(database, **settings):
    """Return a gunicorn instance (not started) whose master serves metrics on a free port."""
    server = GunicornServer(
        database,
        METRICS_ENABLED="true",
        METRICS_ADDRESS=f"127.0.0.1:{free_port()}",
        **settings,
    )
    server.metrics_url = f"http://{server.env['METRICS_ADDRESS']}{METRICS}"
    return server


def _served_samples(server):
    """Return every sample of the master's listener: {(name, labels): value}, and the text."""
    response = requests.get(server.metrics_url, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return samples, response.text


def _poll(read, expected, what, deadline=SCRAPE_DEADLINE):
    """Call ``read`` until it returns ``expected``; fail with what it last returned."""
    end = time.monotonic() + deadline
    while True:
        seen = read()
        if seen == expected:
            return
        if time.monotonic() > end:
            pytest.fail(f"{what}: expected {expected}, last seen {seen}")
        time.sleep(0.2)


def _workers(server):
    """Return the PIDs of the gunicorn master's children: its workers."""
    tasks = Path(f"/proc/{server.process.pid}/task")
    children = set()
    for task in tasks.iterdir():
        try:  # the metrics listener's threads come and go
            children.update(int(child) for child in (task / "children").read_text().split())
        except FileNotFoundError:
            continue
    return children


def _started_workers(server, directory):
    """Return the PIDs of the (two) workers, once both have made their counts file."""
    found = {}

    def read():
        found["workers"] = _workers(server)
        files = {name for name in os.listdir(directory) if name.startswith("counter_")}
        return len(found["workers"]), files >= {f"counter_{pid}.db" for pid in found["workers"]}

    _poll(read, (2, True), "two workers with their files")
    return found["workers"]


def _worker_count(directory, pid, series):
    """Return one worker's count of ``series`` (name, labels), read from its file alone."""
    alone = directory.parent / f"worker-{pid}"
    shutil.rmtree(alone, ignore_errors=True)
    alone.mkdir()
    shutil.copy(directory / f"counter_{pid}.db", alone)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(alone))
    name, labels = series
    return registry.get_sample_value(name, dict(labels)) or 0


class Prometheus:
    """A Prometheus server scraping one target's /metrics every second; stopped by stop()."""

    def __init__(self, directory, target):
        """Write its configuration in ``directory`` (``target``: host:port); nothing runs yet."""
        self.program = shutil.which("prometheus")
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = directory / "prometheus.yml"
        self.config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: api\n"
            f"    metrics_path: {METRICS}\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        self.log = directory / "prometheus.log"
        self.process = None

    def start(self):
        """Start Prometheus (its own process group) and return once it is ready."""
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [
                    self.program,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.directory / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _poll(self._ready, True, f"Prometheus ready (log: {self.log})")
        return self

    def _ready(self):
        assert self.process.poll() is None, self.log.read_text()
        try:
            return requests.get(f"{self.url}/-/ready", timeout=TIMEOUT).status_code == 200
        except requests.ConnectionError:
            return False

    def query(self, *queries):
        """Return each PromQL query's value (a query of one result), or None without one."""
        values = {}
        for query in queries:
            response = requests.get(
                f"{self.url}/api/v1/query", params={"query": query}, timeout=TIMEOUT
            )
            assert response.status_code == 200, response.text
            result = response.json()["data"]["result"]
            assert len(result) <= 1, result
            values[query] = float(result[0]["value"][1]) if result else None
        return values

    def wait_for(self, expected):
        """Wait until every query of ``expected`` has its value; fail with the last seen."""
        _poll(lambda: self.query(*expected), expected, "Prometheus")

    def stop(self):
        """Stop this Prometheus (by its PID), gracefully, then by force."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT)


@pytest.mark.served
@pytest.mark.prometheus
def test_prometheus_sees_every_worker_and_the_counts_survive_a_restart(served_database, tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    stale = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", STALE_COUNTS], env=stale, check=True, timeout=TIMEOUT)
    assert os.listdir(directory)
    server = _metrics_server(served_database, PROMETHEUS_MULTIPROC_DIR=str(directory))
    prometheus = Prometheus(tmp_path, server.env["METRICS_ADDRESS"])
    try:
        server.start()
        prometheus.start()
        workers = _started_workers(server, directory)
        assert {name.split("_")[-1] for name in os.listdir(directory)} == {
            f"{pid}.db" for pid in workers
        }

        # One login, logged out: its token is then refused as revoked.
        revoked = _served_login(server).json()["access_token"]
        assert _send(server, "POST", AUTH_LOGOUT, revoked).status_code == 200
        one_round = [
            *[lambda: _served_login(server, password="wrong-password")] * 4,
            *[lambda: _served_login(server, email="nobody@example.com")] * 2,
            *[lambda: _send(server, "GET", AUTH_USER, secrets.token_urlsafe(20))] * 4,
            *[lambda: _send(server, "GET", AUTH_USER, revoked)] * 2,
        ]
        # Rounds until each worker has answered some of both kinds.
        rounds = 0
        while True:
            rounds += 1
            with ThreadPoolExecutor(4) as pool:
                statuses = list(pool.map(lambda send: send().status_code, one_round))
            assert statuses == [401] * len(one_round)
            by_worker = {
                pid: [_worker_count(directory, pid, s) for s in (WRONG_PASSWORD, INVALID_TOKEN)]
                for pid in workers
            }
            if all(all(counts) for counts in by_worker.values()):
                break
            assert rounds < 20, by_worker
        # Each worker counted its own; the sums are what was sent.
        assert sum(counts[0] for counts in by_worker.values()) == 4 * rounds
        assert sum(counts[1] for counts in by_worker.values()) == 4 * rounds

        expected = {
            'sum(auth_logins_total{result="wrong_password"})': 4 * rounds,
            'sum(auth_logins_total{result="unknown_email"})': 2 * rounds,
            'sum(auth_logins_total{result="success"})': 1,
            "sum(auth_logouts_total)": 1,
            'sum(auth_token_rejections_total{reason="invalid"})': 4 * rounds,
            'sum(auth_token_rejections_total{reason="revoked"})': 2 * rounds,
            f'sum(http_requests_total{{route="{AUTH_LOGIN}",status="401"}})': 6 * rounds,
            # One series per result (success, unknown_email, wrong_password,
            # password_changed, unverified), whichever workers counted it.
            "count(auth_logins_total)": 5,
        }
        prometheus.wait_for(expected)

        samples, text = _served_samples(server)
        assert _promtool_check(text) == (0, [])
        assert not [name for name, _ in samples if name.endswith("_created")]
        assert samples[WRONG_PASSWORD] == 4 * rounds

        # The worker with the most counts is killed; gunicorn replaces it.
        victim = max(workers, key=lambda pid: by_worker[pid][0])
        os.kill(victim, signal.SIGKILL)
        _poll(lambda: victim in _workers(server), False, f"worker {victim} gone")
        assert victim not in _started_workers(server, directory)
        assert (directory / f"counter_{victim}.db").exists()
        after, _ = _served_samples(server)
        assert {key: after[key] for key in samples if key[0].startswith("auth_")} == {
            key: value for key, value in samples.items() if key[0].startswith("auth_")
        }

        assert _served_login(server, email="nobody@example.com").status_code == 401
        expected['sum(auth_logins_total{result="unknown_email"})'] += 1
        expected[f'sum(http_requests_total{{route="{AUTH_LOGIN}",status="401"}})'] += 1
        # Prometheus saw the counters only go up, through the restart.
        expected["sum(resets(auth_logins_total[5m]))"] = 0
        expected["sum(resets(auth_token_rejections_total[5m]))"] = 0
        prometheus.wait_for(expected)
    finally:
        prometheus.stop()
        server.stop()


@pytest.mark.served
def test_served_metrics_are_on_the_masters_listener_only(served_database):
    server = _metrics_server(served_database, workers=2, threads=2).start()
    try:
        assert _served_login(server, password="wrong-password").status_code == 401
        for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}, {"Forwarded": "for=127.0.0.1"}):
            unknown = _send(server, "GET", UNKNOWN_ROUTE, headers=headers)
            refused = _send(server, "GET", METRICS, headers=headers)
            assert refused.status_code == unknown.status_code == 404, headers
            assert refused.content == unknown.content
        response = requests.get(server.metrics_url, timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        samples, text = _served_samples(server)
        assert samples[WRONG_PASSWORD] == 1
        assert _workers(server)  # the workers serve the API, the master the metrics
    finally:
        server.stop()


@pytest.mark.served
def test_gunicorn_makes_its_own_metrics_directory_and_removes_it(served_database):
    server = _metrics_server(
        served_database, workers=1, threads=2, PROMETHEUS_MULTIPROC_DIR=""
    ).start()
    try:
        assert _served_login(server, password="wrong-password").status_code == 401
        samples, _ = _served_samples(server)
    finally:
        server.stop()
    assert samples[WRONG_PASSWORD] == 1
    line = next(line for line in server.output if "Metrics of every worker in " in line)
    directory = Path(line.split("Metrics of every worker in ")[1].strip())
    assert directory.name.startswith("flask_api_tutorial-metrics-")
    assert not directory.exists()
