"""Rate limits: Flask-Limiter set up for the app, the audit line and the 429 answer.

Which route is limited, by what key and which RATELIMIT_* setting is declared
beside the route (api/auth/endpoints.py, api/account/endpoints.py), with ``limit``.
Each login costs a bcrypt check by design, so login is limited per client address (all attempts)
and per account (failed attempts, and all attempts with a looser limit that
concurrent bursts cannot pass), registration per address, and password changes per
account (wrong current passwords, as failed logins). Flask-Limiter counts in
memory, or in Redis when RATELIMIT_STORAGE_URI says so.

When the counts cannot be reached (Redis down, silent or flapping), a limited
request answers 503 within RATELIMIT_STORAGE_OPTIONS' timeouts (api/errors.py): a
login is never checked without its counts, and no request can make the limiter
forget them (there is no in-memory fallback to switch to). That holds for a failed
login counted once answered too: Flask-Limiter counts it in its after_request hook,
and Flask hands what that raises to its error handler, which answers 503 with
every other hook's headers (api/errors.py).
"""

import time
from http import HTTPStatus

from flask import current_app, request

from flask_api_tutorial import limiter
from flask_api_tutorial.audit import audit

RETRY_AFTER_KEY = "flask_api_tutorial.retry_after"


def limit(setting, scope, key_func, message, deduct_when=None):
    """Return Flask-Limiter's decorator: the RATELIMIT_* ``setting``, per key, in ``scope``.

    The setting is read per request, so tests and operators may change it;
    ``deduct_when`` counts only the responses it accepts.
    """
    return limiter.limit(
        lambda: current_app.config[setting],
        key_func=key_func,
        scope=scope,
        error_message=message,
        deduct_when=deduct_when,
    )


def shared_limit(setting, scope, key_func, message):
    """Like ``limit``, one count for every route it decorates (Flask-Limiter's shared_limit)."""
    return limiter.shared_limit(
        lambda: current_app.config[setting], scope, key_func=key_func, error_message=message
    )


def init_app(app):
    """Start counting for ``app``: limits, the breach audit line and Retry-After."""
    app.config["RATELIMIT_ON_BREACH_CALLBACK"] = _on_breach
    limiter.init_app(app)
    if app.config["RATELIMIT_ENABLED"]:
        app.after_request(_add_retry_after)


def _on_breach(request_limit):
    """Audit a rate-limit hit and note when the client may retry (Flask-Limiter's on_breach).

    Runs while the limits are checked, so reading the window from the storage
    here fails like the check itself (503); the answer never reads the storage.
    """
    retry_after = max(1, int(request_limit.reset_at - time.time()))
    earlier = request.environ.get(RETRY_AFTER_KEY, 0)  # per request, as parsed bodies
    request.environ[RETRY_AFTER_KEY] = max(retry_after, earlier)
    audit("rate_limited", endpoint=request.endpoint, limit=str(request_limit.limit))


def _add_retry_after(response):
    """Tell a limited client when to come back: Retry-After on every 429."""
    retry_after = request.environ.get(RETRY_AFTER_KEY)
    if response.status_code == HTTPStatus.TOO_MANY_REQUESTS and retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response
