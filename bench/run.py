"""Benchmark the API against a bare Flask view, and check the performance targets.

    .venv/bin/python bench/run.py                 # SQLite, the full run (about 13 min)
    DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/run.py   # also PostgreSQL
    .venv/bin/python bench/run.py --quick         # about a second per phase (the test)
    ... bench/run.py --databases postgresql       # PostgreSQL's targets only

Everything runs on 127.0.0.1 and stops by itself. Servers are gunicorn with the
project's gunicorn.conf.py; the "same settings" comparisons use 1 gthread worker
with 4 threads pinned to CPU 0 and wrk (1 thread, 4 connections) pinned to CPU 1,
alternating API and bare runs so that the machine's drift hits both alike.
Prints one table per target and writes the figures to bench/results/<time>.json.
"""

import argparse
import http.client
import json
import os
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bcrypt

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SECRET_KEY = "benchmark-secret-key-0123456789abcdef0123456789"
EMAIL = "bench@example.com"
PASSWORD = "correct-horse-battery"
WRK = shutil.which("wrk")
TASKSET = shutil.which("taskset") if (os.cpu_count() or 1) >= 2 else None
WIDGETS_SMALL = 100  # targets 6 and 7: the small table
WIDGETS_LARGE = 100_000  # target 6 and the deep page (--quick: 2,000)
WIDGETS_PER_PAGE = 10


# Servers


class Server:
    """A gunicorn process on a loopback port; stop() ends it and only it."""

    def __init__(self, port, env, app_spec=None, cpu=None, workers=1, threads=4):
        """Prepare the command and environment; start() runs it."""
        command = [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
        if app_spec:
            command += ["--chdir", str(ROOT / "bench"), app_spec]
        if cpu is not None and TASKSET:
            command = [TASKSET, "-c", str(cpu), *command]
        self.command = command
        self.port = port
        self.env = {
            **os.environ,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_ACCESS_LOG": "",
            "GUNICORN_LOG_LEVEL": "warning",
            **env,
        }
        self.process = None

    def start(self):
        """Start and wait until a request is answered."""
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/")
                connection.getresponse().read()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.command}") from None
                time.sleep(0.1)  # waiting for a port to open, not for a token to expire
        self.stop()
        raise RuntimeError("server did not start")

    def worker_pids(self):
        """Return the PIDs of this server's worker processes."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self):
        """Terminate gracefully, then by force."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def api_env(database_url, **settings):
    """Return the production-like environment of the API under test."""
    return {
        "FLASK_CONFIG": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        # One address for every server of a run: a token of one is another's too.
        "PUBLIC_BASE_URL": "http://127.0.0.1",
        "RATELIMIT_ENABLED": "false",  # load tests only, as the README says
        "BCRYPT_LOG_ROUNDS": "4",
        # Mails (verifications of registrations) are written and sent as in production,
        # to the console backend: the server's stdout, which goes nowhere.
        "MAIL_BACKEND": "console",
        **{name: str(value) for name, value in settings.items()},
    }


def prepare_database(database_url):
    """Build the schema (empty) in ``database_url`` with the migrations, as operators do."""
    sys.path.insert(0, str(ROOT / "src"))
    from flask_migrate import upgrade

    from flask_api_tutorial import create_app, db
    from flask_api_tutorial.database import dispose_engines

    drop_tables(database_url)
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.session.remove()
        dispose_engines()


def drop_tables(database_url):
    """Drop the benchmark's tables, and the migrations' record."""
    from flask_api_tutorial import create_app, db
    from flask_api_tutorial.database import dispose_engines

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        dispose_engines()


def fill_blacklist(database_url, rows):
    """Insert ``rows`` revoked-token rows directly (not through the API)."""
    from flask_api_tutorial import create_app, db
    from flask_api_tutorial.database import dispose_engines

    # No statement timeout: a million-row insert is expected to take a while.
    app = create_app(
        "testing", {"SQLALCHEMY_DATABASE_URI": database_url, "DB_STATEMENT_TIMEOUT_MS": 0}
    )
    with app.app_context(), db.engine.begin() as connection:
        if db.engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "INSERT INTO token_blacklist (jti, blacklisted_on, expires_at) "
                "SELECT md5(i::text), now(), now() + interval '1 hour' "
                f"FROM generate_series(1, {int(rows)}) AS i"
            )
            connection.exec_driver_sql("ANALYZE token_blacklist")
        else:
            connection.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                f"WHERE i < {int(rows)}) "
                "INSERT INTO token_blacklist (jti, blacklisted_on, expires_at) "
                "SELECT printf('%032x', i), datetime('now'), datetime('now', '+1 hour') FROM n"
            )
            connection.exec_driver_sql("ANALYZE")
    with app.app_context():
        dispose_engines()


