"""Configuration: the classes' values, the environment's overrides, and their checks.

``init_app`` loads them into app.config once, at start-up, together with the values
derived from them (the token lifetimes as timedeltas, the refresh-token key), which
the rest of the code reads from there: a setting changed in app.config afterwards
does not change what was derived from it.
"""

import ipaddress
import os
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from limits import parse_many
from redis.backoff import NoBackoff
from redis.retry import Retry

from flask_api_tutorial.util import jwt_util, key_util

CONFIG_NAMES = ("development", "testing", "production")
DEFAULT_CONFIG = "development"

# Keys that are public, so production must never sign tokens with them.
DEV_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"
PLACEHOLDER_SECRET_KEYS = frozenset(
    {
        DEV_SECRET_KEY,
        "replace-me-with-the-output-of-python-secrets-token-hex-32",
        "changeme",
        "change-me",
        "secret",
        "secret-key",
        "your-secret-key",
        "open sesame",
    }
)
MIN_SECRET_KEY_BYTES = 32


class ConfigError(RuntimeError):
    """The configuration cannot be used: start-up must stop."""


class Config:
    """Defaults shared by every configuration."""

    SECRET_KEY = DEV_SECRET_KEY
    # Old secrets still accepted for verification during a rotation (newest first).
    SECRET_KEY_FALLBACKS = []
    # HS256 signs with SECRET_KEY; EdDSA or RS256 with JWT_PRIVATE_KEY_FILE, whose
    # public key (and the retired ones in JWT_PUBLIC_KEY_FILES) /.well-known/jwks.json
    # publishes. JWT_ACCEPT_SECRET_KEY: during a switch from HS256, keep accepting
    # tokens signed with SECRET_KEY or a fallback.
    JWT_ALGORITHM = key_util.HS256
    JWT_PRIVATE_KEY_FILE = ""
    JWT_PUBLIC_KEY_FILES = []
    JWT_ACCEPT_SECRET_KEY = False
    JWKS_MAX_AGE_SECONDS = 300
    # Who issues the tokens and for whom (their iss and aud claims). Defaults:
    # PUBLIC_BASE_URL, and its API (PUBLIC_BASE_URL + /api/v1). JWT_AUDIENCE may list
    # several (every other service that accepts our tokens); refresh tokens are for
    # PUBLIC_BASE_URL + /api/v1/auth/refresh only. JWT_UNSCOPED_BEFORE: during an
    # upgrade, the time tokens began to name them; older tokens without iss and aud
    # are accepted until they expire (README: "Upgrading").
    JWT_ISSUER = None
    JWT_AUDIENCE = []
    JWT_UNSCOPED_BEFORE = ""
    TOKEN_EXPIRE_HOURS = 0
    TOKEN_EXPIRE_MINUTES = 15
    TOKEN_EXPIRE_SECONDS = 0
    REFRESH_TOKEN_EXPIRE_DAYS = 30
    BCRYPT_LOG_ROUNDS = 4
    MAX_CONTENT_LENGTH = 64 * 1024
    # None means "an SQLite file in the instance folder", resolved by the factory.
    SQLALCHEMY_DATABASE_URI = None
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Server databases (PostgreSQL): connection pool and time limits, so that a
    # restart of the database heals by itself and a stuck query cannot hang a worker.
    DB_POOL_SIZE = 5
    DB_MAX_OVERFLOW = 5
    DB_POOL_TIMEOUT = 5
    DB_CONNECT_TIMEOUT = 3
    DB_STATEMENT_TIMEOUT_MS = 5000
    # libpq: probe an idle connection after this many seconds, then every interval,
    # and give up after count probes; a command whose packets stay unacknowledged
    # fails after DB_TCP_USER_TIMEOUT_MS (a partition). See database.py.
    DB_KEEPALIVES_IDLE = 30
    DB_KEEPALIVES_INTERVAL = 10
    DB_KEEPALIVES_COUNT = 3
    DB_TCP_USER_TIMEOUT_MS = 5000
    # The watcher that cuts a command unanswered past the statement timeout + 1 s.
    DB_COMMAND_DEADLINE = True
    # A pooled connection idle this long is pinged before use (see database.py).
    DB_PING_AFTER_IDLE_SECONDS = 1
    # Rate limits (Flask-Limiter): declared beside the routes (api/auth/endpoints.py),
    # answered by api/ratelimits.py. Counts live in memory
    # (per process) unless RATELIMIT_STORAGE_URI names Redis.
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_KEY_PREFIX = "flask_api_tutorial"
    RATELIMIT_HEADERS_ENABLED = False
    # Counts that cannot be reached answer 503 (api/ratelimits.py): falling back to
    # per-process memory would hand an attacker fresh counts on every process.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = False
    # A Redis that does not answer within half a second is unreachable; no retries,
    # which would only multiply the wait of every request while Redis is down.
    RATELIMIT_STORAGE_OPTIONS = {
        "wrap_exceptions": True,
        "socket_connect_timeout": 0.5,
        "socket_timeout": 0.5,
        "retry": Retry(NoBackoff(), 0),
    }
    RATELIMIT_LOGIN_ACCOUNT = "5 per minute;100 per hour"
    # Failed logins are counted once answered, so a burst of concurrent guesses
    # passes the check together; all attempts, counted up front, bound such bursts.
    RATELIMIT_LOGIN_ACCOUNT_ATTEMPTS = "20 per minute;300 per hour"
    RATELIMIT_LOGIN_ADDRESS = "30 per minute;500 per hour"
    RATELIMIT_REGISTER_ADDRESS = "10 per minute;100 per hour"
    # Mails asked for (password reset, verification resend): per client address and
    # per address mailed to, whether an account has it or not.
    RATELIMIT_MAIL_ADDRESS = "10 per minute;100 per hour"
    RATELIMIT_MAIL_ACCOUNT = "3 per 10 minutes;20 per day"
    # Mail (mail.py): smtp (production's default), console (messages printed: the
    # default elsewhere) or disabled. Written to the outbox, sent after the commit by
    # a sender that retries MAIL_MAX_ATTEMPTS times, MAIL_RETRY_SECONDS apart and
    # doubling, MAIL_TIMEOUT per attempt.
    MAIL_BACKEND = "console"
    MAIL_SERVER = ""
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_TLS_CA_FILE = ""
    MAIL_USERNAME = ""
    MAIL_PASSWORD = ""
    MAIL_DEFAULT_SENDER = ""  # default: no-reply@ the host of PUBLIC_BASE_URL
    MAIL_TIMEOUT = 10
    MAIL_MAX_ATTEMPTS = 6
    MAIL_RETRY_SECONDS = 30
    MAIL_SEND_IN_BACKGROUND = True
    MAIL_POLL_SECONDS = 10
    # How long `flask purge-tokens` keeps messages that were sent, failed or dropped.
    MAIL_OUTBOX_KEEP_DAYS = 7
    # Mailed tokens: their lifetimes, and the links in the mails ({token} is replaced;
    # default: the API's Swagger UI, where the token is pasted).
    PASSWORD_RESET_EXPIRE_MINUTES = 30
    VERIFY_EMAIL_EXPIRE_HOURS = 24
    PASSWORD_RESET_URL = ""
    VERIFY_EMAIL_URL = ""
    # Refuse logins of accounts whose address is not verified (403).
    REQUIRE_VERIFIED_EMAIL = False
    # How many proxies in front of the app set X-Forwarded-For; 0 trusts none.
    TRUSTED_PROXY_COUNT = 0
    # Where clients reach the API (scheme, host, and a path prefix if any): absolute
    # URLs and link paths are built from it, never from a request's Host,
    # X-Forwarded-* or SCRIPT_NAME. Production refuses to start without it.
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"
    # Flask's: a request for another Host is answered 400. Empty: the host of
    # PUBLIC_BASE_URL, and outside production 127.0.0.1 and localhost too.
    TRUSTED_HOSTS = []
    # Origins allowed to call the API from a browser; empty means no CORS at all.
    CORS_ORIGINS = ""
    # Operators: Prometheus metrics on a listener of gunicorn's master, when enabled
    # (never on the API's port); LOG_FORMAT text (key=value audit lines) or json.
    METRICS_ENABLED = False
    METRICS_ADDRESS = "127.0.0.1:9100"
    LOG_FORMAT = "text"
    WWW_AUTH_REALM = "registered_users@mydomain.com"
    WWW_AUTH_ADMIN_REALM = "admin_users@mydomain.com"
    RESTX_ERROR_404_HELP = False
    RESTX_MASK_SWAGGER = False
    SWAGGER_UI_DOC_EXPANSION = "list"
    SWAGGER_UI_REQUEST_DURATION = True


