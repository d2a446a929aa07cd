"""The account namespace's resources (under /auth): parse, call the business, document it."""

from http import HTTPStatus

from flask import g, request
from flask_limiter.util import get_remote_address
from flask_restx import Namespace, Resource

from flask_api_tutorial.api.account.business import (
    get_user_sessions,
    process_email_verification,
    process_password_reset,
    process_password_reset_request,
    process_session_end,
    process_verification_resend,
)
from flask_api_tutorial.api.account.dto import (
    password_reset_reqparser,
    resend_reqparser,
    reset_confirm_reqparser,
    session_list_model,
    session_model,
    verify_email_reqparser,
)
from flask_api_tutorial.api.auth.decorators import token_optional, token_required
from flask_api_tutorial.api.auth.dto import token_model
from flask_api_tutorial.api.dto import (
    BODY_ERRORS,
    RATE_LIMITED,
    SERVER_ERRORS,
    TOKEN_ERRORS,
    error_model,
    register_models,
    status_model,
)
from flask_api_tutorial.api.errors import TOO_MANY_REQUESTS
from flask_api_tutorial.api.ratelimits import limit, shared_limit

account_ns = Namespace(
    name="account",
    description="Password reset and email verification by mail; the list of one's sessions.",
    validate=True,
)
register_models(account_ns, token_model, session_model, session_list_model)

MAIL_DISABLED_DOC = {
    int(HTTPStatus.SERVICE_UNAVAILABLE): (
        "Mail is not configured on this server (or the database, or the rate-limit "
        "counts, cannot be reached).",
        error_model,
    ),
}
TOKEN_REFUSED_DOC = {
    int(HTTPStatus.BAD_REQUEST): (
        "Invalid or expired token (used, expired, forged or superseded), or a validation error.",
        status_model,
    ),
}


# Mails asked for are counted per client address, and per address mailed to,
# registered or not (the same 429 for any): one count for resets and verifications.
def _mail_account_key():
    if g.get("current_user") is not None:
        return f"mail-account:{g.current_user.email}"
    return f"mail-account:{_body_email() or get_remote_address()}"


def _body_email():
    """Return the body's email, or None (optional in a resend with a Bearer token)."""
    if not (request.content_length or request.mimetype):
        return None
    return resend_reqparser.parse_args().get("email")


mail_address_limit = shared_limit(
    "RATELIMIT_MAIL_ADDRESS", "mail-address", get_remote_address, TOO_MANY_REQUESTS
)
mail_account_limit = shared_limit(
    "RATELIMIT_MAIL_ACCOUNT", "mail-account", _mail_account_key, TOO_MANY_REQUESTS
)
# Using a mailed token sets a password (a bcrypt hash): limited as logins are.
token_address_limit = limit(
    "RATELIMIT_LOGIN_ADDRESS", "mailed-token-address", get_remote_address, TOO_MANY_REQUESTS
)


@account_ns.route("/password-reset", endpoint="auth_password_reset")
class RequestPasswordReset(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/password-reset."""

    @account_ns.expect(password_reset_reqparser)
    @account_ns.doc(
        responses={
            int(HTTPStatus.ACCEPTED): (
                "The same answer for every address; a registered one gets a mail.",
                status_model,
            ),
            **BODY_ERRORS,
            **RATE_LIMITED,
            **SERVER_ERRORS,
            **MAIL_DISABLED_DOC,
        }
    )
    @mail_address_limit
    @mail_account_limit
    def post(self):
        """Mail a password-reset token to the address, if an account has it."""
        request_data = password_reset_reqparser.parse_args()
        return process_password_reset_request(request_data["email"])


@account_ns.route("/password-reset/confirm", endpoint="auth_password_reset_confirm")
class ConfirmPasswordReset(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/password-reset/confirm."""

    @account_ns.expect(reset_confirm_reqparser)
    @account_ns.doc(
        responses={
            int(HTTPStatus.OK): ("Password set; every other session ended.", token_model),
            **BODY_ERRORS,
            **TOKEN_REFUSED_DOC,
            **RATE_LIMITED,
            **SERVER_ERRORS,
        }
    )
    @token_address_limit
    def post(self):
        """Set a new password with a mailed token, and get a fresh token pair.

        The token works once. A password that registration would refuse is a 400
        that leaves the token usable.
        """
        request_data = reset_confirm_reqparser.parse_args()
        return process_password_reset(request_data["token"], request_data["password"])


@account_ns.route("/verify-email", endpoint="auth_verify_email")
class VerifyEmail(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/verify-email."""

    @account_ns.expect(verify_email_reqparser)
    @account_ns.doc(
        responses={
            int(HTTPStatus.OK): ("The address is verified.", status_model),
            **BODY_ERRORS,
            **TOKEN_REFUSED_DOC,
            **RATE_LIMITED,
            **SERVER_ERRORS,
        }
    )
    @token_address_limit
    def post(self):
        """Verify the account's email address with a mailed token."""
        request_data = verify_email_reqparser.parse_args()
        return process_email_verification(request_data["token"])


@account_ns.route("/verify-email/resend", endpoint="auth_verify_email_resend")
class ResendVerification(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/verify-email/resend."""

    @account_ns.expect(resend_reqparser)
    @account_ns.doc(
        # Either a Bearer token or none (then the body's email): {} is "no security".
        security=["Bearer", {}],
        responses={
            int(HTTPStatus.ACCEPTED): (
                "The same answer for every address; an unverified account gets a mail.",
                status_model,
            ),
            int(HTTPStatus.UNAUTHORIZED): ("A Bearer token was sent and refused.", error_model),
            **BODY_ERRORS,
            **RATE_LIMITED,
            **SERVER_ERRORS,
            **MAIL_DISABLED_DOC,
        },
    )
    @token_optional
    @mail_address_limit
    @mail_account_limit
    def post(self):
        """Mail a new verification token: to the Bearer token's user, or to an ``email``.

        Without a Bearer token, the body's email is required.
        """
        return process_verification_resend(None if g.current_user else _body_email())


@account_ns.route("/sessions", endpoint="auth_sessions")
class SessionList(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/sessions."""

    @account_ns.doc(
        security="Bearer",
        responses={
            int(HTTPStatus.OK): ("The user's live sessions, newest first.", session_list_model),
            **TOKEN_ERRORS,
        },
    )
    @token_required
    def get(self):
        """List your sessions: one per login, with the one of this token marked current."""
        return get_user_sessions()


@account_ns.route("/sessions/<session_id>", endpoint="auth_session")
@account_ns.param("session_id", "A session's id, from GET /auth/sessions")
class SessionItem(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/sessions/{session_id}."""

    @account_ns.doc(
        security="Bearer",
        responses={
            int(HTTPStatus.NO_CONTENT): "Session ended: its tokens stop working at once.",
            int(HTTPStatus.NOT_FOUND): ("Not one of your live sessions.", error_model),
            **TOKEN_ERRORS,
        },
    )
    @token_required
    def delete(self, session_id):
        """End one of your sessions: its refresh and access tokens stop working."""
        return process_session_end(session_id)
