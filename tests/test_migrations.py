"""The committed migrations build exactly the models' schema, and undo it."""

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from flask_api_tutorial import create_app, db
from flask_api_tutorial.database import dispose_engines
from tests.conftest import database_url

TABLES = {
    "alembic_version",
    "site_user",
    "token_blacklist",
    "refresh_token",
    "widget",
    "widget_count",
}


@pytest.fixture
def empty_app(tmp_path):
    """Return an app on an empty database, and empty it again afterwards."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url(tmp_path)})
    with app.app_context():
        assert set(inspect(db.engine).get_table_names()) == set()
        yield app
        db.session.remove()
        db.drop_all()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        dispose_engines()


def _differences():
    with db.engine.connect() as connection, warnings.catch_warnings():
        # SQLite cannot reflect the index on lower(widget.name), so Alembic skips
        # comparing it (with a warning); test_widget_name_index checks it instead.
        warnings.filterwarnings("ignore", message=".*expression-based index")
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_widget_name_index_and_count_row(empty_app):
    """Names are unique regardless of case; the count row exists from the start."""
    upgrade()
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO site_user (email, password_hash, registered_on, "
            "admin, public_id) VALUES ('a@example.com', 'x', "
            "'2026-01-01 00:00:00', true, 'admin-public-id')"
        )
        insert = (
            "INSERT INTO widget (name, info_url, created_at, deadline, owner_id) "
            "VALUES ('{}', 'https://example.com', '2026-01-01 00:00:00', "
            "'2026-12-31 23:59:59', 1)"
        )
        connection.exec_driver_sql(insert.format("tetraWIDG"))
        assert connection.exec_driver_sql("SELECT total FROM widget_count").all() == [(0,)]
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        connection.exec_driver_sql(insert.format("TETRAwidg"))


def test_upgrade_from_empty_matches_the_models(empty_app):
    upgrade()
    assert set(inspect(db.engine).get_table_names()) == TABLES
    assert _differences() == []


def test_downgrade_to_base_and_upgrade_again(empty_app):
    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
    upgrade()
    assert _differences() == []


def test_indexes_and_unique_constraints(empty_app):
    upgrade()
    inspector = inspect(db.engine)
    unique = {
        table: {tuple(c["column_names"]) for c in inspector.get_unique_constraints(table)}
        for table in ("site_user", "token_blacklist")
    }
    assert unique == {"site_user": {("email",), ("public_id",)}, "token_blacklist": {("jti",)}}
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("token_blacklist")}
    assert indexes["ix_token_blacklist_expires_at"] == ["expires_at"]
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("refresh_token")}
    assert indexes["ix_refresh_token_family_id"] == ["family_id"]
    assert indexes["ix_refresh_token_user_id"] == ["user_id"]
    (foreign_key,) = inspector.get_foreign_keys("refresh_token")
    assert foreign_key["referred_table"] == "site_user"
    assert foreign_key["options"].get("ondelete") == "CASCADE"


def test_upgrade_keeps_existing_users_with_token_version_zero(empty_app):
    """The second revision adds token_version to a table that may already hold users."""
    upgrade(revision="556ee5b1c5ac")
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO site_user (email, password_hash, registered_on, admin, public_id) "
            "VALUES ('old@example.com', 'x', '2026-01-01 00:00:00', false, 'old-public-id')"
        )
    upgrade()
    with db.engine.connect() as connection:
        version = connection.exec_driver_sql(
            "SELECT token_version FROM site_user WHERE email = 'old@example.com'"
        ).scalar()
    assert version == 0
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM site_user")


def test_upgrade_normalises_stored_emails(empty_app):
    """Rows stored before emails were normalised can still log in afterwards."""
    upgrade(revision="ccbf68e141ab")
    rows = [
        (1, "jose\u0301@example.com"),  # NFD
        (2, "user@\uff45xample.com"),  # a full-width letter in the domain
        (3, "plain@example.com"),
        (4, "plain@\uff45xample.com"),  # is plain@example.com by the new rule: kept
    ]
    with db.engine.begin() as connection:
        for user_id, email in rows:
            connection.execute(
                db.text(
                    "INSERT INTO site_user (id, email, password_hash, registered_on, admin,"
                    " public_id, token_version) VALUES (:id, :email, 'x', :now, false, :pid, 0)"
                ),
                {"id": user_id, "email": email, "now": "2026-01-01 00:00:00", "pid": str(user_id)},
            )
    upgrade()
    with db.engine.connect() as connection:
        emails = dict(connection.execute(db.text("SELECT id, email FROM site_user")).all())
    assert emails == {
        1: "jos\u00e9@example.com",
        2: "user@example.com",
        3: "plain@example.com",
        4: "plain@\uff45xample.com",
    }
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM site_user")