class DevelopmentConfig(Config):
    """Local development: cheap hashing, short-lived tokens."""


class TestingConfig(Config):
    """Test suite: needs nothing from the environment; 5-second tokens, as the tutorial's."""

    TESTING = True
    TOKEN_EXPIRE_MINUTES = 0
    TOKEN_EXPIRE_SECONDS = 5
    SECRET_KEY = "testing-secret-key-that-is-at-least-32-bytes-long"
    # Tests of the limits turn them on; the rest would trip over them.
    RATELIMIT_ENABLED = False
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    # Flask's test client asks for http://localhost.
    PUBLIC_BASE_URL = "http://localhost"
    # Tests send the outbox themselves (mail.deliver_due), when they mean to.
    MAIL_SEND_IN_BACKGROUND = False


class ProductionConfig(Config):
    """Production: real bcrypt cost, one-hour tokens, a secret key from the environment."""

    SECRET_KEY = None
    PUBLIC_BASE_URL = None
    MAIL_BACKEND = "smtp"
    TOKEN_EXPIRE_HOURS = 1
    TOKEN_EXPIRE_MINUTES = 0
    BCRYPT_LOG_ROUNDS = 12


_CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}

_STRING_SETTINGS = (
    "SECRET_KEY",
    "JWT_ALGORITHM",
    "JWT_PRIVATE_KEY_FILE",
    "JWT_ISSUER",
    "JWT_UNSCOPED_BEFORE",
    "DATABASE_URL",
    "RATELIMIT_STORAGE_URI",
    "RATELIMIT_KEY_PREFIX",
    "RATELIMIT_LOGIN_ACCOUNT",
    "RATELIMIT_LOGIN_ACCOUNT_ATTEMPTS",
    "RATELIMIT_LOGIN_ADDRESS",
    "RATELIMIT_REGISTER_ADDRESS",
    "CORS_ORIGINS",
    "METRICS_ADDRESS",
    "PUBLIC_BASE_URL",
    "LOG_FORMAT",
    "RATELIMIT_MAIL_ADDRESS",
    "RATELIMIT_MAIL_ACCOUNT",
    "MAIL_BACKEND",
    "MAIL_SERVER",
    "MAIL_TLS_CA_FILE",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
    "PASSWORD_RESET_URL",
    "VERIFY_EMAIL_URL",
)
_LIST_SETTINGS = ("SECRET_KEY_FALLBACKS", "JWT_PUBLIC_KEY_FILES", "TRUSTED_HOSTS", "JWT_AUDIENCE")
_BOOL_SETTINGS = (
    "RATELIMIT_ENABLED",
    "JWT_ACCEPT_SECRET_KEY",
    "METRICS_ENABLED",
    "DB_COMMAND_DEADLINE",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_SEND_IN_BACKGROUND",
    "REQUIRE_VERIFIED_EMAIL",
)
LOG_FORMATS = ("text", "json")
_RATE_LIMIT_SETTINGS = (
    "RATELIMIT_LOGIN_ACCOUNT",
    "RATELIMIT_LOGIN_ACCOUNT_ATTEMPTS",
    "RATELIMIT_LOGIN_ADDRESS",
    "RATELIMIT_REGISTER_ADDRESS",
    "RATELIMIT_MAIL_ADDRESS",
    "RATELIMIT_MAIL_ACCOUNT",
)
_INT_SETTINGS = {
    "TOKEN_EXPIRE_HOURS": (0, None),
    "TOKEN_EXPIRE_MINUTES": (0, None),
    "TOKEN_EXPIRE_SECONDS": (0, None),
    "REFRESH_TOKEN_EXPIRE_DAYS": (1, 3650),
    "BCRYPT_LOG_ROUNDS": (4, 31),
    "MAX_CONTENT_LENGTH": (1024, None),
    "DB_POOL_SIZE": (1, None),
    "DB_MAX_OVERFLOW": (0, None),
    "DB_POOL_TIMEOUT": (1, None),
    "DB_CONNECT_TIMEOUT": (1, None),
    "DB_STATEMENT_TIMEOUT_MS": (0, None),
    "DB_KEEPALIVES_IDLE": (1, None),
    "DB_KEEPALIVES_INTERVAL": (1, None),
    "DB_KEEPALIVES_COUNT": (1, None),
    "DB_TCP_USER_TIMEOUT_MS": (0, None),
    "TRUSTED_PROXY_COUNT": (0, 10),
    "MAIL_PORT": (1, 65535),
    "MAIL_TIMEOUT": (1, 300),
    "MAIL_MAX_ATTEMPTS": (1, 100),
    "MAIL_RETRY_SECONDS": (0, None),
    "MAIL_POLL_SECONDS": (1, None),
    "MAIL_OUTBOX_KEEP_DAYS": (0, None),
    "PASSWORD_RESET_EXPIRE_MINUTES": (1, 1440),
    "VERIFY_EMAIL_EXPIRE_HOURS": (1, 720),
}


