"""Fixtures: an app on a fresh database for each test, its client, and users.

pytest-flask (installed) pushes a test request context of the ``app`` fixture for
every test that uses it, so that url_for works in tests and in tests/util.py.
"""

import os
import shutil

import pytest

from flask_api_tutorial import create_app
from flask_api_tutorial import db as _db
from flask_api_tutorial.database import dispose_engines
from tests.util import ADMIN_EMAIL, add_user

# The PostgreSQL run of the suite sets TEST_DATABASE_URL; otherwise each test gets
# its own SQLite file.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
ON_POSTGRES = (TEST_DATABASE_URL or "").startswith("postgresql")


TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_unavailable():
    """Return why Redis cannot be used, or None when it answers."""
    import redis

    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        return f"no Redis at {TEST_REDIS_URL}: {error}"
    return None


def pytest_collection_modifyitems(config, items):
    """Skip postgres/redis/prometheus tests, with the reason, where those are absent.

    With REQUIRE_REDIS=1 or REQUIRE_PROMETHEUS=1 (as in CI) a missing Redis or
    prometheus fails the run instead.
    """
    postgres_skip = pytest.mark.skip(
        reason="needs PostgreSQL (TEST_DATABASE_URL); `make test` runs it"
    )
    redis_reason = None
    if any("redis" in item.keywords for item in items):
        redis_reason = _redis_unavailable()
        if redis_reason and os.environ.get("REQUIRE_REDIS") == "1":
            raise pytest.UsageError(f"REQUIRE_REDIS=1 but {redis_reason}")
    prometheus_missing = [name for name in ("prometheus", "promtool") if not shutil.which(name)]
    if prometheus_missing and any("prometheus" in item.keywords for item in items):
        if os.environ.get("REQUIRE_PROMETHEUS") == "1":
            raise pytest.UsageError(f"REQUIRE_PROMETHEUS=1 but {prometheus_missing} not found")
    prometheus_skip = pytest.mark.skip(
        reason=f"needs {', '.join(prometheus_missing)} (Debian's prometheus package)"
    )
    for item in items:
        if "prometheus" in item.keywords and prometheus_missing:
            item.add_marker(prometheus_skip)
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(postgres_skip)
        if "redis" in item.keywords and redis_reason:
            item.add_marker(pytest.mark.skip(reason=redis_reason))


def database_url(tmp_path):
    """Return the database URL the tests of this run use."""
    return TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def app(tmp_path):
    """Return the testing app with its tables created, and drop them afterwards."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url(tmp_path)})
    with app.app_context():
        _db.create_all()
        yield app
        _db.session.remove()
        _db.drop_all()
        dispose_engines()


@pytest.fixture
def served_database(tmp_path):
    """Return the URL of a database for a served instance: tables created, one user.

    The user is EMAIL with PASSWORD; the tables are dropped afterwards.
    """
    url = database_url(tmp_path)
    setup = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with setup.app_context():
        _db.create_all()
        add_user()
        _db.session.remove()
    yield url
    with setup.app_context():
        _db.session.remove()
        _db.drop_all()
        dispose_engines()


@pytest.fixture
def client(app):
    """Return ``app.test_client()``, opened as pytest-flask's client is.

    Inside ``with``, the context of each request is kept until the next request.
    """
    with app.test_client() as client:
        yield client


@pytest.fixture
def db(app):
    """Return the SQLAlchemy extension, bound to the test app."""
    return _db


@pytest.fixture
def make_user(db):
    """Return a factory of users on the test app's database, each committed.

    ``make_user(email=EMAIL, password=PASSWORD, admin=False)`` returns the new User.
    """
    return add_user


@pytest.fixture
def user(make_user):
    """Return a regular user registered with EMAIL and PASSWORD."""
    return make_user()


@pytest.fixture
def admin(make_user):
    """Return an administrator registered with ADMIN_EMAIL and PASSWORD."""
    return make_user(email=ADMIN_EMAIL, admin=True)