def _bench_app(database_url):
    """Return an app bound to ``database_url`` for direct SQL (no statement timeout)."""
    from flask_api_tutorial import create_app

    return create_app(
        "testing", {"SQLALCHEMY_DATABASE_URI": database_url, "DB_STATEMENT_TIMEOUT_MS": 0}
    )


def make_admin(database_url, email=EMAIL):
    """Make the registered user ``email`` an administrator, directly with SQL."""
    from sqlalchemy import text

    from flask_api_tutorial import db
    from flask_api_tutorial.database import dispose_engines

    app = _bench_app(database_url)
    with app.app_context():
        with db.engine.begin() as connection:
            changed = connection.execute(
                text("UPDATE site_user SET admin = :admin WHERE email = :email"),
                {"admin": True, "email": email},
            ).rowcount
        dispose_engines()
    assert changed == 1, f"no user {email} to make admin"


def fill_widgets(database_url, rows, email=EMAIL):
    """Replace every widget by ``rows`` widgets owned by ``email``, inserted in bulk.

    Directly with SQL, not through the API: TRUNCATE (PostgreSQL) or DELETE, one
    INSERT ... SELECT over generated numbers, and the table is analysed. Widget ``i``
    is ``widget-<i>``, created ``rows - i`` seconds ago, with a deadline 30 days
    ahead at 23:59:59 UTC, as the API stores one. Returns seconds.
    """
    from sqlalchemy import text

    from flask_api_tutorial import db
    from flask_api_tutorial.database import dispose_engines

    start = time.monotonic()
    app = _bench_app(database_url)
    params = {"rows": int(rows), "email": email}
    with app.app_context():
        with db.engine.begin() as connection:
            if db.engine.dialect.name == "postgresql":
                # The servers hold no transaction between runs; never wait forever.
                connection.execute(text("SET LOCAL lock_timeout = '10s'"))
                connection.execute(text("TRUNCATE widget RESTART IDENTITY"))
                connection.execute(
                    text(
                        "INSERT INTO widget "
                        "(name, name_lower, info_url, created_at, deadline, owner_id) "
                        "SELECT 'widget-' || i, 'widget-' || i, "
                        "'https://example.com/widgets/widget-' || i, "
                        "date_trunc('second', now()) - (:rows - i) * interval '1 second', "
                        "date_trunc('day', now()) + interval '30 days 23:59:59', "
                        "(SELECT id FROM site_user WHERE email = :email) "
                        "FROM generate_series(1, :rows) AS i"
                    ),
                    params,
                )
            else:
                connection.execute(text("DELETE FROM widget"))
                connection.execute(
                    text(
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                        "WHERE i < :rows) "
                        "INSERT INTO widget "
                        "(name, name_lower, info_url, created_at, deadline, owner_id) "
                        "SELECT 'widget-' || i, 'widget-' || i, "
                        "'https://example.com/widgets/widget-' || i, "
                        "strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || (:rows - i) || ' seconds')"
                        " || '.000000', "
                        "strftime('%Y-%m-%d', 'now', '+30 days') || ' 23:59:59.000000', "
                        "(SELECT id FROM site_user WHERE email = :email) FROM n"
                    ),
                    params,
                )
            connection.execute(text("ANALYZE widget"))
        dispose_engines()
    return time.monotonic() - start


# Clients