def init_app(app, config_name=None, test_config=None):
    """Load ``config_name`` (default: $FLASK_CONFIG, else development) into app.config.

    The environment overrides the class's values, ``test_config`` (the test suite's
    database, mostly) overrides both; the result is checked, then the derived
    values are added.
    """
    config_name = config_name or os.environ.get("FLASK_CONFIG") or DEFAULT_CONFIG
    app.config.from_object(get_config(config_name))
    app.config.update(settings_from_environ(config_name))
    app.config.update(test_config or {})
    app.config["CONFIG_NAME"] = config_name
    validate(config_name, app.config)
    app.config.update(derived_settings(app.config))


def get_config(config_name):
    """Return the configuration class called ``config_name``, or raise ConfigError."""
    try:
        return _CONFIGS[config_name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"FLASK_CONFIG={config_name!r} is not a known configuration; "
            f"use one of: {', '.join(CONFIG_NAMES)}"
        ) from None


def settings_from_environ(config_name, environ=None):
    """Return the settings of ``config_name`` that the environment overrides.

    The testing configuration ignores the environment, so that the suite runs the
    same on every machine; its database is chosen by the test fixtures.
    """
    environ = os.environ if environ is None else environ
    if config_name == "testing":
        return {}
    settings = {}
    for name in _STRING_SETTINGS:
        if environ.get(name, "").strip():
            settings[name] = environ[name].strip()
    for name in _LIST_SETTINGS:
        items = [item.strip() for item in environ.get(name, "").split(",")]
        if any(items):
            settings[name] = [item for item in items if item]
    if "DATABASE_URL" in settings:
        settings["SQLALCHEMY_DATABASE_URI"] = settings.pop("DATABASE_URL")
    for name, (lowest, highest) in _INT_SETTINGS.items():
        raw = environ.get(name, "").strip()
        if raw:
            settings[name] = _parse_int(name, raw, lowest, highest)
    for name in _BOOL_SETTINGS:
        raw = environ.get(name, "").strip().lower()
        if raw:
            settings[name] = _parse_bool(name, raw)
    return settings


