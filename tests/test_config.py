"""Configuration: FLASK_CONFIG, the environment overrides and production's refusals."""

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from flask_migrate import upgrade

from flask_api_tutorial import create_app
from flask_api_tutorial.config import ConfigError
from tests.util import path_for

ROOT = Path(__file__).resolve().parents[1]
GOOD_KEY = "k" * 32
PUBLIC_BASE_URL = "https://api.example.com"
ENV_VARS = [
    "FLASK_CONFIG",
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "JWT_ALGORITHM",
    "JWT_PRIVATE_KEY_FILE",
    "JWT_PUBLIC_KEY_FILES",
    "JWT_ACCEPT_SECRET_KEY",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_UNSCOPED_BEFORE",
    "METRICS_ENABLED",
    "METRICS_ADDRESS",
    "PUBLIC_BASE_URL",
    "TRUSTED_HOSTS",
    "LOG_FORMAT",
    "DATABASE_URL",
    "TOKEN_EXPIRE_HOURS",
    "TOKEN_EXPIRE_MINUTES",
    "TOKEN_EXPIRE_SECONDS",
    "REFRESH_TOKEN_EXPIRE_DAYS",
    "BCRYPT_LOG_ROUNDS",
    "MAX_CONTENT_LENGTH",
    "DB_POOL_SIZE",
    "DB_MAX_OVERFLOW",
    "DB_POOL_TIMEOUT",
    "DB_CONNECT_TIMEOUT",
    "DB_STATEMENT_TIMEOUT_MS",
    "RATELIMIT_ENABLED",
    "RATELIMIT_STORAGE_URI",
    "RATELIMIT_KEY_PREFIX",
    "RATELIMIT_LOGIN_ACCOUNT",
    "RATELIMIT_LOGIN_ACCOUNT_ATTEMPTS",
    "RATELIMIT_LOGIN_ADDRESS",
    "RATELIMIT_REGISTER_ADDRESS",
    "TRUSTED_PROXY_COUNT",
    "CORS_ORIGINS",
    "RATELIMIT_MAIL_ADDRESS",
    "RATELIMIT_MAIL_ACCOUNT",
    "MAIL_BACKEND",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_TLS_CA_FILE",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
    "MAIL_TIMEOUT",
    "MAIL_MAX_ATTEMPTS",
    "MAIL_RETRY_SECONDS",
    "MAIL_SEND_IN_BACKGROUND",
    "MAIL_POLL_SECONDS",
    "MAIL_OUTBOX_KEEP_DAYS",
    "PASSWORD_RESET_EXPIRE_MINUTES",
    "VERIFY_EMAIL_EXPIRE_HOURS",
    "PASSWORD_RESET_URL",
    "VERIFY_EMAIL_URL",
    "REQUIRE_VERIFIED_EMAIL",
]
MAIL_SERVER = "smtp.example.com"
GUNICORN_VARS = [
    "GUNICORN_BIND",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_ACCESS_LOG",
    "GUNICORN_LOG_LEVEL",
]


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Return monkeypatch over a clean environment whose database is a temp SQLite file."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC_BASE_URL)
    # Production mails through SMTP and will not start without a server to send to.
    monkeypatch.setenv("MAIL_SERVER", MAIL_SERVER)
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "lifetime", "rounds"),
    [
        ("development", timedelta(minutes=15), 4),
        ("testing", timedelta(seconds=5), 4),
        ("production", timedelta(hours=1), 12),
    ],
)
def test_defaults(env, name, lifetime, rounds):
    env.setenv("SECRET_KEY", GOOD_KEY)
    app = create_app(name)
    assert app.config["ACCESS_TOKEN_LIFETIME"] == lifetime
    assert app.config["BCRYPT_LOG_ROUNDS"] == rounds
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    assert app.config["WWW_AUTH_REALM"] == "registered_users@mydomain.com"


def test_flask_config_chooses_the_configuration(env):
    env.setenv("FLASK_CONFIG", "production")
    env.setenv("SECRET_KEY", GOOD_KEY)
    assert create_app().config["CONFIG_NAME"] == "production"
    env.delenv("FLASK_CONFIG")
    assert create_app().config["CONFIG_NAME"] == "development"


@pytest.mark.parametrize("name", ["staging", "Production", "prod"])
def test_unknown_configuration_stops_start_up(env, name):
    with pytest.raises(ConfigError, match="use one of: development, testing, production"):
        create_app(name)


