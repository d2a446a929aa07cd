"""gunicorn settings for production; the environment overrides each one.

Start from the project folder: ``gunicorn -c gunicorn.conf.py``. The app is
``run:app``, built from $FLASK_CONFIG (set it to production) like the flask command.
"""

import os
import shutil
import tempfile

from dotenv import load_dotenv
from gunicorn.glogging import Logger

from flask_api_tutorial.config import ConfigError, check_environment
from flask_api_tutorial.util.log_util import escape_controls

# The settings below read the environment, so .env must be loaded first.
load_dotenv()


def _int(name, default):
    return int(os.environ.get(name) or default)


wsgi_app = "run:app"
bind = os.environ.get("GUNICORN_BIND") or "127.0.0.1:8000"

# bcrypt releases the GIL, so threads in one worker hash on several cores at once;
# one worker per core keeps memory low, threads absorb waiting on the database.
workers = _int("WEB_CONCURRENCY", os.cpu_count() or 1)
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)

# With gthread workers this bounds the worker's main loop, not a request: a worker
# whose loop stops notifying the master this long is killed and replaced. A slow
# request thread is never killed; the database's bounds (database.py) end its wait.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5

# What a client sends is never taken for what a proxy says. X-Forwarded-Proto (and
# the like) only from FORWARDED_ALLOW_IPS, the proxies in front (the shipped nginx
# file overwrites what clients send); SCRIPT_NAME and PATH_INFO headers from no one
# (gunicorn's default takes them from those proxies): a path prefix, if any, comes
# from PUBLIC_BASE_URL.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or "127.0.0.1,::1"
forwarder_headers = ""

# Bounded request lines and headers; bodies are bounded by MAX_CONTENT_LENGTH.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190

# GUNICORN_ACCESS_LOG= (empty) turns the access log off.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The default format with the path instead of the request line, so that a query
# string (where a client may wrongly put a password or a token) is never logged;
# plus the time taken in microseconds and the request id (X-Request-ID).
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)sus '
    "request_id=%({x-request-id}o)s"
)
METRICS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
# Made by this master: removed at exit.
_created_directories = []
# The master's metrics listener (METRICS_ADDRESS), when METRICS_ENABLED.
_metrics = {"address": None, "server": None}


class EscapingLogger(Logger):
    """gunicorn's logger, with the control characters of each access-log field escaped.

    The path (%(U)s), the user agent, the referer and any header come from the
    client: a newline there would start a line of the client's writing.
    """

    def atoms(self, resp, req, environ, request_time):
        """Return gunicorn's fields for the access log, every string escaped."""
        fields = super().atoms(resp, req, environ, request_time)
        return {
            key: escape_controls(value) if isinstance(value, str) else value
            for key, value in fields.items()
        }


logger_class = EscapingLogger
proc_name = "flask_api_tutorial"
# No gunicornc control socket: nothing uses it, and several instances on one
# machine would fight over its path.
control_socket_disable = True


def on_starting(server):
    """Refuse to start on a configuration the app refuses, before any worker forks.

    Otherwise each worker would fail to build the app and be replaced, forever,
    while the port stays open and requests hang.
    """
    try:
        config_name, config = check_environment()
    except ConfigError as error:
        raise SystemExit(f"Configuration error: {error}") from None
    if config["METRICS_ENABLED"]:
        _prepare_metrics_directory(server)
        _metrics["address"] = config["METRICS_ADDRESS"]
    if (
        config_name == "production"
        and config["RATELIMIT_ENABLED"]
        and config["RATELIMIT_STORAGE_URI"].startswith("memory://")
    ):
        server.log.warning(
            "RATELIMIT_STORAGE_URI=memory:// counts per process: with %d workers (and every "
            "other instance) each rate limit is allowed %d times over. Set "
            "RATELIMIT_STORAGE_URI=redis://... to share the counts.",
            workers,
            workers,
        )


def _prepare_metrics_directory(server):
    """Give the workers one directory for their metrics, empty, before any of them starts.

    prometheus_client's multiprocess mode: each worker writes its counts to files
    there, /metrics adds them up (those of exited workers too, so counts survive a
    worker's restart). PROMETHEUS_MULTIPROC_DIR names it (one per instance), else
    a temporary one is made and removed at exit.
    """
    directory = os.environ.get(METRICS_DIRECTORY)
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))
    else:
        directory = tempfile.mkdtemp(prefix="flask_api_tutorial-metrics-")
        os.environ[METRICS_DIRECTORY] = directory  # the workers inherit it at fork
        _created_directories.append(directory)
    server.log.info("Metrics of every worker in %s", directory)


def when_ready(server):
    """Serve every worker's metrics on METRICS_ADDRESS, from this master (not the API's port)."""
    if _metrics["address"]:
        # Imported now: prometheus_client reads PROMETHEUS_MULTIPROC_DIR (set by
        # on_starting) when first imported, and the workers inherit the module. The
        # master defines no metric of its own: it only adds up the workers' files.
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        host, _, port = _metrics["address"].rpartition(":")
        _metrics["server"], _ = start_http_server(
            int(port), addr=host.strip("[]"), registry=registry
        )
        server.log.info("Metrics of every worker at http://%s/metrics", _metrics["address"])


def post_fork(server, worker):
    """Close the metrics listener in a worker: only the master answers there."""
    if _metrics["server"] is not None:
        _metrics["server"].socket.close()


def child_exit(server, worker):
    """Mark an exited worker's metrics dead (its counters are kept, its gauges dropped)."""
    if os.environ.get(METRICS_DIRECTORY):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Stop the metrics listener, and remove the temporary metrics directory this server made."""
    if _metrics["server"] is not None:
        _metrics["server"].shutdown()
    for directory in _created_directories:
        shutil.rmtree(directory, ignore_errors=True)
