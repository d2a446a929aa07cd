"""The API blueprint: Flask-RESTx at /api/v1, Swagger UI at /api/v1/ui."""

from flask import Blueprint, request
from flask_restx import Api

from flask_api_tutorial.api.account.endpoints import account_ns
from flask_api_tutorial.api.auth.endpoints import auth_ns, jwks
from flask_api_tutorial.api.errors import register_error_handlers
from flask_api_tutorial.api.health.endpoints import health_ns
from flask_api_tutorial.api.widgets.endpoints import widget_ns

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")

AUTHORIZATIONS = {
    "Bearer": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": (
            "Paste the word Bearer, one space, then the access_token from a register "
            "or login response, e.g. `Bearer eyJhbGciOiJIUzI1NiIs...`"
        ),
    }
}

api = Api(
    api_bp,
    version="1.0",
    title="Flask API with JWT-Based Authentication",
    description=(
        "Register and log in for a JWT access token and a refresh token; read "
        "the current user; trade a refresh token for a new pair (each one is used up "
        "by one refresh); log out (revoke this token, and with refresh_token its whole "
        "login), log out everywhere (revoke every token of the user) and change the "
        "password (which also revokes them all). Account: reset a forgotten password and "
        "verify the email address with a token sent by mail, list your sessions (one per "
        "login) and end any of them. Widgets: every logged-in user lists "
        "(paginated) and reads them; administrators create, update and delete them. "
        "Send the access token as "
        "`Authorization: Bearer <token>`. Bodies are accepted as form data or JSON. "
        "Login, registration, password changes and mails are rate-limited (429 with "
        "Retry-After). Tokens name their signing key in the kid header, and their issuer "
        "and audience (iss, aud: this API's address, and its /api/v1); with EdDSA or "
        "RS256 signing, the public keys are at /.well-known/jwks.json (outside this API's "
        "prefix, documented in the README)."
    ),
    doc="/ui",
    authorizations=AUTHORIZATIONS,
)

api.add_namespace(auth_ns, path="/auth")
# Beside the auth routes (one path, /auth), in a room of its own.
api.add_namespace(account_ns, path="/auth")
api.add_namespace(widget_ns, path="/widgets")
api.add_namespace(health_ns, path="/health")

# Bodies under /auth carry tokens or account data, and an answer to a request that
# carried credentials is that user's: no such response is cached, errors and
# unknown routes included.
NO_STORE_PREFIX = f"{api_bp.url_prefix}{auth_ns.path}"
JWKS_PATH = "/.well-known/jwks.json"


def init_app(app):
    """Register the blueprint, the JWKS and the error handlers; keep private answers uncached."""
    app.register_blueprint(api_bp)
    app.add_url_rule(JWKS_PATH, endpoint="jwks", view_func=jwks)
    register_error_handlers(app, api)
    app.after_request(_no_store_if_private)


def _no_store_if_private(response):
    if request.path.startswith(NO_STORE_PREFIX) or "Authorization" in request.headers:
        response.headers["Cache-Control"] = "no-store"
    return response