def request(port, method, path, body=None, token=None, connection=None):
    """Send one request; return (status, parsed JSON body, seconds)."""
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    start = time.perf_counter()
    connection.request(method, path, body=json.dumps(body) if body else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - start
    if own:
        connection.close()
    return response.status, json.loads(data) if data else None, elapsed


def register_and_login(port):
    """Register the benchmark user; return its access token."""
    status, body, _ = request(
        port, "POST", "/api/v1/auth/register", {"email": EMAIL, "password": PASSWORD}
    )
    if status == 409:
        status, body, _ = request(
            port, "POST", "/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD}
        )
    assert status in (200, 201), (status, body)
    return body["access_token"]


def admin_login(port, database_url):
    """Register the benchmark user, make it an admin with SQL; return a fresh token."""
    register_and_login(port)
    make_admin(database_url)
    status, body, _ = request(
        port, "POST", "/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD}
    )
    assert status == 200, (status, body)
    return body["access_token"]  # a token issued to the administrator


def create_widget_through_api(port, token):
    """POST one widget as the admin (201): the admin flag took; the list counts it."""
    deadline = (datetime.now(timezone.utc) + timedelta(days=30)).date().isoformat()
    body = {"name": "bench-widget", "info_url": "https://example.com/bench", "deadline": deadline}
    status, answer, _ = request(port, "POST", "/api/v1/widgets", body, token)
    assert status == 201, (status, answer)
    check_widget_list(port, token, 1)


def check_widget_list(port, token, rows, page=1):
    """GET ``page``: 200, ``rows`` in the body and in Total-Count, the page's widgets."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", widgets_path(page), headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200, (response.status, body)
    assert body["total_items"] == rows, (body["total_items"], rows)
    assert response.getheader("Total-Count") == str(rows), response.getheader("Total-Count")
    assert response.getheader("Link"), "no Link header"
    expected = max(0, min(WIDGETS_PER_PAGE, rows - (page - 1) * WIDGETS_PER_PAGE))
    assert len(body["items"]) == expected, (page, len(body["items"]), expected)


def widgets_path(page):
    """Return the list request for ``page`` of WIDGETS_PER_PAGE widgets."""
    return f"/api/v1/widgets?page={page}&per_page={WIDGETS_PER_PAGE}"


def _warmup(args):
    """Return how long a warm-up loads: a second, or a run's length when that is shorter."""
    return min(1, args.duration)


def load(port, path, seconds, token=None, connections=4, cpu=1, latency=False):
    """Load ``path`` for ``seconds``; return {rps, requests, p50_ms, p99_ms}.

    wrk when installed (pinned to ``cpu``; whole seconds), else, or for less than a
    second (--quick), a small Python load generator. Any status other than 200 fails
    the run: a fast error is no throughput.
    """
    url = f"http://127.0.0.1:{port}{path}"
    if WRK and seconds >= 1:
        command = [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
        if token:
            command[1:1] = ["-H", f"Authorization: Bearer {token}"]
        if TASKSET and cpu is not None:
            command = [TASKSET, "-c", str(cpu), *command]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        if "Non-2xx" in output or "Socket errors" in output:
            raise RuntimeError(f"unexpected responses from {path}:\n{output}")
        requests = int(re.search(r"(\d+) requests in", output).group(1))
        return {
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "requests": requests,
            "p50_ms": _wrk_ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
            "p99_ms": _wrk_ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
            "tool": "wrk",
        }
    return _python_load(port, path, seconds, token, connections)


def _wrk_ms(value):
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _python_load(port, path, seconds, token, connections):
    deadline = time.monotonic() + seconds
    latencies = queue.Queue()

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            status, _, elapsed = request(port, "GET", path, token=token, connection=connection)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")
            latencies.put(elapsed)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(connections)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    values = sorted(latencies.queue)
    return {
        "rps": len(values) / (time.monotonic() - start),
        "requests": len(values),
        "p50_ms": values[len(values) // 2] * 1000,
        "p99_ms": values[int(len(values) * 0.99)] * 1000,
        "tool": "python",
    }


# Targets


def user_vs_bare(database_url, args, label):
    """Target 1: GET /auth/user against the bare view, same settings, alternating."""
    api = Server(8601, api_env(database_url), cpu=0).start()
    bare = Server(8602, {}, app_spec="bare_app:app", cpu=0).start()
    try:
        token = register_and_login(api.port)
        load(api.port, "/api/v1/auth/user", _warmup(args), token)  # warm-up
        load(bare.port, "/bare", _warmup(args))
        pairs = []
        for _ in range(args.rounds):
            user = load(api.port, "/api/v1/auth/user", args.duration, token)
            plain = load(bare.port, "/bare", args.duration)
            pairs.append({"user_rps": user["rps"], "bare_rps": plain["rps"]})
        ratio = statistics.median(p["user_rps"] / p["bare_rps"] for p in pairs)
        target = 0.45 if label == "sqlite" else 0.33
        return {"pairs": pairs, "ratio": ratio, "target": f">= {target}", "ok": ratio >= target}
    finally:
        api.stop()
        bare.stop()


def login_cost(database_url, args):
    """Target 2: login and register at production cost against bcrypt itself."""
    rounds = 4 if args.quick else 12
    tries = 5 if args.quick else 30
    api = Server(8611, api_env(database_url, BCRYPT_LOG_ROUNDS=rounds), cpu=0).start()
    try:
        request(api.port, "GET", "/api/v1/health")
        register, login, checkpw, hashpw = [], [], [], []
        salt_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds))
        for index in range(tries):
            body = {"email": f"cost{index}@example.com", "password": PASSWORD}
            status, _, elapsed = request(api.port, "POST", "/api/v1/auth/register", body)
            assert status == 201, status
            register.append(elapsed)
            status, _, elapsed = request(api.port, "POST", "/api/v1/auth/login", body)
            assert status == 200, status
            login.append(elapsed)
            start = time.perf_counter()
            bcrypt.checkpw(PASSWORD.encode(), salt_hash)
            checkpw.append(time.perf_counter() - start)
            start = time.perf_counter()
            bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds))
            hashpw.append(time.perf_counter() - start)
        medians = {
            name: statistics.median(values) * 1000
            for name, values in {
                "login_ms": login,
                "checkpw_ms": checkpw,
                "register_ms": register,
                "hashpw_ms": hashpw,
            }.items()
        }
        login_ratio = medians["login_ms"] / medians["checkpw_ms"]
        register_ratio = medians["register_ms"] / medians["hashpw_ms"]
        return {
            "bcrypt_rounds": rounds,
            "tries": tries,
            **medians,
            "login_ratio": login_ratio,
            "register_ratio": register_ratio,
            "target": "<= 1.05 each",
            "ok": login_ratio <= 1.05 and register_ratio <= 1.05,
        }
    finally:
        api.stop()


