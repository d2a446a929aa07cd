"""token_required and admin_token_required: check the bearer token, nothing else."""

from functools import cache, wraps

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


@cache
def _user_and_revocation():
    """Build once: the token's user (by sub) and whether its jti is revoked."""
    revoked = (
        db.select(BlacklistedToken.id)
        .where(BlacklistedToken.jti == db.bindparam("jti"))
        .exists()
        .label("revoked")
    )
    return db.select(
        User.id,
        User.email,
        User.public_id,
        User.admin,
        User.registered_on,
        User.token_version,
        revoked,
    ).where(User.public_id == db.bindparam("sub"))


def _check_access_token():
    """Set ``g.current_user`` and ``g.token_claims`` from the bearer token, or raise 401.

    ``g.current_user`` is a read-only row (id, email, public_id, admin, registered_on,
    token_version); what needs to change the user loads it through the session.
    """
    token = _bearer_token()
    if token is None:
        raise unauthorized()
    try:
        claims = decode_access_token(token, current_app.config["SECRET_KEY"])
    except TokenError as error:
        _reject(error.message)
    # One statement, outside the ORM session: every authenticated request pays it.
    with db.engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            # No BEGIN/ROLLBACK round trips around a single read (SQLite has none).
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        row = connection.execute(
            _user_and_revocation(), {"sub": claims["sub"], "jti": claims["jti"]}
        ).first()
    if row is None:
        _reject(TOKEN_INVALID, reason="unknown_user")
    user = row  # a read-only row, not an ORM object
    if user.revoked:
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
