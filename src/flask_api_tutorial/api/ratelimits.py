"""Rate limits on the endpoints attackers hit: keys, limits and the 429 answer.

Each login costs a bcrypt check by design, so login is limited per client address
(all attempts) and per account (failed attempts, and all attempts with a looser
limit that concurrent bursts cannot pass), registration per address, and
password changes per account (wrong current passwords, as failed logins).
The limits are read from the config on each request; Flask-Limiter counts them in
memory, or in Redis when RATELIMIT_STORAGE_URI says so.

When the counts cannot be reached (Redis down, silent or flapping), a limited
request answers 503 within RATELIMIT_STORAGE_OPTIONS' timeouts: a login is never
checked without its counts, and no request can make the limiter forget them
(there is no in-memory fallback to switch to).
"""

import time
from functools import wraps
from http import HTTPStatus

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from limits.errors import StorageError

from flask_api_tutorial import limiter
from flask_api_tutorial.api.auth.dto import login_reqparser
from flask_api_tutorial.api.errors import error_response
from flask_api_tutorial.api.parsing import parse_body
from flask_api_tutorial.audit import audit

ACCOUNT_LOCKED = "Too many failed logins for this account. Try again later."
TOO_MANY_REQUESTS = "Too many requests from this address. Try again later."
RETRY_AFTER_KEY = "flask_api_tutorial.retry_after"


def _config_limit(name):
    return lambda: current_app.config[name]


def _login_account_key():
    """Key logins by the account's email, validated and normalised as registration stores it.

    The body is parsed (once) here, so an invalid body is a 400 before any count
    is touched, and only a valid, normalised email ever becomes a storage key.
    """
    return f"login-account:{parse_body(login_reqparser)['email']}"


def _is_failed_login(response):
    return response.status_code == HTTPStatus.UNAUTHORIZED


login_address_limit = limiter.limit(
    _config_limit("RATELIMIT_LOGIN_ADDRESS"),
    key_func=get_remote_address,
    scope="login-address",
    error_message=TOO_MANY_REQUESTS,
)
login_account_limit = limiter.limit(
    _config_limit("RATELIMIT_LOGIN_ACCOUNT"),
    key_func=_login_account_key,
    scope="login-account",
    deduct_when=_is_failed_login,
    error_message=ACCOUNT_LOCKED,
)
login_account_attempts_limit = limiter.limit(
    _config_limit("RATELIMIT_LOGIN_ACCOUNT_ATTEMPTS"),
    key_func=_login_account_key,
    scope="login-account-attempts",
    error_message=ACCOUNT_LOCKED,
)
register_address_limit = limiter.limit(
    _config_limit("RATELIMIT_REGISTER_ADDRESS"),
    key_func=get_remote_address,
    scope="register-address",
    error_message=TOO_MANY_REQUESTS,
)


password_change_limit = limiter.limit(
    _config_limit("RATELIMIT_LOGIN_ACCOUNT"),
    key_func=lambda: f"password-change:{g.current_user.public_id}",
    scope="password-change",
    deduct_when=_is_failed_login,
    error_message=ACCOUNT_LOCKED,
)


def init_app(app):
    """Start counting for ``app``: limits, the breach audit line and Retry-After."""
    app.config["RATELIMIT_ON_BREACH_CALLBACK"] = _on_breach
    hooks = app.after_request_funcs.setdefault(None, [])
    first_new = len(hooks)
    limiter.init_app(app)
    # Flask-Limiter counts failed logins (deduct_when) in an after_request hook; a
    # storage error there must answer 503 like any other, not escape as a 500.
    hooks[first_new:] = [_storage_errors_as_503(hook) for hook in hooks[first_new:]]
    if app.config["RATELIMIT_ENABLED"]:
        app.after_request(_add_retry_after)


def _on_breach(request_limit):
    """Audit a rate-limit hit and note when the client may retry (Flask-Limiter's on_breach).

    Runs while the limits are checked, so reading the window from the storage
    here fails like the check itself (503); the answer never reads the storage.
    """
    retry_after = max(1, int(request_limit.reset_at - time.time()))
    earlier = request.environ.get(RETRY_AFTER_KEY, 0)  # per request, as in parsing.py
    request.environ[RETRY_AFTER_KEY] = max(retry_after, earlier)
    audit("rate_limited", endpoint=request.endpoint, limit=str(request_limit.limit))


def _add_retry_after(response):
    """Tell a limited client when to come back: Retry-After on every 429."""
    retry_after = request.environ.get(RETRY_AFTER_KEY)
    if response.status_code == HTTPStatus.TOO_MANY_REQUESTS and retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _storage_errors_as_503(hook):
    @wraps(hook)
    def guarded(response):
        try:
            return hook(response)
        except StorageError as error:
            current_app.logger.error("rate-limit storage unreachable: %s", error.storage_error)
            return error_response(error)

    return guarded