def login_concurrency(database_url, args):
    """Target 3: logins use every core; /auth/user stays fast while logins run."""
    rounds = 4 if args.quick else 12
    seconds = args.duration
    cores = os.cpu_count() or 1
    # The production settings: gunicorn.conf.py's defaults (a worker per core).
    api = Server(
        8621, api_env(database_url, BCRYPT_LOG_ROUNDS=rounds), workers=cores, threads=4
    ).start()
    try:
        token = register_and_login(api.port)
        one = _login_throughput(api.port, 1, seconds)
        many = _login_throughput(api.port, 2 * cores, seconds)
        stop = threading.Event()
        loggers = [
            threading.Thread(target=_login_forever, args=(api.port, stop)) for _ in range(2)
        ]
        for thread in loggers:
            thread.start()
        try:
            user = load(api.port, "/api/v1/auth/user", seconds, token, connections=1, cpu=None)
        finally:
            stop.set()
            for thread in loggers:
                thread.join()
        ratio = many / one
        return {
            "workers": cores,
            "one_client_logins_per_s": one,
            "concurrent_clients": 2 * cores,
            "concurrent_logins_per_s": many,
            "ratio": ratio,
            "user_p99_ms_during_logins": user["p99_ms"],
            "target": "ratio >= 1.8, p99 < 50 ms",
            "ok": ratio >= 1.8 and user["p99_ms"] < 50,
        }
    finally:
        api.stop()


def _login_throughput(port, clients, seconds):
    deadline = time.monotonic() + seconds
    counts = []

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        done = 0
        while time.monotonic() < deadline:
            status, _, _ = request(
                port,
                "POST",
                "/api/v1/auth/login",
                {"email": EMAIL, "password": PASSWORD},
                connection=connection,
            )
            assert status == 200, status
            done += 1
        counts.append(done)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - start)


def _login_forever(port, stop):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = {"email": EMAIL, "password": PASSWORD}
    while not stop.is_set():
        request(port, "POST", "/api/v1/auth/login", body, connection=connection)
    connection.close()


