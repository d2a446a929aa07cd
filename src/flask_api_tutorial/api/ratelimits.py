"""Rate limits on the endpoints attackers hit: keys, limits and the 429 answer.

Each login costs a bcrypt check by design, so login is limited per client address
(all attempts) and per account (failed attempts, and all attempts with a looser
limit that concurrent bursts cannot pass), registration per address, and
password changes per account (wrong current passwords, as failed logins).
The limits are read from the config on each request; Flask-Limiter counts them in
memory, or in Redis when RATELIMIT_STORAGE_URI says so.
"""

import time
from http import HTTPStatus

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from flask_api_tutorial import limiter
from flask_api_tutorial.api.parsing import body_field
from flask_api_tutorial.audit import audit

ACCOUNT_LOCKED = "Too many failed logins for this account. Try again later."
TOO_MANY_REQUESTS = "Too many requests from this address. Try again later."


def _config_limit(name):
    return lambda: current_app.config[name]


def _login_account_key():
    """Key failed logins by the account's email, normalised as registration stores it."""
    email = body_field("email")
    if not isinstance(email, str):
        return "login-account:-"
    return f"login-account:{email.strip().lower()}"


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


def audit_breach(request_limit):
    """Write the audit line of a rate-limit hit (Flask-Limiter's on_breach callback)."""
    audit("rate_limited", endpoint=request.endpoint, limit=str(request_limit.limit))


def add_retry_after(response):
    """Tell a limited client when to come back: Retry-After on every 429."""
    current = limiter.current_limit
    if response.status_code == HTTPStatus.TOO_MANY_REQUESTS and current is not None:
        response.headers["Retry-After"] = str(max(1, int(current.reset_at - time.time())))
    return response
