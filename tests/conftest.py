"""Fixtures: an app on a database the migrations built, its client, and users.

pytest-flask (installed) pushes a test request context of the ``app`` fixture for
every test that uses it, so that url_for works in tests and in tests/util.py.
"""

import os
import shutil

import pytest

from flask_api_tutorial import create_app, mail
from flask_api_tutorial import db as _db
from flask_api_tutorial.database import dispose_engines
from tests.support import databases
from tests.support.databases import ON_POSTGRES, TEST_DATABASE_URL
from tests.support.smtp import MailCatcher
from tests.util import ADMIN_EMAIL, add_user

# Rate-limit counts of the tests: a Redis database of each test process's own (15, 14,
# ... for xdist's gw0, gw1, ...), since resetting the limiter empties the database.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL") or (
    f"redis://127.0.0.1:6379/{15 - databases.WORKER_INDEX % 16}"
)


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


@pytest.fixture(scope="session", autouse=True)
def migrated_template(tmp_path_factory):
    """Return this process's migrated database: a PostgreSQL URL, or an SQLite file to copy.

    Made first, whatever a test asks for: tests on PostgreSQL may use its URL
    (TEST_DATABASE_URL) without the ``database`` fixture.
    """
    if ON_POSTGRES:
        databases.create_database(TEST_DATABASE_URL)
        databases.migrate(TEST_DATABASE_URL)
        yield TEST_DATABASE_URL
        databases.drop_database(TEST_DATABASE_URL)
        return
    path = tmp_path_factory.mktemp("schema") / "migrated.db"
    databases.migrate(f"sqlite:///{path}")
    yield path


@pytest.fixture
def database(migrated_template, tmp_path):
    """Return the URL of a database built by the migrations, without rows; emptied after."""
    if not ON_POSTGRES:
        yield databases.migrated_sqlite_copy(migrated_template, tmp_path / "test.db")
        return
    yield migrated_template
    databases.empty_postgres(migrated_template)


@pytest.fixture
def empty_database(tmp_path):
    """Return the URL of a database without any table (for the migrations' tests)."""
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = databases.new_empty_postgres_database("empty")
    yield url
    databases.drop_database(url)


@pytest.fixture
def app(database):
    """Return the testing app on ``database``."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database})
    with app.app_context():
        yield app
        _db.session.remove()
        dispose_engines()


@pytest.fixture
def served_database(database):
    """Return the URL of a database for a served instance: migrated, with one user.

    The user is EMAIL with PASSWORD.
    """
    setup = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database})
    with setup.app_context():
        add_user()
        _db.session.remove()
        dispose_engines()
    return database


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


@pytest.fixture
def mailbox(app):
    """Return a real SMTP server (aiosmtpd, in this process) that the app mails through.

    The testing app sends nothing on its own: tests run the sender (``deliver``).
    """
    with MailCatcher() as catcher:
        app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=catcher.port)
        yield catcher


@pytest.fixture
def deliver(app):
    """Return the sender's pass (mail.deliver_due) on the test app: {outcome: count}."""
    return mail.deliver_due
