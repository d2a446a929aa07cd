"""The API blueprint: Flask-RESTx at /api/v1, Swagger UI at /api/v1/ui."""

from flask import Blueprint
from flask_restx import Api

from flask_api_tutorial.api.auth.endpoints import auth_ns
from flask_api_tutorial.api.health.endpoints import health_ns

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
        "Register, log in, read the current user and log out with HS256 JWT access "
        "tokens. Bodies are accepted as form data or JSON."
    ),
    doc="/ui",
    authorizations=AUTHORIZATIONS,
)

api.add_namespace(auth_ns, path="/auth")
api.add_namespace(health_ns, path="/health")