@pytest.mark.served
def test_unknown_configuration_from_the_command_line(env):
    env.setenv("FLASK_CONFIG", "staging")
    env.setenv("FLASK_APP", "run.py")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "routes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Configuration error: FLASK_CONFIG='staging' is not a known configuration" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_environment_overrides(env):
    env.setenv("TOKEN_EXPIRE_HOURS", "2")
    env.setenv("TOKEN_EXPIRE_MINUTES", "0")
    env.setenv("TOKEN_EXPIRE_SECONDS", "30")
    env.setenv("BCRYPT_LOG_ROUNDS", "6")
    env.setenv("MAX_CONTENT_LENGTH", "4096")
    env.setenv("SECRET_KEY", "s" * 40)
    app = create_app("development")
    assert app.config["ACCESS_TOKEN_LIFETIME"] == timedelta(hours=2, seconds=30)
    assert app.config["BCRYPT_LOG_ROUNDS"] == 6
    assert app.config["MAX_CONTENT_LENGTH"] == 4096
    assert app.config["SECRET_KEY"] == "s" * 40


def test_token_lifetime_reaches_the_response(env):
    env.setenv("TOKEN_EXPIRE_MINUTES", "1")
    env.setenv("TOKEN_EXPIRE_SECONDS", "5")
    env.setenv("REFRESH_TOKEN_EXPIRE_DAYS", "2")
    app = create_app("development")
    with app.app_context():
        upgrade()
        response = app.test_client().post(
            path_for(app, "api.auth_register"), json={"email": "a@b.io", "password": "password"}
        )
    assert response.get_json()["expires_in"] == 65
    assert response.get_json()["refresh_expires_in"] == 2 * 24 * 3600


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TOKEN_EXPIRE_MINUTES", "ten", "is not a whole number"),
        ("TOKEN_EXPIRE_HOURS", "-1", "must be at least 0"),
        ("BCRYPT_LOG_ROUNDS", "3", "must be at least 4 and at most 31"),
        ("MAX_CONTENT_LENGTH", "10", "must be at least 1024"),
    ],
)
def test_bad_environment_values_stop_start_up(env, name, value, message):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        create_app("development")


def test_abuse_settings_from_environment(env):
    env.setenv("RATELIMIT_ENABLED", "false")
    env.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/3")
    env.setenv("RATELIMIT_LOGIN_ACCOUNT", "3 per minute")
    env.setenv("TRUSTED_PROXY_COUNT", "2")
    env.setenv("CORS_ORIGINS", "https://a.example")
    config = create_app("development").config
    assert config["RATELIMIT_ENABLED"] is False
    assert config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/3"
    assert config["RATELIMIT_LOGIN_ACCOUNT"] == "3 per minute"
    assert config["TRUSTED_PROXY_COUNT"] == 2
    assert config["CORS_ORIGINS"] == "https://a.example"


def test_abuse_defaults(env):
    config = create_app("development").config
    assert config["RATELIMIT_ENABLED"] is True
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["RATELIMIT_LOGIN_ACCOUNT"] == "5 per minute;100 per hour"
    assert config["TRUSTED_PROXY_COUNT"] == 0
    assert config["CORS_ORIGINS"] == ""


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RATELIMIT_ENABLED", "maybe", "is not true or false"),
        ("RATELIMIT_REGISTER_ADDRESS", "lots", "is not a rate limit"),
        ("TRUSTED_PROXY_COUNT", "11", "at most 10"),
    ],
)
def test_bad_abuse_settings_stop_start_up(env, name, value, message):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        create_app("development")


def test_zero_token_lifetime_stops_start_up(env):
    env.setenv("TOKEN_EXPIRE_MINUTES", "0")
    with pytest.raises(ConfigError, match="lifetime"):
        create_app("development")


def test_testing_ignores_the_environment(env):
    env.setenv("TOKEN_EXPIRE_MINUTES", "1")
    env.setenv("SECRET_KEY", "from-the-environment-" * 3)
    app = create_app("testing")
    assert app.config["ACCESS_TOKEN_LIFETIME"] == timedelta(seconds=5)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite://"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "SECRET_KEY must be set in production"),
        ("", "SECRET_KEY must be set in production"),
        ("short-key", "at least 32 bytes"),
        ("k" * 31, "at least 32 bytes"),
        ("development-only-secret-key-do-not-use-in-production", "placeholder"),
        ("replace-me-with-the-output-of-python-secrets-token-hex-32", "placeholder"),
    ],
    ids=["unset", "empty", "short", "31 bytes", "dev default", ".env.example"],
)
def test_production_refuses_unsafe_secret_key(env, key, message):
    if key is not None:
        env.setenv("SECRET_KEY", key)
    with pytest.raises(ConfigError, match=message):
        create_app("production")


def test_production_accepts_a_real_key(env):
    env.setenv("SECRET_KEY", "0123456789abcdef" * 4)
    assert create_app("production").config["SECRET_KEY"] == "0123456789abcdef" * 4


def test_env_example_lists_every_variable():
    text = (ROOT / ".env.example").read_text()
    names = {line.split("=")[0].lstrip("# ") for line in text.splitlines() if "=" in line}
    assert set(ENV_VARS) | set(GUNICORN_VARS) <= names


def test_gunicorn_conf_reads_the_documented_variables():
    text = (ROOT / "gunicorn.conf.py").read_text()
    for name in GUNICORN_VARS:
        assert f'"{name}"' in text, name


def test_engine_options_sqlite_has_no_ping(env):
    app = create_app("development")
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {"hide_parameters": True}


def test_engine_options_postgres_from_environment(env):
    env.setenv("DATABASE_URL", "postgresql+psycopg://app@127.0.0.1:5432/app")
    env.setenv("DB_POOL_SIZE", "7")
    env.setenv("DB_MAX_OVERFLOW", "2")
    env.setenv("DB_POOL_TIMEOUT", "4")
    env.setenv("DB_CONNECT_TIMEOUT", "2")
    env.setenv("DB_STATEMENT_TIMEOUT_MS", "1500")
    options = create_app("development").config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert (options["pool_size"], options["max_overflow"], options["pool_timeout"]) == (7, 2, 4)
    assert options["connect_args"]["connect_timeout"] == 2
    assert options["connect_args"]["options"] == "-c statement_timeout=1500"


def test_env_example_secret_key_is_refused_in_production(env):
    text = (ROOT / ".env.example").read_text()
    (line,) = [line for line in text.splitlines() if line.startswith("SECRET_KEY=")]
    env.setenv("SECRET_KEY", line.split("=", 1)[1])
    with pytest.raises(ConfigError, match="placeholder"):
        create_app("production")


def test_default_database_is_in_the_instance_folder(env):
    env.delenv("DATABASE_URL")
    app = create_app("development")
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    db_path = Path(uri.removeprefix("sqlite:///"))
    assert db_path.parent == Path(app.instance_path)
    package_dir = Path(__file__).resolve().parents[1] / "src" / "flask_api_tutorial"
    assert package_dir not in db_path.parents


@pytest.mark.served
def test_dotenv_file_is_loaded_by_run_py(tmp_path):
    """run.py loads a .env file next to it (the flask command does the same)."""
    (tmp_path / "run.py").write_text((ROOT / "run.py").read_text())
    (tmp_path / ".env").write_text(
        "FLASK_CONFIG=production\nSECRET_KEY=" + "d" * 40 + "\nTOKEN_EXPIRE_MINUTES=7\n"
        f"DATABASE_URL=sqlite:///{tmp_path / 'dotenv.db'}\n"
        f"PUBLIC_BASE_URL={PUBLIC_BASE_URL}\nMAIL_SERVER={MAIL_SERVER}\n"
    )
    code = (
        "import runpy; app = runpy.run_path('run.py')['app']; "
        "print(app.config['CONFIG_NAME'], app.config['TOKEN_EXPIRE_MINUTES'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["production", "7"]


# PUBLIC_BASE_URL and TRUSTED_HOSTS: where clients reach the API, and what Host they name.


def test_production_refuses_to_start_without_public_base_url(env):
    env.setenv("SECRET_KEY", GOOD_KEY)
    env.delenv("PUBLIC_BASE_URL")
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL must be set in production"):
        create_app("production")


@pytest.mark.parametrize(
    "url",
    ["api.example.com", "ftp://api.example.com", "https://", "https://x:99999", "https://x/?a=b"],
)
def test_a_public_base_url_that_is_no_base_is_refused(env, url):
    env.setenv("PUBLIC_BASE_URL", url)
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL="):
        create_app("development")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("production", ["api.example.com"]),
        ("development", ["api.example.com", "127.0.0.1", "localhost"]),
    ],
)
def test_trusted_hosts_default_to_the_public_base_url(env, name, expected):
    env.setenv("SECRET_KEY", GOOD_KEY)
    assert create_app(name).config["TRUSTED_HOSTS"] == expected
    env.setenv("TRUSTED_HOSTS", "a.example.com, b.example.com")
    assert create_app(name).config["TRUSTED_HOSTS"] == ["a.example.com", "b.example.com"]