def blacklist_scale(database_url, args):
    """Target 4: GET /auth/user with a large revoked-token table, against empty."""
    rows = 10_000 if args.quick else 1_000_000
    api = Server(8631, api_env(database_url), cpu=0).start()
    try:
        token = register_and_login(api.port)
        load(api.port, "/api/v1/auth/user", _warmup(args), token)
        empty = [load(api.port, "/api/v1/auth/user", args.duration, token) for _ in range(2)]
        start = time.monotonic()
        fill_blacklist(database_url, rows)
        fill_seconds = time.monotonic() - start
        load(api.port, "/api/v1/auth/user", _warmup(args), token)
        full = [load(api.port, "/api/v1/auth/user", args.duration, token) for _ in range(2)]
        empty_rps = statistics.mean(r["rps"] for r in empty)
        full_rps = statistics.mean(r["rps"] for r in full)
        change = full_rps / empty_rps - 1
        return {
            "rows": rows,
            "fill_seconds": fill_seconds,
            "empty_rps": empty_rps,
            "full_rps": full_rps,
            "change": change,
            "target": "within 10 %",
            "ok": abs(change) <= 0.10 or full_rps > empty_rps,
        }
    finally:
        api.stop()


def memory(database_url, args):
    """Target 5: one worker's RSS after 100,000 requests against after 1,000."""
    early, late = (100, 400) if args.quick else (1_000, 100_000)
    api = Server(8641, api_env(database_url), cpu=0).start()
    try:
        token = register_and_login(api.port)
        (worker,) = api.worker_pids()
        served = _serve(api.port, token, early)
        rss_early = _rss_kib(worker)
        served += _serve(api.port, token, late - served)
        rss_late = _rss_kib(worker)
        growth = rss_late / rss_early - 1
        return {
            "requests_early": early,
            "rss_early_kib": rss_early,
            "requests_late": served,
            "rss_late_kib": rss_late,
            "growth": growth,
            "target": "within 10 %",
            "ok": growth <= 0.10,
        }
    finally:
        api.stop()


def _serve(port, token, count):
    """Send at least ``count`` GET /auth/user requests (wrk in short bursts)."""
    served = 0
    while served < count:
        seconds = max(1, min(10, int((count - served) / 800) + 1))
        served += load(port, "/api/v1/auth/user", seconds, token)["requests"]
    return served


def _rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def widgets_scale(database_url, args, label):
    """Target 6 and the deep page: the widget list with 100,000 widgets against 100.

    One server (the same settings as target 1); each round fills the table with 100
    widgets and loads page 1, then refills it with 100,000 and loads page 1 and the
    deep page (the middle of the table), so that the machine's drift hits both alike.
    """
    large = 2_000 if args.quick else WIDGETS_LARGE
    deep_page = large // WIDGETS_PER_PAGE // 2  # 100,000 rows: page 5000
    api = Server(8651, api_env(database_url), cpu=0).start()
    try:
        token = admin_login(api.port, database_url)
        create_widget_through_api(api.port, token)
        rounds, fill_seconds = [], []
        for _ in range(args.rounds):
            sizes = {}
            for rows in (WIDGETS_SMALL, large):
                fill_seconds.append(fill_widgets(database_url, rows))
                check_widget_list(api.port, token, rows)
                load(api.port, widgets_path(1), _warmup(args), token)  # warm-up
                sizes[rows] = load(api.port, widgets_path(1), args.duration, token)
            check_widget_list(api.port, token, large, deep_page)
            deep = load(api.port, widgets_path(deep_page), args.duration, token)
            rounds.append({"small": sizes[WIDGETS_SMALL], "large": sizes[large], "deep": deep})
        ratio = statistics.median(r["large"]["rps"] / r["small"]["rps"] for r in rounds)

        def median(kind, figure):
            return statistics.median(r[kind][figure] for r in rounds)

        return {
            "small_rows": WIDGETS_SMALL,
            "large_rows": large,
            "deep_page": deep_page,
            "max_fill_seconds": max(fill_seconds),
            "rounds": rounds,
            "small_rps": median("small", "rps"),
            "large_rps": median("large", "rps"),
            "ratio": ratio,
            # Reported, no floor: counting the table grows with it (a schema anyone can
            # copy over a kept count); so does the deep page, next to page 1.
            "target": "reported",
            "ok": True,
            "page1": {f: median("large", f) for f in ("rps", "p50_ms", "p99_ms")},
            "deep": {f: median("deep", f) for f in ("rps", "p50_ms", "p99_ms")},
        }
    finally:
        api.stop()


