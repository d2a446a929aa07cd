"""HTTP hardening around the app: proxy trust, body size, CORS, headers, no cookies."""

from http import HTTPStatus
from io import BytesIO

from flask import request
from flask.sessions import SessionInterface
from flask_cors import CORS
from werkzeug.http import parse_set_header
from werkzeug.middleware.proxy_fix import ProxyFix

CORS_ALLOWED_HEADERS = ["Authorization", "Content-Type"]
CORS_METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
# Headers a browser client must be able to read: the challenge, the back-off, the id.
CORS_EXPOSED_HEADERS = ["WWW-Authenticate", "Retry-After", "X-Request-ID"]


def init_app(app):
    """Apply TRUSTED_PROXY_COUNT, CORS_ORIGINS and the security headers to ``app``."""
    # A stateless token API: no cookie sessions to open and sign on every request.
    app.session_interface = NoCookieSessions()
    app.wsgi_app = SizedChunkedBodies(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])
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
    app.after_request(_harden_response)


def cors_origins(config):
    """Return the origins listed in CORS_ORIGINS (comma or space separated)."""
    return [origin for origin in config["CORS_ORIGINS"].replace(",", " ").split() if origin]


def _harden_response(response):
    """Add the security headers; answer Flask's automatic OPTIONS (empty text/html) as 204."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.method == "OPTIONS" and not response.get_data():
        response.status_code = HTTPStatus.NO_CONTENT
    if response.status_code == HTTPStatus.NO_CONTENT:
        response.headers.pop("Content-Type", None)  # no body, so no type
    return response


class NoCookieSessions(SessionInterface):
    """Never open or save a cookie session: `flask.session` stays a null session."""

    def open_session(self, app, request):
        """Return None, so that Flask uses its null session."""
        return None

    def save_session(self, app, session, response):
        """Set no cookie."""


class SizedChunkedBodies:
    """WSGI middleware: give a chunked request body a Content-Length before Flask reads it.

    Werkzeug stops reading a body without Content-Length at MAX_CONTENT_LENGTH and
    carries on with what it read: a chunked body over the limit would be cut short
    and used, not refused. Buffered here (at most the limit plus one byte), the body
    gets the same 413 as one that declared its length.
    """

    def __init__(self, wsgi_app, max_content_length):
        self.wsgi_app = wsgi_app
        self.max_content_length = max_content_length

    def __call__(self, environ, start_response):
        """Buffer a chunked body, then hand the request on with its length."""
        # The server dechunks (wsgi.input_terminated) and werkzeug would stream it
        # (any Content-Length beside it is ignored, as werkzeug does).
        encoding = environ.get("HTTP_TRANSFER_ENCODING")  # absent on almost every request
        if (
            encoding
            and environ.get("wsgi.input_terminated")
            and "chunked" in parse_set_header(encoding)
        ):
            try:
                body = _read_at_most(environ["wsgi.input"], self.max_content_length + 1)
            except (OSError, ValueError):
                return _bad_chunked_body(start_response)
            environ["wsgi.input"] = BytesIO(body)
            # Over the limit this says limit + 1: werkzeug answers 413 before reading.
            environ["CONTENT_LENGTH"] = str(len(body))
            # Werkzeug ignores Content-Length beside "Transfer-Encoding: chunked".
            environ.pop("HTTP_TRANSFER_ENCODING")
            environ.pop("wsgi.input_terminated", None)
        return self.wsgi_app(environ, start_response)


def _read_at_most(stream, size):
    """Read ``stream`` to its end or to ``size`` bytes, whichever comes first."""
    chunks = []
    while size > 0:
        chunk = stream.read(min(size, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _bad_chunked_body(start_response):
    """Answer 400 JSON for a chunked body the server could not decode (dev server)."""
    body = b'{"message": "The request body is not valid chunked encoding."}\n'
    start_response(
        "400 BAD REQUEST",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [body]