def _parse_bool(name, raw):
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not true or false")


def _parse_int(name, raw, lowest, highest):
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < lowest or (highest is not None and value > highest):
        upper = f" and at most {highest}" if highest is not None else ""
        raise ConfigError(f"{name}={value} must be at least {lowest}{upper}")
    return value


def check_environment(environ=None):
    """Raise ConfigError if the environment's configuration would stop create_app().

    gunicorn's master calls it before it forks workers, so that a refused
    configuration stops the server instead of making workers crash in a loop.
    """
    environ = os.environ if environ is None else environ
    config_name = environ.get("FLASK_CONFIG") or DEFAULT_CONFIG
    config_class = get_config(config_name)
    config = {name: getattr(config_class, name) for name in dir(config_class) if name.isupper()}
    config.update(settings_from_environ(config_name, environ))
    config["CONFIG_NAME"] = config_name
    validate(config_name, config)
    config.update(derived_settings(config))  # reads the key files, which may be refused
    return config_name, config


def _access_token_lifetime(config):
    """Return the access-token lifetime that the three TOKEN_EXPIRE_* settings add up to."""
    return timedelta(
        hours=config["TOKEN_EXPIRE_HOURS"],
        minutes=config["TOKEN_EXPIRE_MINUTES"],
        seconds=config["TOKEN_EXPIRE_SECONDS"],
    )


