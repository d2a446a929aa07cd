"""HTTP hardening around the API: proxy trust, CORS and security headers."""

from flask import request
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

CORS_ALLOWED_HEADERS = ["Authorization", "Content-Type"]
CORS_METHODS = ["GET", "POST", "PUT", "OPTIONS"]
# Headers a browser client must be able to read: the challenge and the back-off.
CORS_EXPOSED_HEADERS = ["WWW-Authenticate", "Retry-After"]


def init_app(app):
    """Apply TRUSTED_PROXY_COUNT, CORS_ORIGINS and the security headers to ``app``."""
    proxies = app.config["TRUSTED_PROXY_COUNT"]
    if proxies:
        # Only then is X-Forwarded-For believed: otherwise a client could pick its
        # own address and escape the per-address rate limits.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    origins = cors_origins(app.config)
    if origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": origins}},
            allow_headers=CORS_ALLOWED_HEADERS,
            methods=CORS_METHODS,
            expose_headers=CORS_EXPOSED_HEADERS,
            supports_credentials=False,
            max_age=600,
        )
    app.after_request(_security_headers)


def cors_origins(config):
    """Return the origins listed in CORS_ORIGINS (comma or space separated)."""
    return [origin for origin in config["CORS_ORIGINS"].replace(",", " ").split() if origin]


def _security_headers(response):
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.path.startswith("/api/v1/auth"):
        # Bodies under /auth carry tokens or account data: never cache them.
        response.headers["Cache-Control"] = "no-store"
    return response