def test_metrics_address_must_be_an_ip_and_a_port(env):
    for address in ("9100", "localhost:9100", "127.0.0.1:0", "127.0.0.1:x"):
        env.setenv("METRICS_ADDRESS", address)
        with pytest.raises(ConfigError, match="METRICS_ADDRESS="):
            create_app("development")
    env.setenv("METRICS_ADDRESS", "[::1]:9100")
    assert create_app("development").config["METRICS_ADDRESS"] == "[::1]:9100"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("JWT_UNSCOPED_BEFORE", "yesterday", "JWT_UNSCOPED_BEFORE="),
        ("JWT_UNSCOPED_BEFORE", "2026-12-06T12:00:00", "JWT_UNSCOPED_BEFORE="),
        ("JWT_AUDIENCE", f"{PUBLIC_BASE_URL}/api/v1/auth/refresh", "JWT_AUDIENCE must not name"),
    ],
    ids=["not a time", "no offset", "the refresh audience"],
)
def test_token_scope_settings_are_checked(env, name, value, message):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        create_app("development")


def test_token_scope_defaults_follow_public_base_url(env):
    env.setenv("JWT_UNSCOPED_BEFORE", "2026-12-06T12:00:00Z")
    config = create_app("development").config
    access, refresh = config["ACCESS_TOKEN_SCOPE"], config["REFRESH_TOKEN_SCOPE"]
    assert (access.issuer, access.audience) == (PUBLIC_BASE_URL, (f"{PUBLIC_BASE_URL}/api/v1",))
    assert refresh.audience == (f"{PUBLIC_BASE_URL}/api/v1/auth/refresh",)
    assert access.unscoped_before == refresh.unscoped_before == 1796558400.0


# Mail


@pytest.mark.parametrize(
    ("name", "backend"),
    [("development", "console"), ("testing", "console"), ("production", "smtp")],
)
def test_mail_backend_defaults(env, name, backend):
    env.setenv("SECRET_KEY", GOOD_KEY)
    config = create_app(name).config
    assert config["MAIL_BACKEND"] == backend
    assert config["MAIL_DEFAULT_SENDER"] == (
        "no-reply@localhost" if name == "testing" else "no-reply@api.example.com"
    )
    assert config["PASSWORD_RESET_LIFETIME"] == timedelta(minutes=30)
    assert config["VERIFY_EMAIL_LIFETIME"] == timedelta(hours=24)
    assert config["REQUIRE_VERIFIED_EMAIL"] is False


def test_production_refuses_to_start_without_a_mail_server(env):
    env.setenv("SECRET_KEY", GOOD_KEY)
    env.delenv("MAIL_SERVER")
    with pytest.raises(ConfigError) as error:
        create_app("production")
    assert "MAIL_SERVER" in str(error.value) and "MAIL_BACKEND" in str(error.value)
    env.setenv("MAIL_BACKEND", "disabled")
    assert create_app("production").config["MAIL_BACKEND"] == "disabled"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"MAIL_BACKEND": "sendmail"}, "MAIL_BACKEND='sendmail' is not one of"),
        (
            {"MAIL_BACKEND": "disabled", "REQUIRE_VERIFIED_EMAIL": "true"},
            "REQUIRE_VERIFIED_EMAIL=true needs mail",
        ),
        ({"MAIL_USE_TLS": "true", "MAIL_USE_SSL": "true"}, "exclude each other"),
        ({"PASSWORD_RESET_URL": "https://app.example.com/reset"}, "with {token} in it"),
        ({"VERIFY_EMAIL_URL": "javascript:alert(1)//{token}"}, "with {token} in it"),
        ({"MAIL_PORT": "0"}, "MAIL_PORT=0 must be at least 1"),
        ({"PASSWORD_RESET_EXPIRE_MINUTES": "0"}, "must be at least 1"),
    ],
    ids=["backend", "verified without mail", "tls and ssl", "no token", "scheme", "port", "life"],
)
def test_mail_settings_are_checked_at_start(env, settings, message):
    for name, value in settings.items():
        env.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        create_app("development")


def test_mail_settings_from_the_environment(env):
    env.setenv("MAIL_BACKEND", "smtp")
    env.setenv("MAIL_PORT", "587")
    env.setenv("MAIL_USE_TLS", "yes")
    env.setenv("MAIL_DEFAULT_SENDER", "Accounts <accounts@example.com>")
    env.setenv("PASSWORD_RESET_EXPIRE_MINUTES", "10")
    env.setenv("PASSWORD_RESET_URL", "https://app.example.com/reset?token={token}")
    env.setenv("REQUIRE_VERIFIED_EMAIL", "true")
    config = create_app("development").config
    assert (config["MAIL_BACKEND"], config["MAIL_SERVER"], config["MAIL_PORT"]) == (
        "smtp",
        MAIL_SERVER,
        587,
    )
    assert config["MAIL_USE_TLS"] is True
    assert config["MAIL_DEFAULT_SENDER"] == "Accounts <accounts@example.com>"
    assert config["PASSWORD_RESET_LIFETIME"] == timedelta(minutes=10)
    assert config["REQUIRE_VERIFIED_EMAIL"] is True
