"""Fixtures: an app on a fresh database for each test, its client, and two users."""

import os

import pytest

from flask_api_tutorial import create_app
from flask_api_tutorial import db as _db
from flask_api_tutorial.models import User
from tests.util import ADMIN_EMAIL, EMAIL, PASSWORD

# The PostgreSQL run of the suite sets TEST_DATABASE_URL; otherwise each test gets
# its own SQLite file.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
ON_POSTGRES = (TEST_DATABASE_URL or "").startswith("postgresql")


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked postgres, with the reason, when the run is not on PostgreSQL."""
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (TEST_DATABASE_URL); `make test` runs it")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


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
        _db.engine.dispose()


@pytest.fixture
def db(app):
    """Return the SQLAlchemy extension, bound to the test app."""
    return _db


@pytest.fixture
def user(db):
    """Return a regular user registered with EMAIL and PASSWORD."""
    user = User(email=EMAIL, password=PASSWORD)
    db.session.add(user)
    db.session.commit()
    return user


@pytest.fixture
def admin(db):
    """Return an administrator registered with ADMIN_EMAIL and PASSWORD."""
    admin = User(email=ADMIN_EMAIL, password=PASSWORD, admin=True)
    db.session.add(admin)
    db.session.commit()
    return admin
