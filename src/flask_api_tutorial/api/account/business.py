"""What each account request does: the commits, the aborts and the responses.

Mail is only ever queued here, in the request's transaction (mail.py sends it after
the commit): no answer waits on SMTP or depends on it.
"""

import re
from http import HTTPStatus

from flask import current_app, g
from flask_restx import abort, marshal

from flask_api_tutorial import db, mail
from flask_api_tutorial.api.account.dto import session_model
from flask_api_tutorial.api.auth.business import (
    current_user_for_update,
    finish_password_change,
    revoke_family,
)
from flask_api_tutorial.api.errors import (
    BAD_REQUEST,
    INVALID_ACCOUNT_TOKEN,
    MAIL_DISABLED,
    SESSION_NOT_FOUND,
)
from flask_api_tutorial.audit import audit
from flask_api_tutorial.models import AccountToken, User, UserSession
from flask_api_tutorial.models import account_token as purposes
from flask_api_tutorial.models import mail_message as outbox
from flask_api_tutorial.util.datetime_util import utc_now
from flask_api_tutorial.util.jwt_util import SESSION_CLAIM

RESET_REQUESTED = "If that address is registered, a reset link is on its way."
VERIFICATION_REQUESTED = "If that address needs verifying, a link is on its way."
SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def process_password_reset_request(email):
    """Queue a reset mail for ``email`` and answer 202, the same for every address.

    Whether an account has the address is found out by the sender, after this
    answer: the request does the same work, and takes the same time, either way.
    """
    _require_mail()
    mail.queue(outbox.PASSWORD_RESET, email)
    db.session.commit()
    mail.notify()
    audit("password_reset_requested", email=email)
    return {"status": "success", "message": RESET_REQUESTED}, HTTPStatus.ACCEPTED


def process_password_reset(token, password):
    """Set the password with a mailed token, end every login, and answer a fresh token pair.

    The address is shown to be the user's, so it counts as verified too.
    """
    user = _use_token(token, purposes.PASSWORD_RESET)
    if not user.replace_password(password):
        _token_refused(purposes.PASSWORD_RESET, "password_changed")
    user.email_verified = True
    return finish_password_change(user, "password_reset", "successfully reset password")


def process_email_verification(token):
    """Mark the account of a mailed verification token verified."""
    user = _use_token(token, purposes.VERIFY_EMAIL)
    user.email_verified = True
    db.session.commit()
    audit("email_verified", public_id=user.public_id)
    return {"status": "success", "message": "email verified"}, HTTPStatus.OK


def process_verification_resend(email=None):
    """Queue a verification mail for the token's user, or for ``email``; answer 202.

    The same answer for every address: the sender mails only an account that
    exists and is not verified yet.
    """
    _require_mail()
    user = g.get("current_user")
    recipient = user.email if user is not None else email
    if recipient is None:
        abort(
            HTTPStatus.BAD_REQUEST,
            BAD_REQUEST,
            errors={"email": "email is required without a Bearer token"},
        )
    mail.queue(outbox.VERIFY_EMAIL, recipient)
    db.session.commit()
    mail.notify()
    audit("verification_requested", email=recipient)
    return {"status": "success", "message": VERIFICATION_REQUESTED}, HTTPStatus.ACCEPTED


def get_user_sessions():
    """Answer the current user's live logins, newest first, marking the token's own."""
    current = g.token_claims.get(SESSION_CLAIM)
    sessions = db.session.scalars(_live_sessions(g.current_user.id)).all()
    items = [
        {**marshal(session, session_model), "current": session.id == current}
        for session in sessions
    ]
    return {"sessions": items}, HTTPStatus.OK


def process_session_end(session_id):
    """End one live login of the current user: its refresh and access tokens stop at once."""
    if not SESSION_ID.fullmatch(session_id):  # never an id: not even worth a query
        abort(HTTPStatus.NOT_FOUND, SESSION_NOT_FOUND)
    user = current_user_for_update()
    query = _live_sessions(user.id).where(UserSession.id == session_id)
    if db.session.scalar(query) is None:
        db.session.rollback()
        abort(HTTPStatus.NOT_FOUND, SESSION_NOT_FOUND)
    revoke_family(session_id, utc_now())
    db.session.commit()
    audit("session_ended", public_id=user.public_id, session=session_id)
    return "", HTTPStatus.NO_CONTENT


def _live_sessions(user_id):
    return UserSession.live(user_id, utc_now(), current_app.config["REFRESH_TOKEN_LIFETIME"])


def _use_token(token, purpose):
    """Use up the mailed ``token`` of ``purpose``; return its user, locked. Else 400.

    The user's lock first (as every change to a user's sessions takes it), then
    one conditional UPDATE: of two requests with one token, exactly one uses it.
    A token issued before the password last changed is void.
    """
    row = AccountToken.find_usable(token, purpose)
    if row is None:
        _token_refused(purpose, "unknown")
    user = User.lock_by_id(row.user_id)
    if user is None or row.password_version != user.password_version:
        _token_refused(purpose, "superseded")
    if not row.use():
        _token_refused(purpose, "used")
    return user


def _token_refused(purpose, reason):
    db.session.rollback()
    audit("account_token_rejected", purpose=purpose, reason=reason)
    abort(HTTPStatus.BAD_REQUEST, INVALID_ACCOUNT_TOKEN, status="fail")


def _require_mail():
    if not mail.enabled():
        abort(HTTPStatus.SERVICE_UNAVAILABLE, MAIL_DISABLED)
