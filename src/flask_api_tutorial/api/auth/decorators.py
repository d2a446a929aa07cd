"""token_required and admin_token_required: check the bearer token, nothing else."""

from functools import partial, wraps

from flask import current_app, g, request

from flask_api_tutorial.api.errors import not_admin, token_refused, unauthorized
from flask_api_tutorial.audit import audit
from flask_api_tutorial.models import User
from flask_api_tutorial.util.jwt_util import TokenError, decode_access_token


def token_required(f=None, *, read_along=None):
    """Let the request through only with a valid, unrevoked token of an existing user.

    ``read_along``, if given, returns the view's own read (a ReadAlong), or None
    when the request is bad; it is made in the token check's statement (one round
    trip for both), and the view gets it, rows filled in, as ``read`` (or None).
    """
    if f is None:
        return partial(token_required, read_along=read_along)

    @wraps(f)
    def decorated(*args, **kwargs):
        if read_along is None:
            _check_access_token()
            return f(*args, **kwargs)
        read = read_along()
        _, rows = _check_access_token(read)
        return f(*args, read=None if read is None else read._replace(rows=rows), **kwargs)

    return decorated


def admin_token_required(f):
    """Like token_required, and the user must be an administrator in the database."""

    @wraps(f)
    def decorated(*args, **kwargs):
        user, _ = _check_access_token()
        if not user.admin:
            raise not_admin()
        return f(*args, **kwargs)

    return decorated


def _check_access_token(along=None):
    """Set ``g.current_user`` (a User) and ``g.token_claims`` from the bearer token, or 401.

    Return the user and the rows of ``along`` (a ReadAlong; None without one).
    """
    token = _bearer_token()
    if token is None:
        raise unauthorized()
    try:
        claims = decode_access_token(token, current_app.config["ACCESS_TOKEN_KEYS"])
        user, rows = User.check_access_token(claims, along)
    except TokenError as error:
        audit("token_rejected", reason=error.kind, public_id=error.public_id)
        raise token_refused(error.kind) from None
    g.current_user = user
    g.token_claims = claims
    return user, rows


def _bearer_token():
    """Return the credentials of an ``Authorization: Bearer`` header, else None."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials
