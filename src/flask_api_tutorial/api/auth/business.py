"""What each auth request does: the commits, the aborts and the responses."""

from http import HTTPStatus

from flask import current_app, g, jsonify, request
from flask_restx import abort
from sqlalchemy.exc import IntegrityError

from flask_api_tutorial import db, mail
from flask_api_tutorial.api.errors import (
    EMAIL_NOT_VERIFIED,
    REUSED,
    login_failed,
    refresh_refused,
    token_refused,
)
from flask_api_tutorial.audit import audit
from flask_api_tutorial.models import BlacklistedToken, RefreshToken, User, UserSession
from flask_api_tutorial.models import mail_message as outbox
from flask_api_tutorial.models.user import check_dummy_password
from flask_api_tutorial.util.datetime_util import (
    format_timedelta_hms,
    from_timestamp,
    utc_now,
)
from flask_api_tutorial.util.jwt_util import (
    REVOKED,
    SUPERSEDED,
    UNKNOWN_USER,
    TokenError,
    decode_refresh_token,
)


def process_registration_request(email, password):
    """Create the account and answer 201 with tokens, or 409 if the email is taken.

    The verification mail is queued in the same transaction (mail.py sends it).
    """
    user = User(email=email, password=password)
    db.session.add(user)
    session, refresh_token = start_session(user)
    mail.queue(outbox.VERIFY_EMAIL, email)
    try:
        db.session.commit()
    except IntegrityError:
        # The unique index decides, so two concurrent sign-ups cannot both succeed.
        db.session.rollback()
        if not _email_exists(email):
            raise
        audit("register_failed", reason="already_registered", email=email)
        abort(HTTPStatus.CONFLICT, f"{email} is already registered", status="fail")
    mail.notify()
    audit("registered", email=email, public_id=user.public_id)
    return create_auth_successful_response(
        user, session, refresh_token, HTTPStatus.CREATED, "successfully registered"
    )


def process_login_request(email, password):
    """Answer 200 with tokens, or the same 401 in the same time for any failure."""
    user = User.find_by_email(email)
    if user is None:
        check_dummy_password(password)
        _login_failed("unknown_email", email)
    if not user.check_password(password):
        _login_failed("wrong_password", email, user.public_id)
    if current_app.config["REQUIRE_VERIFIED_EMAIL"] and not user.email_verified:
        # Only the right password learns this: the others got the 401 above.
        audit("login_failed", reason="unverified", email=email, public_id=user.public_id)
        abort(HTTPStatus.FORBIDDEN, EMAIL_NOT_VERIFIED, status="fail")
    if user.password_needs_rehash():
        _rehash_password(user, email, password)
    session, refresh_token = start_session(user)
    db.session.commit()
    audit("login", email=email, public_id=user.public_id, session=session.id)
    return create_auth_successful_response(
        user, session, refresh_token, HTTPStatus.OK, "successfully logged in"
    )


def _rehash_password(user, email, password):
    """Store ``password`` (just checked) at the cost BCRYPT_LOG_ROUNDS now says, once.

    The old cost, and its timing, must not linger. Concurrent logins race for it:
    one stores the new hash, the others find the hash changed and check the
    password against the stored one again. A rehash of the same password still
    matches, so a right password is never refused; only a real change of the
    password since it was checked refuses this login.
    """
    if user.replace_password(password):
        audit("password_rehashed", public_id=user.public_id)
        return
    db.session.refresh(user)  # the hash another request stored meanwhile
    if not user.check_password(password):
        public_id = user.public_id  # read before the rollback expires the row
        db.session.rollback()
        _login_failed("password_changed", email, public_id)