def derived_settings(config):
    """Return the values computed from the settings, once: lifetimes and token keys.

    ACCESS_TOKEN_KEYS and REFRESH_TOKEN_KEYS are key_util.KeySets; building them
    reads the key files, so a missing or unusable key stops start-up here.
    """
    try:
        access_keys, refresh_keys = key_util.build_keys(
            config["JWT_ALGORITHM"],
            config["SECRET_KEY"],
            fallbacks=config["SECRET_KEY_FALLBACKS"],
            private_key_file=config["JWT_PRIVATE_KEY_FILE"],
            public_key_files=config["JWT_PUBLIC_KEY_FILES"],
            accept_secret_key=config["JWT_ACCEPT_SECRET_KEY"],
        )
    except key_util.KeyConfigError as error:
        raise ConfigError(str(error)) from None
    access_scope, refresh_scope = token_scopes(config)
    return {
        "TRUSTED_HOSTS": config["TRUSTED_HOSTS"] or _default_trusted_hosts(config),
        "PUBLIC_BASE": urlsplit(config["PUBLIC_BASE_URL"]),
        "ACCESS_TOKEN_LIFETIME": _access_token_lifetime(config),
        "REFRESH_TOKEN_LIFETIME": timedelta(days=config["REFRESH_TOKEN_EXPIRE_DAYS"]),
        "PASSWORD_RESET_LIFETIME": timedelta(minutes=config["PASSWORD_RESET_EXPIRE_MINUTES"]),
        "VERIFY_EMAIL_LIFETIME": timedelta(hours=config["VERIFY_EMAIL_EXPIRE_HOURS"]),
        # Mailed tokens are HMACs under keys derived from SECRET_KEY and its fallbacks.
        "MAIL_TOKEN_KEYS": [
            key_util.derived_key(secret, b"mail-token")
            for secret in (config["SECRET_KEY"], *config["SECRET_KEY_FALLBACKS"])
        ],
        "MAIL_DEFAULT_SENDER": config["MAIL_DEFAULT_SENDER"]
        or f"no-reply@{urlsplit(config['PUBLIC_BASE_URL']).hostname}",
        "ACCESS_TOKEN_KEYS": access_keys,
        "ACCESS_TOKEN_SCOPE": access_scope,
        "REFRESH_TOKEN_SCOPE": refresh_scope,
        "REFRESH_TOKEN_KEYS": refresh_keys,
    }


def token_scopes(config):
    """Return the Scopes (iss and aud) of access tokens and of refresh tokens."""
    base = config["PUBLIC_BASE_URL"].rstrip("/")
    issuer = config["JWT_ISSUER"] or config["PUBLIC_BASE_URL"]
    audience = tuple(config["JWT_AUDIENCE"]) or (f"{base}/api/v1",)
    before = _timestamp("JWT_UNSCOPED_BEFORE", config["JWT_UNSCOPED_BEFORE"])
    refresh = (f"{base}/api/v1/auth/refresh",)
    if set(refresh) & set(audience):
        raise ConfigError(f"JWT_AUDIENCE must not name {refresh[0]}, the refresh tokens' own")
    return jwt_util.Scope(issuer, audience, before), jwt_util.Scope(issuer, refresh, before)


def _timestamp(name, text):
    """Return the POSIX time of an ISO 8601 date and time with its offset, or None if empty."""
    if not text:
        return None
    try:
        # Python 3.10's fromisoformat reads no "Z".
        moment = datetime.fromisoformat(
            text.removesuffix("Z") + ("+00:00" if text[-1:] == "Z" else "")
        )
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ConfigError(
            f"{name}={text!r} is not a time with its offset, e.g. 2026-12-06T12:00:00Z"
        )
    return moment.timestamp()


def _default_trusted_hosts(config):
    """Return the host of PUBLIC_BASE_URL, and outside production 127.0.0.1 and localhost."""
    hosts = [urlsplit(config["PUBLIC_BASE_URL"]).hostname]
    if config["CONFIG_NAME"] != "production":
        hosts += ["127.0.0.1", "localhost"]
    return list(dict.fromkeys(hosts))


