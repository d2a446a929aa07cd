"""Prometheus metrics: requests by route template, and the auth events operators watch.

Off unless METRICS_ENABLED. The API's own port never serves them: under gunicorn,
workers write their counts to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode), and gunicorn's master serves their sum on a listener of its own,
METRICS_ADDRESS (gunicorn.conf.py), which no proxy in front of the API reaches,
however it is configured.

Labels take few values: the route's template (``/api/v1/widgets/<name>``, never
the path a client sent; ``<unmatched>`` for every unknown path), a known method,
the status code, a known reason.
"""

import time

from flask import request
from prometheus_client import Counter, Histogram

from flask_api_tutorial.util import jwt_util

UNMATCHED_ROUTE = "<unmatched>"
STARTED_KEY = "flask_api_tutorial.metrics_started"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching the app to its response, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REGISTRATIONS = Counter("auth_registrations", "Accounts registered.")
LOGINS = Counter(
    "auth_logins",
    "Login attempts by result: success, or why it failed "
    "(unknown_email, wrong_password, password_changed).",
    ["result"],
)
TOKEN_REJECTIONS = Counter(
    "auth_token_rejections",
    "Access tokens refused (401), by reason: expired, revoked, invalid, unknown_user, superseded.",
    ["reason"],
)
RATE_LIMIT_HITS = Counter(
    "auth_rate_limit_hits",
    "Requests refused by a rate limit (429), by endpoint and limit.",
    ["endpoint", "limit"],
)
REFRESH_REUSE = Counter(
    "auth_refresh_token_reuse",
    "Used-up refresh tokens presented again: a stolen token replayed (its login is ended).",
)
LOGOUTS = Counter("auth_logouts", "Logouts (one token, or one login with its refresh token).")
LOGOUT_ALL = Counter("auth_logout_all", "Log-outs everywhere (every token of the user).")
PASSWORD_CHANGES = Counter("auth_password_changes", "Passwords changed.")
PASSWORD_RESETS = Counter("auth_password_resets", "Passwords set with a mailed reset token.")
EMAIL_VERIFICATIONS = Counter("auth_email_verifications", "Addresses verified by mail.")
MAILS_REQUESTED = Counter(
    "auth_mails_requested",
    "Mails asked for (202), by kind: password_reset, verify_email; whatever the address.",
    ["kind"],
)
ACCOUNT_TOKEN_REJECTIONS = Counter(
    "auth_account_token_rejections",
    "Mailed tokens refused (400), by purpose and reason: unknown (forged, expired, used "
    "before), superseded (the password changed), used (a concurrent use won).",
    ["purpose", "reason"],
)
SESSIONS_ENDED = Counter("auth_sessions_ended", "Sessions ended one by one (DELETE /sessions).")
MAIL_MESSAGES = Counter(
    "mail_messages",
    "Outbox messages handled by a sender, by kind and result: sent, retry (an attempt "
    "failed, tried again later), failed (every attempt failed), dropped (nothing to send).",
    ["kind", "result"],
)

LOGIN_RESULTS = ("success", "unknown_email", "wrong_password", "password_changed", "unverified")
MAIL_KINDS = ("password_reset", "verify_email", "password_changed")
MAIL_RESULTS = ("sent", "retry", "failed", "dropped")
TOKEN_REJECTION_REASONS = (
    jwt_util.EXPIRED,
    jwt_util.REVOKED,
    jwt_util.INVALID,
    jwt_util.UNKNOWN_USER,
    jwt_util.SUPERSEDED,
)
REUSED = "reused"  # the refresh_rejected reason that means reuse detected

# Every series an alert may watch exists from the start, at 0: rate() then sees the
# first event, instead of a series that appears with it.
for _result in LOGIN_RESULTS:
    LOGINS.labels(_result)
for _reason in TOKEN_REJECTION_REASONS:
    TOKEN_REJECTIONS.labels(_reason)
for _kind in MAIL_KINDS:
    for _mail_result in MAIL_RESULTS:
        MAIL_MESSAGES.labels(_kind, _mail_result)


def init_app(app):
    """Count every request of ``app``, when METRICS_ENABLED."""
    if not app.config["METRICS_ENABLED"]:
        return
    app.before_request(_start_timer)
    app.after_request(_count_response)


def count_audit_event(event, fields):
    """Count an audit event (audit.audit calls this for every event it logs)."""
    if event == "registered":
        REGISTRATIONS.inc()
    elif event == "login":
        LOGINS.labels("success").inc()
    elif event == "login_failed":
        LOGINS.labels(fields.get("reason")).inc()
    elif event == "token_rejected":
        TOKEN_REJECTIONS.labels(fields.get("reason")).inc()
    elif event == "rate_limited":
        RATE_LIMIT_HITS.labels(fields.get("endpoint"), fields.get("limit")).inc()
    elif event == "refresh_rejected" and fields.get("reason") == REUSED:
        REFRESH_REUSE.inc()
    elif event == "logout":
        LOGOUTS.inc()
    elif event == "logout_all":
        LOGOUT_ALL.inc()
    elif event == "password_changed":
        PASSWORD_CHANGES.inc()
    elif event == "password_reset":
        PASSWORD_RESETS.inc()
    elif event == "email_verified":
        EMAIL_VERIFICATIONS.inc()
    elif event == "password_reset_requested":
        MAILS_REQUESTED.labels("password_reset").inc()
    elif event == "verification_requested":
        MAILS_REQUESTED.labels("verify_email").inc()
    elif event == "account_token_rejected":
        ACCOUNT_TOKEN_REJECTIONS.labels(fields.get("purpose"), fields.get("reason")).inc()
    elif event == "session_ended":
        SESSIONS_ENDED.inc()


def count_mail(kind, result):
    """Count one outbox message handled by a sender (mail.py), by kind and result."""
    MAIL_MESSAGES.labels(kind, result).inc()


def _start_timer():
    request.environ[STARTED_KEY] = time.perf_counter()


def _count_response(response):
    rule = request.url_rule
    route = rule.rule if rule is not None else UNMATCHED_ROUTE
    method = request.method if request.method in METHODS else "other"
    HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
    started = request.environ.get(STARTED_KEY)
    if started is not None:
        HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)
    return response