def list_vs_bare(database_url, args, label):
    """Target 7: the widget list (100 widgets) against the bare view, as target 1."""
    api = Server(8661, api_env(database_url), cpu=0).start()
    bare = Server(8662, {}, app_spec="bare_app:app", cpu=0).start()
    try:
        token = admin_login(api.port, database_url)
        fill_widgets(database_url, WIDGETS_SMALL)
        check_widget_list(api.port, token, WIDGETS_SMALL)
        load(api.port, widgets_path(1), _warmup(args), token)  # warm-up
        load(bare.port, "/bare", _warmup(args))
        pairs = []
        for _ in range(args.rounds):
            listed = load(api.port, widgets_path(1), args.duration, token)
            plain = load(bare.port, "/bare", args.duration)
            pairs.append({"list_rps": listed["rps"], "bare_rps": plain["rps"]})
        ratio = statistics.median(p["list_rps"] / p["bare_rps"] for p in pairs)
        return {
            "rows": WIDGETS_SMALL,
            "pairs": pairs,
            "ratio": ratio,
            "target": ">= 0.15",
            "ok": ratio >= 0.15,
        }
    finally:
        api.stop()
        bare.stop()


def eddsa_vs_hs256(database_url, args, label):
    """Target 8: GET /auth/user with EdDSA-signed tokens against HS256, alternating.

    Two API servers on one database, target 1's settings: one signs with SECRET_KEY
    (HS256), the other with a fresh Ed25519 key. Also reported: what verifying one
    token costs in-process with each (a token is verified once per process; the
    verified-token cache serves its later requests, for both alike).
    """
    sys.path.insert(0, str(ROOT / "src"))
    from flask_api_tutorial.util import key_util

    folder = tempfile.mkdtemp()
    key_file = Path(folder) / "eddsa.pem"
    key_file.write_bytes(key_util.generate_private_key(key_util.EDDSA)[0])
    hs256 = Server(8681, api_env(database_url), cpu=0).start()
    eddsa_env = api_env(database_url, JWT_ALGORITHM=key_util.EDDSA, JWT_PRIVATE_KEY_FILE=key_file)
    eddsa = Server(8682, eddsa_env, cpu=0)
    try:
        eddsa.start()
        hs256_token = register_and_login(hs256.port)
        eddsa_token = register_and_login(eddsa.port)
        for port, token in ((hs256.port, hs256_token), (eddsa.port, eddsa_token)):
            load(port, "/api/v1/auth/user", _warmup(args), token)  # warm-up
        pairs = []
        for _ in range(args.rounds):
            signed = load(eddsa.port, "/api/v1/auth/user", args.duration, eddsa_token)
            secret = load(hs256.port, "/api/v1/auth/user", args.duration, hs256_token)
            pairs.append({"eddsa_rps": signed["rps"], "hs256_rps": secret["rps"]})
        ratio = statistics.median(p["eddsa_rps"] / p["hs256_rps"] for p in pairs)
        return {
            "pairs": pairs,
            "ratio": ratio,
            "target": ">= 0.9",
            "ok": ratio >= 0.9,
            "verify_us": {
                "hs256": _verify_microseconds(hs256_token, SECRET_KEY),
                "eddsa": _verify_microseconds(eddsa_token, _public_key(eddsa_token, eddsa.port)),
            },
        }
    finally:
        hs256.stop()
        eddsa.stop()
        shutil.rmtree(folder)


def metrics_on_vs_off(database_url, args, label):
    """Target 9: GET /auth/user with METRICS_ENABLED=true against false, alternating.

    Two API servers on one database, target 1's settings; the one with metrics
    counts every request in prometheus_client's multiprocess files, as in production.
    """
    off = Server(8691, api_env(database_url), cpu=0).start()
    metrics_address = "127.0.0.1:8693"  # the master's listener (gunicorn.conf.py)
    on = Server(
        8692,
        api_env(database_url, METRICS_ENABLED="true", METRICS_ADDRESS=metrics_address),
        cpu=0,
    )
    try:
        on.start()
        token = register_and_login(off.port)
        for port in (off.port, on.port):
            load(port, "/api/v1/auth/user", _warmup(args), token)  # warm-up
        connection = http.client.HTTPConnection(*metrics_address.split(":"), timeout=60)
        connection.request("GET", "/metrics")
        scraped = connection.getresponse()
        assert scraped.status == 200 and b"http_requests_total" in scraped.read(), scraped.status
        connection.close()
        pairs = []
        for _ in range(args.rounds):
            counted = load(on.port, "/api/v1/auth/user", args.duration, token)
            plain = load(off.port, "/api/v1/auth/user", args.duration, token)
            pairs.append({"on_rps": counted["rps"], "off_rps": plain["rps"]})
        ratio = statistics.median(p["on_rps"] / p["off_rps"] for p in pairs)
        return {"pairs": pairs, "ratio": ratio, "target": ">= 0.9", "ok": ratio >= 0.9}
    finally:
        off.stop()
        on.stop()


