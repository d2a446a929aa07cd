"""token_required and admin_token_required: check the bearer token, nothing else."""

from functools import wraps

from flask import current_app, g, request

from flask_api_tutorial.api.errors import not_admin, token_refused, unauthorized
from flask_api_tutorial.audit import audit
from flask_api_tutorial.models import User
from flask_api_tutorial.util.jwt_util import TokenError, decode_access_token


def token_required(f):
    """Let the request through only with a valid, unrevoked token of an existing user."""

    @wraps(f)
    def decorated(*args, **kwargs):
        _check_access_token()
        return f(*args, **kwargs)

    return decorated


def admin_token_required(f):
    """Like token_required, and the user must be an administrator in the database."""

    @wraps(f)
    def decorated(*args, **kwargs):
        if not _check_access_token().admin:
            raise not_admin()
        return f(*args, **kwargs)

    return decorated


def _check_access_token():
    """Set and return ``g.current_user`` (a User), and ``g.token_claims``; or 401."""
    token = _bearer_token()
    if token is None:
        raise unauthorized()
    try:
        config = current_app.config
        claims = decode_access_token(
            token, config["ACCESS_TOKEN_KEYS"], config["ACCESS_TOKEN_SCOPE"]
        )
        user = User.find_by_access_token(claims)
    except TokenError as error:
        audit("token_rejected", reason=error.kind, public_id=error.public_id)
        raise token_refused(error.kind) from None
    g.current_user = user
    g.token_claims = claims
    return user


def _bearer_token():
    """Return the credentials of an ``Authorization: Bearer`` header, else None."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials


def token_optional(f):
    """Check a bearer token if the request has one (401 if it fails); else g.current_user is None.

    For requests that take either a token or a body naming the account.
    """

    @wraps(f)
    def decorated(*args, **kwargs):
        if _bearer_token() is None:
            g.current_user = None
        else:
            _check_access_token()
        return f(*args, **kwargs)

    return decorated
