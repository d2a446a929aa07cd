"""The JSON error shape, and the 401/403 challenges with their WWW-Authenticate header.

Every error path goes through ``error_payload``: validation failures, aborts, unknown
routes, wrong methods, oversized bodies, an unreachable database and unexpected
exceptions, whether Flask-RESTx or Flask itself handles them.
"""

from http import HTTPStatus

from flask import current_app, jsonify, request
from limits.errors import StorageError
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException, InternalServerError

from flask_api_tutorial import db
from flask_api_tutorial.util import jwt_util

INTERNAL_SERVER_ERROR = "Internal server error"
DATABASE_UNAVAILABLE = "Service unavailable: the database cannot be reached."
RATE_LIMIT_STORAGE_UNAVAILABLE = "Service unavailable: the rate-limit counts cannot be reached."
UNAUTHORIZED = "Unauthorized"
NOT_ADMIN = "You are not an administrator"
LOGIN_FAILED = "email or password does not match"
ACCOUNT_LOCKED = "Too many failed logins for this account. Try again later."
TOO_MANY_REQUESTS = "Too many requests from this address. Try again later."
BAD_REQUEST = "Input payload validation failed"
EMAIL_NOT_VERIFIED = "email address not verified"
MAIL_DISABLED = "Mail is not configured on this server."
INVALID_ACCOUNT_TOKEN = "Invalid or expired token."
SESSION_NOT_FOUND = "session not found"

# The tutorial's three messages for a refused access token, by TokenError.kind:
# a token revoked by logout, logout-all or a password change reads "blacklisted".
TOKEN_EXPIRED = "Access token expired. Please log in again."
TOKEN_BLACKLISTED = "Token blacklisted. Please log in again."
TOKEN_INVALID = "Invalid token. Please log in again."
TOKEN_MESSAGES = {
    jwt_util.EXPIRED: TOKEN_EXPIRED,
    jwt_util.REVOKED: TOKEN_BLACKLISTED,
    jwt_util.SUPERSEDED: TOKEN_BLACKLISTED,
    jwt_util.INVALID: TOKEN_INVALID,
    jwt_util.UNKNOWN_USER: TOKEN_INVALID,
}
# A refused refresh token: expired, presented again after use, or anything else.
REFRESH_EXPIRED = "Refresh token expired. Please log in again."
REFRESH_REUSED = "Refresh token already used. Please log in again."
REFRESH_INVALID = "Invalid refresh token. Please log in again."
REUSED = "reused"

# Headers that belong to werkzeug's HTML error page, not to our JSON one.
_DROPPED_HEADERS = {"content-type", "content-length"}


class ApiChallenge(HTTPException):
    """A 401 or 403 whose WWW-Authenticate header is built as RFC 6750 describes."""

    def __init__(self, code, message, realm, error=None, data=None):
        """Keep what the response needs: status, body and challenge parameters."""
        super().__init__(description=message)
        self.code = code
        self.realm = realm
        self.error = error
        self.data = data or {"message": message}

    def get_headers(self, environ=None, scope=None):
        """Return the challenge header (werkzeug 3 passes both arguments)."""
        challenge = f'Bearer realm="{self.realm}"'
        if self.error:
            challenge += f', error="{self.error}", error_description="{self.description}"'
        return [("WWW-Authenticate", challenge)]


def unauthorized(message=UNAUTHORIZED, error=None, data=None):
    """Return the 401 for a missing (``error=None``) or a refused token."""
    realm = current_app.config["WWW_AUTH_REALM"]
    return ApiChallenge(HTTPStatus.UNAUTHORIZED, message, realm, error, data)


def invalid_token(message):
    """Return the 401 for a token that was presented and refused."""
    return unauthorized(message, error="invalid_token")


def token_refused(kind):
    """Return the 401 for an access token refused for ``kind`` (a TokenError.kind)."""
    return invalid_token(TOKEN_MESSAGES[kind])


def refresh_refused(kind):
    """Return the 401 for a refresh token refused for ``kind`` (expired, reused, ...)."""
    message = {jwt_util.EXPIRED: REFRESH_EXPIRED, REUSED: REFRESH_REUSED}.get(kind)
    return invalid_token(message or REFRESH_INVALID)


def login_failed():
    """Return the 401 of a failed login: one answer, whatever the reason."""
    return unauthorized(LOGIN_FAILED, data={"status": "fail", "message": LOGIN_FAILED})


def not_admin():
    """Return the 403 for a valid token whose user is not an administrator."""
    realm = current_app.config["WWW_AUTH_ADMIN_REALM"]
    return ApiChallenge(HTTPStatus.FORBIDDEN, NOT_ADMIN, realm, "insufficient_scope")


def error_payload(error):
    """Return (body, status, Headers) for any exception raised while handling a request."""
    if isinstance(error, InternalServerError) and error.original_exception is not None:
        # Raised outside a view (an after_request hook): Flask passes it on wrapped.
        error = error.original_exception
    if isinstance(error, HTTPException):
        headers = Headers(
            [
                (name, value)
                for name, value in error.get_headers()
                if name.lower() not in _DROPPED_HEADERS
            ]
        )
        body = getattr(error, "data", None) or {
            "message": error.description or HTTPStatus(error.code).phrase
        }
        return body, error.code, headers
    if isinstance(error, StorageError):
        return (
            {"message": RATE_LIMIT_STORAGE_UNAVAILABLE},
            HTTPStatus.SERVICE_UNAVAILABLE,
            Headers(),
        )
    # A failed statement leaves the session unusable until it is rolled back.
    _rollback_session()
    if _is_database_unavailable(error):
        return {"message": DATABASE_UNAVAILABLE}, HTTPStatus.SERVICE_UNAVAILABLE, Headers()
    return {"message": INTERNAL_SERVER_ERROR}, HTTPStatus.INTERNAL_SERVER_ERROR, Headers()


def error_response(error):
    """Return the JSON response of ``error``, for code that must answer outside a handler."""
    body, status, headers = error_payload(error)
    response = jsonify(body)
    response.status_code = status
    response.headers.extend(headers)
    return response


def _rollback_session():
    try:
        db.session.rollback()
    except SQLAlchemyError:
        # The connection is gone; the pool replaces it on the next checkout.
        pass


def _is_database_unavailable(error):
    """Tell a lost or refused database connection from a bug in a statement."""
    if isinstance(error, PoolTimeoutError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError)


def register_error_handlers(app, api):
    """Send every error, from Flask-RESTx resources or from Flask, through error_payload."""

    def handle_flask_error(error):
        response = error_response(error)
        # Flask logged the exception it wrapped (see error_payload) before calling us.
        unlogged = getattr(error, "original_exception", None) is None
        if response.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR and unlogged:
            # Flask-RESTx logs its own 5xx; Flask leaves handled ones to us.
            app.logger.error("%s: %s", request.path, response.status_code, exc_info=error)
        return response

    def handle_restx_error(error):
        # Flask-RESTx lists error handlers in the OpenAPI document's "responses",
        # with this docstring as the description, which Swagger 2.0 requires.
        """Any error: a JSON body with a message, as in api/errors.py."""
        if isinstance(error, StorageError):
            # Answered by Flask's handler instead (Flask-RESTx hands it on when its
            # handler raises): unreachable counts may be found in Flask-Limiter's
            # after_request hook, and only Flask's path then runs the other hooks
            # (request id, CORS, security headers) on the 503.
            raise error
        return error_payload(error)

    app.register_error_handler(Exception, handle_flask_error)
    api.errorhandler(Exception)(handle_restx_error)