def _public_key(token, port):
    """Return the key that verifies ``token``, from the server's JWKS."""
    import jwt

    _, keys, _ = request(port, "GET", "/.well-known/jwks.json")
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in keys["keys"] if key["kid"] == kid]
    return jwt.PyJWK(jwk).key


def _verify_microseconds(token, key, count=2000):
    """Return the median time of one full signature check of ``token`` (µs), uncached."""
    import jwt

    algorithm = jwt.get_unverified_header(token)["alg"]
    options = {"verify_exp": False, "verify_aud": False}  # the signature is what is timed
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(count):
            jwt.decode(token, key, algorithms=[algorithm], options=options)
        times.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(times)


# Reporting


def _table(title, rows):
    print(f"\n{title}", flush=True)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        if isinstance(value, float):
            value = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        print(f"  {name:<{width}}  {value}", flush=True)


def report_user_vs_bare(users, label):
    """Print target 1's table."""
    rows = [
        (f"round {i + 1}: user / bare rps", f"{p['user_rps']:.0f} / {p['bare_rps']:.0f}")
        for i, p in enumerate(users["pairs"])
    ]
    rows += [("median ratio", users["ratio"]), ("target", users["target"])]
    rows += [("met", users["ok"])]
    _table(f"[1] GET /auth/user vs bare Flask ({label})", rows)


def report_widgets_scale(widgets, label):
    """Print target 6's table and the deep-page figures."""
    small, large = widgets["small_rows"], widgets["large_rows"]
    rows = [
        (
            f"round {i + 1}: {large:,} / {small:,} rows rps",
            f"{r['large']['rps']:.0f} / {r['small']['rps']:.0f}",
        )
        for i, r in enumerate(widgets["rounds"])
    ]
    rows += [("median ratio", widgets["ratio"]), ("target", widgets["target"])]
    rows += [("met", widgets["ok"]), ("slowest fill (s)", widgets["max_fill_seconds"])]
    _table(f"[6] GET /widgets page 1, {large:,} widgets vs {small:,} ({label})", rows)
    rows = [
        (
            f"page {page} rps, p50 / p99 ms",
            f"{figures['rps']:.0f}, {figures['p50_ms']:.2f} / {figures['p99_ms']:.2f}",
        )
        for page, figures in ((1, widgets["page1"]), (widgets["deep_page"], widgets["deep"]))
    ]
    _table(f"[deep page] GET /widgets, {large:,} widgets, no target ({label})", rows)


def report_list_vs_bare(listed, label):
    """Print target 7's table."""
    rows = [
        (f"round {i + 1}: list / bare rps", f"{p['list_rps']:.0f} / {p['bare_rps']:.0f}")
        for i, p in enumerate(listed["pairs"])
    ]
    rows += [("median ratio", listed["ratio"]), ("target", listed["target"])]
    rows += [("met", listed["ok"])]
    _table(f"[7] GET /widgets ({listed['rows']} widgets) vs bare Flask ({label})", rows)


def report_eddsa_vs_hs256(signed, label):
    """Print target 8's table."""
    rows = [
        (f"round {i + 1}: EdDSA / HS256 rps", f"{p['eddsa_rps']:.0f} / {p['hs256_rps']:.0f}")
        for i, p in enumerate(signed["pairs"])
    ]
    rows += [("median ratio", signed["ratio"]), ("target", signed["target"])]
    rows += [("met", signed["ok"])]
    verify = signed["verify_us"]
    rows += [
        ("one uncached verify, µs", f"EdDSA {verify['eddsa']:.1f}, HS256 {verify['hs256']:.1f}")
    ]
    _table(f"[8] GET /auth/user, EdDSA tokens vs HS256 ({label})", rows)


