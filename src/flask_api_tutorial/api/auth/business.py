"""What each auth request does: the commits, the aborts and the responses."""

from http import HTTPStatus

from flask import current_app, g, jsonify
from flask_restx import abort
from sqlalchemy.exc import IntegrityError

from flask_api_tutorial import db
from flask_api_tutorial.api.errors import invalid_token, unauthorized
from flask_api_tutorial.audit import audit
from flask_api_tutorial.config import token_lifetime
from flask_api_tutorial.models import BlacklistedToken, User
from flask_api_tutorial.models.user import check_dummy_password
from flask_api_tutorial.util.datetime_util import (
    format_timedelta_hms,
    from_timestamp,
    utc_now,
)
from flask_api_tutorial.util.jwt_util import TOKEN_BLACKLISTED

LOGIN_FAILED = "email or password does not match"


def process_registration_request(email, password):
    """Create the account and answer 201 with a token, or 409 if the email is taken."""
    user = User(email=email, password=password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # The unique index decides, so two concurrent sign-ups cannot both succeed.
        db.session.rollback()
        if not _email_exists(email):
            raise
        audit("register_failed", reason="already_registered", email=email)
        abort(HTTPStatus.CONFLICT, f"{email} is already registered", status="fail")
    audit("registered", email=email, public_id=user.public_id)
    return _create_auth_successful_response(user, HTTPStatus.CREATED, "successfully registered")


def process_login_request(email, password):
    """Answer 200 with a token, or the same 401 in the same time for any failure."""
    user = db.session.scalar(db.select(User).filter_by(email=email))
    if user is None:
        check_dummy_password(password)
        _login_failed("unknown_email", email)
    if not user.check_password(password):
        _login_failed("wrong_password", email, user.public_id)
    audit("login", email=email, public_id=user.public_id)
    return _create_auth_successful_response(user, HTTPStatus.OK, "successfully logged in")


def get_logged_in_user():
    """Return the current user with the time left on the token that authenticated it."""
    user = g.current_user
    expires_at = from_timestamp(g.token_claims["exp"])
    return {
        "email": user.email,
        "public_id": user.public_id,
        "admin": user.admin,
        "registered_on": user.registered_on,
        "token_expires_in": format_timedelta_hms(expires_at - utc_now()),
    }


def process_logout_request():
    """Revoke the current token by its jti until it expires; a second logout gets 401."""
    claims = g.token_claims
    db.session.add(BlacklistedToken(jti=claims["jti"], expires_at=from_timestamp(claims["exp"])))
    try:
        db.session.commit()
    except IntegrityError:
        # Another request revoked the same token between our check and this insert.
        db.session.rollback()
        raise invalid_token(TOKEN_BLACKLISTED) from None
    audit("logout", public_id=g.current_user.public_id)
    return {"status": "success", "message": "successfully logged out"}, HTTPStatus.OK


def _login_failed(reason, email, public_id=None):
    """Keep the reason in the audit log; the client gets one answer for every reason."""
    audit("login_failed", reason=reason, email=email, public_id=public_id)
    raise unauthorized(LOGIN_FAILED, data={"status": "fail", "message": LOGIN_FAILED})


def _email_exists(email):
    return db.session.scalar(db.select(User.id).filter_by(email=email)) is not None


def _create_auth_successful_response(user, status_code, message):
    lifetime = token_lifetime(current_app.config)
    response = jsonify(
        status="success",
        message=message,
        access_token=user.encode_access_token(),
        token_type="bearer",
        expires_in=int(lifetime.total_seconds()),
    )
    response.status_code = status_code
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
