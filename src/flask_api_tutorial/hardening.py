"""HTTP hardening around the app: proxy trust, links, body size, CORS, headers, no cookies."""

import json
from http import HTTPStatus
from io import BytesIO

from flask import current_app, request
from flask.sessions import SessionInterface
from flask_cors import CORS
from werkzeug.exceptions import SecurityError
from werkzeug.http import parse_set_header
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wsgi import get_host

CORS_ALLOWED_HEADERS = ["Authorization", "Content-Type"]
CORS_METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
# Headers a browser client must be able to read: the challenge, the back-off, the id.
CORS_EXPOSED_HEADERS = ["WWW-Authenticate", "Retry-After", "X-Request-ID"]
UNTRUSTED_HOST = "This server does not answer for that Host."
BAD_CHUNKED_BODY = "The request body is not valid chunked encoding."


def init_app(app):
    """Apply TRUSTED_HOSTS, TRUSTED_PROXY_COUNT, CORS_ORIGINS and the security headers."""
    # A stateless token API: no cookie sessions to open and sign on every request.
    app.session_interface = NoCookieSessions()
    app.wsgi_app = SizedChunkedBodies(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])
    proxies = app.config["TRUSTED_PROXY_COUNT"]
    if proxies:
        # Only then is X-Forwarded-For believed: otherwise a client could pick its
        # own address and escape the per-address rate limits.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    app.wsgi_app = TrustedHosts(app.wsgi_app, app.config["TRUSTED_HOSTS"])
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


def public_url(endpoint, external=False, **values):
    """Return the URL of ``endpoint`` where PUBLIC_BASE_URL places the API.

    A path (with PUBLIC_BASE_URL's prefix, if it has one), or with ``external`` an
    absolute URL. Never shaped by the request: not its Host, nor X-Forwarded-*, nor
    SCRIPT_NAME. Other ``values`` than the rule's become the query, in their order.
    """
    base = current_app.config["PUBLIC_BASE"]
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=external)


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


class TrustedHosts:
    """WSGI middleware: answer 400 JSON to a request for a Host not in ``trusted_hosts``.

    Flask checks TRUSTED_HOSTS while routing, but Flask-RESTx's error handling routes
    the request again and would fail on the same Host: refused here, Flask never
    sees it. The list is Flask's TRUSTED_HOSTS setting (werkzeug matches it, ports
    aside).
    """

    def __init__(self, wsgi_app, trusted_hosts):
        self.wsgi_app = wsgi_app
        self.trusted_hosts = [host.lower() for host in trusted_hosts]

    def __call__(self, environ, start_response):
        """Refuse an untrusted Host, else hand the request on (its Host in lower case)."""
        # Host names are case-insensitive; werkzeug (and Flask) compare them as they are.
        if "HTTP_HOST" in environ:
            environ["HTTP_HOST"] = environ["HTTP_HOST"].lower()
        try:
            get_host(environ, self.trusted_hosts)
        except SecurityError:
            return _json_error(start_response, HTTPStatus.BAD_REQUEST, UNTRUSTED_HOST)
        return self.wsgi_app(environ, start_response)


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
                return _json_error(start_response, HTTPStatus.BAD_REQUEST, BAD_CHUNKED_BODY)
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


def _json_error(start_response, status, message):
    """Answer ``status`` with the JSON error shape, from outside Flask (a WSGI middleware)."""
    body = json.dumps({"message": message}).encode() + b"\n"
    start_response(
        f"{status.value} {status.phrase.upper()}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [body]