def report_metrics_on_vs_off(counted, label):
    """Print target 9's table."""
    rows = [
        (f"round {i + 1}: metrics on / off rps", f"{p['on_rps']:.0f} / {p['off_rps']:.0f}")
        for i, p in enumerate(counted["pairs"])
    ]
    rows += [("median ratio", counted["ratio"]), ("target", counted["target"])]
    rows += [("met", counted["ok"])]
    _table(f"[9] GET /auth/user, metrics on vs off ({label})", rows)


REPORTS = {
    "metrics_on_vs_off": report_metrics_on_vs_off,
    "eddsa_vs_hs256": report_eddsa_vs_hs256,
    "user_vs_bare": report_user_vs_bare,
    "widgets_scale": report_widgets_scale,
    "list_vs_bare": report_list_vs_bare,
}

TITLES = {
    "blacklist_scale": "[4] revoked-token rows, full against empty",
    "login_cost": "[2] login and register at production cost",
    "login_concurrency": "[3] logins on every core, production settings",
    "memory": "[5] worker memory",
}


def main():
    """Run the targets and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--rounds", type=int, default=3, help="A/B alternations")
    parser.add_argument("--quick", action="store_true", help="about a second per phase")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/)")
    parser.add_argument(
        "--targets",
        default="1,2,3,4,5,6,7,8,9",
        help="comma-separated target numbers to run (default: all)",
    )
    parser.add_argument(
        "--databases",
        help="comma-separated, of sqlite and postgresql (default: sqlite, and postgresql "
        "when DATABASE_URL names one); targets 2, 3 and 5 run on SQLite only",
    )
    args = parser.parse_args()
    if args.quick:
        # A smoke run (the test suite's): every code path, no meaningful figure.
        args.duration, args.rounds = 0.3, 1

    results = {
        "date": datetime.now(timezone.utc).isoformat(),
        "cpus": os.cpu_count(),
        "load_tool": "wrk" if WRK else "python",
        "pinned": bool(TASKSET),
        "duration_s": args.duration,
        "rounds": args.rounds,
        "databases": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        databases = {"sqlite": f"sqlite:///{Path(folder) / 'bench.db'}"}
        if os.environ.get("DATABASE_URL", "").startswith("postgresql"):
            databases["postgresql"] = os.environ["DATABASE_URL"]
        if args.databases:
            wanted = args.databases.split(",")
            unknown = set(wanted) - set(databases)
            if unknown:
                parser.error(f"no URL for {', '.join(sorted(unknown))} (set DATABASE_URL)")
            databases = {label: databases[label] for label in wanted}
        output = (
            args.output or ROOT / "bench" / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
        )
        output.parent.mkdir(parents=True, exist_ok=True)

        def record(section, key, label, measure, url):
            prepare_database(url)
            section[key] = measure(url, args, label) if key in REPORTS else measure(url, args)
            if key in REPORTS:
                REPORTS[key](section[key], label)
            else:
                _table(f"{TITLES[key]} ({label})", list(section[key].items()))
            output.write_text(json.dumps(results, indent=2))  # partial figures survive a crash

        targets = set(args.targets.split(","))
        for label, url in databases.items():
            section = results["databases"][label] = {}
            if "1" in targets:
                record(section, "user_vs_bare", label, user_vs_bare, url)
            if "4" in targets:
                record(section, "blacklist_scale", label, blacklist_scale, url)
            if "6" in targets:
                record(section, "widgets_scale", label, widgets_scale, url)
            if "7" in targets:
                record(section, "list_vs_bare", label, list_vs_bare, url)
            if "8" in targets:
                record(section, "eddsa_vs_hs256", label, eddsa_vs_hs256, url)
            if "9" in targets:
                record(section, "metrics_on_vs_off", label, metrics_on_vs_off, url)
            if label != "sqlite":
                drop_tables(url)
        for number, key, measure in (
            ("2", "login_cost", login_cost),
            ("3", "login_concurrency", login_concurrency),
            ("5", "memory", memory),
        ):
            if number in targets and "sqlite" in databases:
                record(results, key, "sqlite", measure, databases["sqlite"])
    output.write_text(json.dumps(results, indent=2))  # also when no target ran
    print(f"\nfigures written to {output}", flush=True)


if __name__ == "__main__":
    main()