def process_refresh_request(token):
    """Use up ``token`` and answer a new token pair; a used-up token revokes its family."""
    claims = _decode_refresh_token(token)
    now = utc_now()
    presented = db.session.scalar(db.select(RefreshToken).filter_by(jti=claims["jti"]))
    if presented is None:
        _refresh_refused("unknown", claims)
    # The user's lock first (as logout and password change take it): a logout that
    # revokes this family waits for this refresh, then revokes its new token too.
    user = User.lock_by_id(presented.user_id)
    if user is None:
        db.session.rollback()
        _refresh_refused("unknown", claims)
    # One conditional UPDATE: of two concurrent refreshes, exactly one wins the row.
    used = db.session.execute(
        db.update(RefreshToken)
        .where(
            RefreshToken.jti == claims["jti"],
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    row = presented
    db.session.refresh(row)  # read again after the lock and the UPDATE
    if used.rowcount != 1:
        if row.revoked_at is None:
            # Presented again after use: a thief or a replay. End the whole family.
            revoke_family(row.family_id, now)
            db.session.commit()
            _refresh_refused(REUSED, claims)
        db.session.rollback()
        _refresh_refused("revoked", claims)
    if user.public_id != claims["sub"] or user.token_version != claims["ver"]:
        db.session.rollback()
        _refresh_refused("superseded", claims)
    session = db.session.get(UserSession, row.family_id)
    if session is None:
        # A login from before sessions were recorded: recorded from now on.
        session = UserSession.start(user, *_client(), now=now, session_id=row.family_id)
    elif session.ended_at is not None:
        db.session.rollback()
        _refresh_refused("revoked", claims)
    session.last_used_at = now
    refresh_token = user.encode_refresh_token(session, now=now)
    db.session.commit()
    audit("refresh", public_id=user.public_id, session=session.id)
    return create_auth_successful_response(
        user, session, refresh_token, HTTPStatus.OK, "successfully refreshed"
    )


def get_logged_in_user():
    """Return the current user with the time left on the token that authenticated it.

    The response is built here in the shape of user_model (which documents it),
    not marshalled: every authenticated client calls this, so it stays cheap.
    """
    user = g.current_user
    expires_at = from_timestamp(g.token_claims["exp"])
    return jsonify(
        email=user.email,
        public_id=user.public_id,
        admin=user.admin,
        registered_on=user.registered_on.isoformat(),
        token_expires_in=format_timedelta_hms(expires_at - utc_now()),
        email_verified=user.email_verified,
    )


def process_logout_request(refresh_token=None):
    """Revoke the current token by its jti (and a refresh token's family, if given)."""
    claims = g.token_claims
    family = None
    if refresh_token is not None:
        # Checked before anything changes: a bad refresh token changes nothing.
        family = _owned_refresh_family(refresh_token)
        # Waits for a refresh of this family in flight, so its new token is revoked too.
        current_user_for_update()
    db.session.add(BlacklistedToken(jti=claims["jti"], expires_at=from_timestamp(claims["exp"])))
    try:
        # The insert goes first: a second logout of the same token fails here, on
        # the unique jti, before it changes anything else.
        db.session.flush()
        if family is not None:
            revoke_family(family, utc_now())
        db.session.commit()
    except IntegrityError:
        # Another request revoked the same token between our check and this insert.
        db.session.rollback()
        _token_rejected(REVOKED)
    if family is None:
        audit("logout", public_id=g.current_user.public_id)
    else:
        audit("logout", public_id=g.current_user.public_id, refresh_family=family)
    return {"status": "success", "message": "successfully logged out"}, HTTPStatus.OK


def process_logout_all_request():
    """Revoke every access and refresh token of the current user, on every instance."""
    user = current_user_for_update()
    user.revoke_all_tokens(utc_now())
    db.session.commit()
    audit("logout_all", public_id=user.public_id)
    return {"status": "success", "message": "successfully logged out everywhere"}, HTTPStatus.OK


def process_password_change_request(current_password, new_password):
    """Change the password, end every login of the user, and answer a fresh token pair.

    Mailed tokens issued under the old password stop working, and a notice is
    mailed to the account's address.
    """
    # Locked and freshly read: a concurrent change waits, then checks the new hash.
    user = current_user_for_update()
    # replace_password also refuses if the hash changed after this read (SQLite
    # takes no row lock): of two changes from one current password, one wins.
    if not user.check_password(current_password) or not user.replace_password(new_password):
        public_id = user.public_id  # read before the rollback expires the row
        db.session.rollback()
        audit("password_change_failed", reason="wrong_password", public_id=public_id)
        raise login_failed()
    return finish_password_change(user, "password_changed", "successfully changed password")


def finish_password_change(user, event, message):
    """After a new password (change or reset): end every login, mail a notice, answer.

    Every token of the user stops working, mailed tokens issued under the old
    password too; the answer is a fresh token pair of a new login.
    """
    user.revoke_all_tokens(utc_now(), password_changed=True)
    mail.queue(outbox.PASSWORD_CHANGED, user.email)
    session, refresh_token = start_session(user)
    db.session.commit()
    mail.notify()
    audit(event, public_id=user.public_id)
    return create_auth_successful_response(user, session, refresh_token, HTTPStatus.OK, message)


def start_session(user, now=None):
    """Start a login of ``user`` from this request's client; return it and its refresh token.

    The user agent and the address (behind TRUSTED_PROXY_COUNT's proxies) are the
    ones GET /auth/sessions shows.
    """
    session = UserSession.start(user, *_client(), now=now)
    return session, user.encode_refresh_token(session, now=now)


def _client():
    return request.user_agent.string or None, request.remote_addr


def current_user_for_update():
    """Lock and load the token's user (see User.lock_by_id), and check the token again.

    The user may have been deleted meanwhile, or a logout-all or password change
    that held the lock may have revoked this token: such a request changes nothing.
    """
    user = User.lock_by_id(g.current_user.id)
    if user is None:
        db.session.rollback()
        _token_rejected(UNKNOWN_USER)
    if user.token_version != g.token_claims.get("ver", 0):
        db.session.rollback()
        _token_rejected(SUPERSEDED)
    return user


def _token_rejected(reason):
    """Refuse the token (401) found revoked or superseded while the request waited."""
    # The token's sub, not the user's row: a rollback left it to be read again, and
    # it may be gone.
    audit("token_rejected", reason=reason, public_id=g.token_claims["sub"])
    raise token_refused(reason)


def revoke_family(family_id, now):
    """End one login: revoke its refresh tokens (its family) and its access tokens (sid)."""
    db.session.execute(
        db.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    db.session.execute(
        db.update(UserSession)
        .where(UserSession.id == family_id, UserSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )


def _decode_refresh_token(token, verify_exp=True):
    try:
        config = current_app.config
        return decode_refresh_token(
            token,
            config["REFRESH_TOKEN_KEYS"],
            config["REFRESH_TOKEN_SCOPE"],
            verify_exp=verify_exp,
        )
    except TokenError as error:
        audit("refresh_rejected", reason=error.kind)
        raise refresh_refused(error.kind) from None


def _owned_refresh_family(token):
    """Return the family of a refresh token of the current user (expired ones count)."""
    claims = _decode_refresh_token(token, verify_exp=False)
    if claims["sub"] != g.current_user.public_id:
        _refresh_refused("other_user", claims)
    return claims["fam"]


def _refresh_refused(reason, claims):
    audit("refresh_rejected", reason=reason, family=claims.get("fam"))
    raise refresh_refused(reason)


def _login_failed(reason, email, public_id=None):
    """Keep the reason in the audit log; the client gets one answer for every reason."""
    audit("login_failed", reason=reason, email=email, public_id=public_id)
    raise login_failed()


def _email_exists(email):
    return db.session.scalar(db.select(User.id).filter_by(email=email)) is not None


def create_auth_successful_response(user, session, refresh_token, status_code, message):
    """Answer a new token pair of the login ``session``: the register/login body."""
    config = current_app.config
    response = jsonify(
        status="success",
        message=message,
        access_token=user.encode_access_token(session.id),
        token_type="bearer",
        expires_in=int(config["ACCESS_TOKEN_LIFETIME"].total_seconds()),
        refresh_token=refresh_token,
        refresh_expires_in=int(config["REFRESH_TOKEN_LIFETIME"].total_seconds()),
    )
    response.status_code = status_code
    # Cache-Control: no-store is set for all of /auth (api/__init__.py).
    response.headers["Pragma"] = "no-cache"
    return response
