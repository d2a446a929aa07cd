"""Rate limits on login (per address, per account) and register (per address)."""

import uuid

import pytest
import redis
import requests

from flask_api_tutorial import create_app, limiter
from flask_api_tutorial import db as _db
from flask_api_tutorial.config import ConfigError
from flask_api_tutorial.database import dispose_engines
from flask_api_tutorial.models import User
from tests.conftest import TEST_REDIS_URL
from tests.support.paths import AUTH_LOGIN
from tests.support.servers import GunicornServer
from tests.util import EMAIL, LOGIN_FAILED, PASSWORD, add_user, path_for

ACCOUNT_LOCKED = {"message": "Too many failed logins for this account. Try again later."}
ADDRESS_LIMITED = {"message": "Too many requests from this address. Try again later."}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make_app(request, database):
    """Return a factory of rate-limited apps on one database, counting in memory or Redis."""
    storage = "memory://" if request.param == "memory" else TEST_REDIS_URL
    created = []

    def factory(**settings):
        app = create_app(
            "testing",
            {
                "SQLALCHEMY_DATABASE_URI": database,
                "RATELIMIT_ENABLED": True,
                "RATELIMIT_STORAGE_URI": storage,
                **settings,
            },
        )
        limiter.reset()  # Redis keeps counts between tests; memory starts empty anyway
        created.append(app)
        return app

    yield factory
    limiter.reset()
    for app in created:
        with app.app_context():
            _db.session.remove()
            dispose_engines()


@pytest.fixture
def app(make_app):
    """Return a rate-limited app with the default limits and a registered user."""
    app = make_app()
    with app.app_context():
        add_user()
        yield app
        _db.session.remove()


def _login(client, password="wrong-password", address="127.0.0.2", email=EMAIL, **headers):
    return client.post(
        path_for(client.application, "api.auth_login"),
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers=headers,
    )


def _assert_limited(response, body):
    assert response.status_code == 429
    assert response.content_type == "application/json"
    assert response.get_json() == body
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_sixth_failed_login_for_an_account_is_429(client):
    for _ in range(5):
        response = _login(client)
        assert response.status_code == 401
        assert response.get_json() == LOGIN_FAILED
        assert "Retry-After" not in response.headers
    _assert_limited(_login(client), ACCOUNT_LOCKED)
    # Locked means locked: the right password waits too.
    _assert_limited(_login(client, password=PASSWORD), ACCOUNT_LOCKED)


