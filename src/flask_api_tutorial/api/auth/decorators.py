"""token_required and admin_token_required: check the bearer token, nothing else."""

from functools import wraps

from flask import current_app, g, request

from flask_api_tutorial import db
from flask_api_tutorial.api.errors import invalid_token, not_admin, unauthorized
from flask_api_tutorial.audit import audit
from flask_api_tutorial.models import BlacklistedToken, User
from flask_api_tutorial.util.jwt_util import (
    TOKEN_BLACKLISTED,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    TokenError,
    decode_access_token,
)


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
        user = _check_access_token()
        if not user.admin:
            raise not_admin()
        return f(*args, **kwargs)

    return decorated


def _check_access_token():
    """Set ``g.current_user`` and ``g.token_claims`` from the bearer token, or raise 401."""
    token = _bearer_token()
    if token is None:
        raise unauthorized()
    try:
        claims = decode_access_token(token, current_app.config["SECRET_KEY"])
    except TokenError as error:
        _reject(error.message)
    # One round trip: the user and whether this token was revoked.
    revoked = db.select(BlacklistedToken.id).filter_by(jti=claims["jti"]).exists()
    row = db.session.execute(db.select(User, revoked).filter_by(public_id=claims["sub"])).first()
    if row is None:
        _reject(TOKEN_INVALID, reason="unknown_user")
    user, is_revoked = row
    if is_revoked:
        _reject(TOKEN_BLACKLISTED, public_id=user.public_id)
    if claims.get("ver", 0) != user.token_version:
        # Issued before "log out everywhere" or a password change.
        _reject(TOKEN_BLACKLISTED, reason="superseded", public_id=user.public_id)
    g.current_user = user
    g.token_claims = claims
    return user


def _reject(message, reason=None, public_id=None):
    """Audit a refused token (the reason stays here), then answer the contract's 401."""
    audit("token_rejected", reason=reason or _REASONS[message], public_id=public_id)
    raise invalid_token(message)


_REASONS = {TOKEN_EXPIRED: "expired", TOKEN_BLACKLISTED: "blacklisted", TOKEN_INVALID: "invalid"}


def _bearer_token():
    """Return the credentials of an ``Authorization: Bearer`` header, else None."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials
