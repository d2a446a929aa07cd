"""The auth namespace's resources: parse the request, call the business, document it."""

from http import HTTPStatus

from flask import abort, current_app, g, jsonify, request
from flask_limiter.util import get_remote_address
from flask_restx import Namespace, Resource

from flask_api_tutorial.api.auth.business import (
    get_logged_in_user,
    process_login_request,
    process_logout_all_request,
    process_logout_request,
    process_password_change_request,
    process_refresh_request,
    process_registration_request,
)
from flask_api_tutorial.api.auth.decorators import token_required
from flask_api_tutorial.api.auth.dto import (
    auth_reqparser,
    login_reqparser,
    logout_reqparser,
    password_reqparser,
    refresh_reqparser,
    token_model,
    user_model,
)
from flask_api_tutorial.api.dto import (
    BODY_ERRORS,
    RATE_LIMITED,
    SERVER_ERRORS,
    TOKEN_ERRORS,
    error_model,
    register_models,
    status_model,
)
from flask_api_tutorial.api.errors import ACCOUNT_LOCKED, TOO_MANY_REQUESTS
from flask_api_tutorial.api.ratelimits import limit
from flask_api_tutorial.util.key_util import HS256

auth_ns = Namespace(name="auth", validate=True)
register_models(auth_ns, token_model, user_model)


# Rate limits (api/ratelimits.py answers them).
def _limit(setting, scope, key_func, message, failed_only=False):
    """Limit to the RATELIMIT_* ``setting`` per key; count only 401s if ``failed_only``."""
    return limit(setting, scope, key_func, message, _is_failed_login if failed_only else None)


def _is_failed_login(response):
    return response.status_code == HTTPStatus.UNAUTHORIZED


def _login_account_key():
    """Key logins by the email as registration stores it (validated and normalised).

    The body is parsed here first (once: the resource gets the same result), so an
    invalid body is a 400 before any count is touched.
    """
    return f"login-account:{login_reqparser.parse_args()['email']}"


def _password_change_key():
    return f"password-change:{g.current_user.public_id}"


login_address_limit = _limit(
    "RATELIMIT_LOGIN_ADDRESS", "login-address", get_remote_address, TOO_MANY_REQUESTS
)
login_account_limit = _limit(
    "RATELIMIT_LOGIN_ACCOUNT", "login-account", _login_account_key, ACCOUNT_LOCKED, True
)
login_account_attempts_limit = _limit(
    "RATELIMIT_LOGIN_ACCOUNT_ATTEMPTS",
    "login-account-attempts",
    _login_account_key,
    ACCOUNT_LOCKED,
)
register_address_limit = _limit(
    "RATELIMIT_REGISTER_ADDRESS", "register-address", get_remote_address, TOO_MANY_REQUESTS
)
password_change_limit = _limit(
    "RATELIMIT_LOGIN_ACCOUNT", "password-change", _password_change_key, ACCOUNT_LOCKED, True
)


@auth_ns.route("/register", endpoint="auth_register")
class RegisterUser(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/register."""

    @auth_ns.expect(auth_reqparser)
    @auth_ns.doc(
        responses={
            int(HTTPStatus.CREATED): ("New user was successfully created.", token_model),
            int(HTTPStatus.CONFLICT): ("Email address is already registered.", status_model),
            **BODY_ERRORS,
            **RATE_LIMITED,
            **SERVER_ERRORS,
        }
    )
    @register_address_limit
    def post(self):
        """Register a new user and return an access token."""
        request_data = auth_reqparser.parse_args()
        return process_registration_request(
            email=request_data["email"], password=request_data["password"]
        )


@auth_ns.route("/login", endpoint="auth_login")
class LoginUser(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/login."""

    @auth_ns.expect(login_reqparser)
    @auth_ns.doc(
        responses={
            int(HTTPStatus.OK): ("Login succeeded.", token_model),
            int(HTTPStatus.UNAUTHORIZED): ("email or password does not match.", status_model),
            **BODY_ERRORS,
            **RATE_LIMITED,
            **SERVER_ERRORS,
        }
    )
    @login_address_limit
    @login_account_attempts_limit
    @login_account_limit
    def post(self):
        """Authenticate an existing user and return an access token."""
        request_data = login_reqparser.parse_args()
        return process_login_request(
            email=request_data["email"], password=request_data["password"]
        )


@auth_ns.route("/user", endpoint="auth_user")
class GetUser(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/user."""

    @auth_ns.doc(
        security="Bearer",
        responses={
            int(HTTPStatus.OK): ("Token is currently valid.", user_model),
            **TOKEN_ERRORS,
        },
    )
    @token_required
    def get(self):
        """Validate access token and return user info."""
        return get_logged_in_user()


@auth_ns.route("/logout", endpoint="auth_logout")
class LogoutUser(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/logout."""

    @auth_ns.expect(logout_reqparser)
    @auth_ns.doc(
        security="Bearer",
        responses={
            int(HTTPStatus.OK): ("Log out succeeded, token is no longer valid.", status_model),
            **TOKEN_ERRORS,
            **BODY_ERRORS,
        },
    )
    @token_required
    def post(self):
        """Add token to blacklist, deauthenticating the current user.

        With the optional refresh_token, its whole family is revoked too.
        """
        refresh_token = None
        if request.content_length or request.mimetype:
            refresh_token = logout_reqparser.parse_args().get("refresh_token")
        return process_logout_request(refresh_token)


@auth_ns.route("/refresh", endpoint="auth_refresh")
class RefreshTokens(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/refresh."""

    @auth_ns.expect(refresh_reqparser)
    @auth_ns.doc(
        responses={
            int(HTTPStatus.OK): ("New access and refresh tokens.", token_model),
            int(HTTPStatus.UNAUTHORIZED): (
                "Refresh token invalid, expired, revoked or already used.",
                error_model,
            ),
            **BODY_ERRORS,
            **SERVER_ERRORS,
        }
    )
    def post(self):
        """Trade a refresh token for a new token pair; the old refresh token is used up.

        Presenting a used-up refresh token again revokes every refresh token of its
        login (its family). Of two concurrent refreshes with one token, one succeeds
        and the other counts as reuse.
        """
        request_data = refresh_reqparser.parse_args()
        return process_refresh_request(request_data["refresh_token"])


@auth_ns.route("/logout-all", endpoint="auth_logout_all")
class LogoutAll(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/logout-all."""

    @auth_ns.doc(
        # The operationId clients were generated with, before the class was renamed.
        id="post_logout_everywhere",
        security="Bearer",
        responses={
            int(HTTPStatus.OK): ("Every token of this user is revoked.", status_model),
            **TOKEN_ERRORS,
        },
    )
    @token_required
    def post(self):
        """Log out everywhere: revoke every access and refresh token issued so far."""
        return process_logout_all_request()


@auth_ns.route("/password", endpoint="auth_password")
class ChangePassword(Resource):
    """Handles HTTP requests to URL: /api/v1/auth/password."""

    @auth_ns.expect(password_reqparser)
    @auth_ns.doc(
        security="Bearer",
        responses={
            int(HTTPStatus.OK): ("Password changed; a fresh token pair.", token_model),
            int(HTTPStatus.UNAUTHORIZED): (
                "Token refused, or current password does not match.",
                status_model,
            ),
            **BODY_ERRORS,
            **RATE_LIMITED,
            **SERVER_ERRORS,
        },
    )
    @token_required
    @password_change_limit
    def put(self):
        """Change the password; every other token of the user stops working."""
        request_data = password_reqparser.parse_args()
        return process_password_change_request(
            request_data["current_password"], request_data["new_password"]
        )


def jwks():
    """GET /.well-known/jwks.json: the public keys that verify access tokens (RFC 7517).

    At the host root (RFC 8615), where other services' JWT libraries look, so not
    in the Swagger docs (the README documents it). Signer and retired keys alike,
    public parts only; with HS256 there is nothing to publish, a secret never is: 404.
    """
    config = current_app.config
    if config["JWT_ALGORITHM"] == HS256:
        abort(HTTPStatus.NOT_FOUND)
    response = jsonify(config["ACCESS_TOKEN_KEYS"].jwks)
    response.headers["Cache-Control"] = f"public, max-age={config['JWKS_MAX_AGE_SECONDS']}"
    return response