def validate(config_name, config):
    """Raise ConfigError when the final configuration is unsafe or unusable."""
    if config["LOG_FORMAT"] not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT={config['LOG_FORMAT']!r} is not one of: text, json")
    _validate_metrics_address(config["METRICS_ADDRESS"])
    if config["PUBLIC_BASE_URL"] is None and config_name == "production":
        raise ConfigError(
            "PUBLIC_BASE_URL must be set in production: the URL clients reach the API at, "
            "such as https://api.example.com (links and Location are built from it)"
        )
    _validate_public_base_url(config["PUBLIC_BASE_URL"])
    if _access_token_lifetime(config) <= timedelta(0):
        raise ConfigError("the access-token lifetime (TOKEN_EXPIRE_*) must be positive")
    for name in _RATE_LIMIT_SETTINGS:
        try:
            parse_many(config[name])
        except ValueError:
            raise ConfigError(
                f"{name}={config[name]!r} is not a rate limit such as '5 per minute;100 per hour'"
            ) from None
    _validate_algorithm(config)
    _validate_mail(config_name, config)
    if config_name != "production":
        return
    # Refresh tokens are signed with a key derived from it, whatever the algorithm.
    if not config.get("SECRET_KEY"):
        raise ConfigError("SECRET_KEY must be set in production")
    fallbacks = config["SECRET_KEY_FALLBACKS"]
    for n, key in enumerate([config["SECRET_KEY"], *fallbacks]):
        name = "SECRET_KEY" if n == 0 else f"SECRET_KEY_FALLBACKS #{n}"
        if key in PLACEHOLDER_SECRET_KEYS:
            raise ConfigError(f"{name} is a published placeholder; generate a new one")
        if len(key.encode("utf-8")) < MIN_SECRET_KEY_BYTES:
            raise ConfigError(
                f"{name} must be at least {MIN_SECRET_KEY_BYTES} bytes in production"
            )


def _validate_mail(config_name, config):
    backend = config["MAIL_BACKEND"]
    if backend not in ("smtp", "console", "disabled"):
        raise ConfigError(f"MAIL_BACKEND={backend!r} is not one of: smtp, console, disabled")
    if backend == "smtp" and not config["MAIL_SERVER"] and config_name == "production":
        raise ConfigError(
            "MAIL_SERVER must be set in production with MAIL_BACKEND=smtp (password resets "
            "and verifications are mailed); or set MAIL_BACKEND=disabled"
        )
    if backend == "disabled" and config["REQUIRE_VERIFIED_EMAIL"]:
        raise ConfigError(
            "REQUIRE_VERIFIED_EMAIL=true needs mail: MAIL_BACKEND=disabled sends no verification"
        )
    if config["MAIL_USE_TLS"] and config["MAIL_USE_SSL"]:
        raise ConfigError("MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL exclude each other")
    for name in ("PASSWORD_RESET_URL", "VERIFY_EMAIL_URL"):
        template = config[name]
        if template and (
            "{token}" not in template
            or urlsplit(template).scheme
            not in (
                "http",
                "https",
            )
        ):
            raise ConfigError(f"{name}={template!r} is not an http(s) URL with {{token}} in it")


def _validate_public_base_url(url):
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and parts.hostname and parts.port != 0
    except ValueError:  # a port that is no number, or out of range
        valid = False
    if not valid or parts.query or parts.fragment:
        raise ConfigError(
            f"PUBLIC_BASE_URL={url!r} is not an http(s) URL with a host and no query, "
            "such as https://api.example.com or https://example.com/prefix"
        )


def _validate_metrics_address(address):
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"METRICS_ADDRESS={address!r} is not host:port, such as 127.0.0.1:9100")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ConfigError(f"METRICS_ADDRESS={address!r}: the host must be an IP address") from None


def _validate_algorithm(config):
    algorithm = config["JWT_ALGORITHM"]
    if algorithm not in key_util.ALGORITHMS:
        raise ConfigError(
            f"JWT_ALGORITHM={algorithm!r} is not one of: {', '.join(key_util.ALGORITHMS)}"
        )
    if algorithm == key_util.HS256 and config["JWT_PRIVATE_KEY_FILE"]:
        raise ConfigError(
            "JWT_PRIVATE_KEY_FILE is set but JWT_ALGORITHM=HS256 signs with SECRET_KEY; "
            "set JWT_ALGORITHM=EdDSA or RS256 to sign with the private key"
        )
    if algorithm != key_util.HS256 and not config["JWT_PRIVATE_KEY_FILE"]:
        raise ConfigError(
            f"JWT_ALGORITHM={algorithm} needs JWT_PRIVATE_KEY_FILE, the PEM private key "
            "that signs (flask keys generate makes one)"
        )