def test_account_limit_counts_across_client_addresses(client):
    for address in ("127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert _login(client, address=address).status_code == 401
    _assert_limited(_login(client, address="127.0.0.5"), ACCOUNT_LOCKED)


def test_account_limit_uses_the_normalised_email(client):
    for email in (EMAIL, EMAIL.upper(), f"  {EMAIL}", EMAIL.title(), EMAIL):
        assert _login(client, email=email).status_code == 401
    _assert_limited(_login(client, email=EMAIL.upper()), ACCOUNT_LOCKED)


def test_successful_logins_do_not_count_against_the_account(client):
    for _ in range(8):
        assert _login(client, password=PASSWORD).status_code == 200
    assert _login(client).status_code == 401


def test_other_accounts_are_not_locked(client):
    for _ in range(5):
        _login(client)
    _assert_limited(_login(client), ACCOUNT_LOCKED)
    assert _login(client, email="other@example.com").status_code == 401


def test_spoofed_forwarded_for_does_not_reset_the_counts(make_app):
    client = make_app(RATELIMIT_LOGIN_ADDRESS="3 per minute").test_client()
    for index in range(3):
        response = _login(client, email=f"u{index}@example.com", X_Forwarded_For=f"10.9.9.{index}")
        assert response.status_code == 401
    response = _login(client, email="u9@example.com", X_Forwarded_For="10.9.9.99")
    _assert_limited(response, ADDRESS_LIMITED)
    # The account limit ignores the header too.
    for index in range(5):
        _login(client, address=f"127.0.1.{index}", X_Forwarded_For=f"10.8.8.{index}")
    _assert_limited(_login(client, address="127.0.1.9"), ACCOUNT_LOCKED)


def test_forwarded_for_is_used_with_a_trusted_proxy(make_app):
    client = make_app(RATELIMIT_LOGIN_ADDRESS="2 per minute", TRUSTED_PROXY_COUNT=1).test_client()
    for _ in range(2):
        assert _login(client, email="a@example.com", X_Forwarded_For="127.0.2.1").status_code
    _assert_limited(
        _login(client, email="b@example.com", X_Forwarded_For="127.0.2.1"), ADDRESS_LIMITED
    )
    # Another client behind the same proxy has its own count.
    assert _login(client, email="c@example.com", X_Forwarded_For="127.0.2.2").status_code == 401


def test_register_is_limited_per_address(make_app):
    app = make_app(RATELIMIT_REGISTER_ADDRESS="2 per minute")
    client = app.test_client()

    def register(index, address="127.0.0.2"):
        return client.post(
            path_for(app, "api.auth_register"),
            json={"email": f"new{index}@example.com", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": address},
        )

    assert [register(i).status_code for i in range(2)] == [201, 201]
    _assert_limited(register(2), ADDRESS_LIMITED)
    assert register(3, address="127.0.0.3").status_code == 201
    with app.app_context():
        assert _db.session.scalar(_db.select(_db.func.count(User.id))) == 3


def test_limits_can_be_turned_off(make_app):
    client = make_app(RATELIMIT_ENABLED=False).test_client()
    assert {_login(client).status_code for _ in range(12)} == {401}


def _served_login(server):
    return requests.post(
        server.url + AUTH_LOGIN,
        json={"email": EMAIL, "password": "wrong-password"},
        timeout=30,
    )


@pytest.mark.served
@pytest.mark.redis
def test_two_gunicorn_instances_share_the_count_in_redis(served_database):
    """Four processes (2 instances x 2 workers) count one account's failures together."""
    prefix = f"test-{uuid.uuid4().hex}"
    url = served_database
    settings = {
        "RATELIMIT_ENABLED": "true",
        "RATELIMIT_STORAGE_URI": TEST_REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
    }
    servers = [GunicornServer(url, workers=2, threads=2, **settings) for _ in range(2)]
    try:
        for server in servers:
            server.start()
        statuses = [_served_login(servers[i % 2]).status_code for i in range(5)]
        assert statuses == [401] * 5
        response = _served_login(servers[1])
        assert response.status_code == 429
        assert response.json() == ACCOUNT_LOCKED
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        client = redis.Redis.from_url(TEST_REDIS_URL)
        keys = list(client.scan_iter(f"*{prefix}*"))
        assert keys, "the counts were not stored in Redis"
        client.delete(*keys)
        client.close()
    finally:
        for server in servers:
            server.stop()


def test_bad_limit_setting_stops_start_up():
    with pytest.raises(ConfigError, match="RATELIMIT_LOGIN_ACCOUNT"):
        create_app("testing", {"RATELIMIT_LOGIN_ACCOUNT": "five a minute"})


def test_all_attempts_per_account_are_counted_up_front(make_app):
    """A burst of guesses cannot pass the failed-login check together."""
    app = make_app(
        RATELIMIT_LOGIN_ACCOUNT="100 per minute", RATELIMIT_LOGIN_ACCOUNT_ATTEMPTS="3 per minute"
    )
    with app.app_context():
        add_user()
    client = app.test_client()
    statuses = [_login(client, password=PASSWORD).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    _assert_limited(_login(client, password=PASSWORD), ACCOUNT_LOCKED)
    assert _login(client, email="other@example.com").status_code == 401


def test_counts_lost_after_the_answer_give_503_with_every_header(make_app, monkeypatch):
    """A failed login is counted after its 401 is built; if Redis fails then: 503."""
    from limits.errors import StorageError

    # As in production: Flask answers what an after_request hook raises, not re-raises it.
    app = make_app(CORS_ORIGINS="https://app.example.com", PROPAGATE_EXCEPTIONS=False)
    with app.app_context():
        add_user()
    strategy = limiter.limiter
    original_hit = strategy.hit

    def hit(item, *identifiers, cost=1):
        if identifiers[-1].endswith(":login-account"):  # only the count after the answer
            raise StorageError(ConnectionError("Redis went away"))
        return original_hit(item, *identifiers, cost=cost)

    monkeypatch.setattr(strategy, "hit", hit)
    response = app.test_client().post(
        path_for(app, "api.auth_login"),
        json={"email": EMAIL, "password": "wrong-password"},
        headers={"Origin": "https://app.example.com"},
    )
    assert response.status_code == 503
    assert response.get_json() == {
        "message": "Service unavailable: the rate-limit counts cannot be reached."
    }
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" not in response.headers


# Mails asked for: per address mailed to (registered or not), per client address.


def _mail_request(client, endpoint, email, address="127.0.0.2"):
    return client.post(
        path_for(client.application, endpoint),
        json={"email": email},
        environ_base={"REMOTE_ADDR": address},
    )


def test_mails_are_limited_per_address_mailed_with_one_answer_for_any(make_app):
    app = make_app(RATELIMIT_MAIL_ACCOUNT="2 per minute", RATELIMIT_MAIL_ADDRESS="100 per minute")
    with app.app_context():
        add_user()
    client = app.test_client()
    answers = {}
    for email in (EMAIL, "nobody@example.com", "  NoBody@Example.COM "):
        sends = [
            _mail_request(client, "api.auth_password_reset", email),
            _mail_request(client, "api.auth_verify_email_resend", email),
            _mail_request(client, "api.auth_password_reset", email),
        ]
        answers[email] = [(r.status_code, r.get_json()) for r in sends]
        _assert_limited(sends[-1], ADDRESS_LIMITED)
    # The same answers for a registered address and an unknown one; spellings of one
    # address share their count.
    assert answers[EMAIL] == answers["nobody@example.com"]
    assert [status for status, _ in answers["  NoBody@Example.COM "]] == [429, 429, 429]
    assert _mail_request(client, "api.auth_password_reset", "other@example.com").status_code == 202


def test_mails_are_limited_per_client_address(make_app):
    client = make_app(RATELIMIT_MAIL_ADDRESS="3 per minute").test_client()
    for number in range(3):
        email = f"someone{number}@example.com"
        assert _mail_request(client, "api.auth_password_reset", email).status_code == 202
    _assert_limited(
        _mail_request(client, "api.auth_verify_email_resend", "else@example.com"), ADDRESS_LIMITED
    )
    other = _mail_request(client, "api.auth_password_reset", "else@example.com", "127.0.0.3")
    assert other.status_code == 202
