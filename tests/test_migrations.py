"""The committed migrations build exactly the models' schema, and undo it."""

from datetime import datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, inspect
from sqlalchemy.exc import IntegrityError

from flask_api_tutorial import create_app, db
from flask_api_tutorial.database import dispose_engines
from flask_api_tutorial.models import Widget

pytestmark = [pytest.mark.database]

DEADLINE = datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
# The models' tables, and Alembic's own.
TABLES = set(db.metadata.tables) | {"alembic_version"}


@pytest.fixture
def empty_app(empty_database):
    """Return an app on a database without tables."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        assert set(inspect(db.engine).get_table_names()) == set()
        yield app
        db.session.remove()
        dispose_engines()


def _differences(metadata=None):
    """Return what `flask db migrate` would write: the models against the database."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata or db.metadata)


def test_widget_names_are_unique_regardless_of_case(empty_app):
    upgrade()
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO site_user (email, password_hash, registered_on, "
            "admin, public_id) VALUES ('a@example.com', 'x', "
            "'2026-01-01 00:00:00', true, 'admin-public-id')"
        )
    db.session.add(
        Widget(name="tetraWIDG", info_url="https://example.com", deadline=DEADLINE, owner_id=1)
    )
    db.session.commit()
    assert db.session.scalar(db.select(Widget.name_lower)) == "tetrawidg"
    db.session.add(
        Widget(name="TETRAwidg", info_url="https://example.com", deadline=DEADLINE, owner_id=1)
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_comparison_sees_the_case_insensitive_uniqueness(empty_app):
    """A model that lost it (or a migration that forgot it) is a difference, on both databases."""
    upgrade()
    loose = MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        copy = table.to_metadata(loose)
        if table.name == "widget":
            for constraint in list(copy.constraints):
                if getattr(constraint, "name", None) == "uq_widget_name_lower":
                    copy.constraints.discard(constraint)
            copy.c.name_lower.unique = False
    differences = _differences(loose)
    assert [(kind, constraint.name) for kind, constraint in differences] == [
        ("remove_constraint", "uq_widget_name_lower")
    ]


def test_upgrade_keeps_existing_widgets_and_their_uniqueness(empty_app):
    """The revision that brought name_lower fills it from the names already stored."""
    upgrade(revision="61f9b03a311e")
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO site_user (id, email, password_hash, registered_on, admin, public_id,"
            " token_version) VALUES (1, 'a@example.com', 'x', '2026-01-01 00:00:00', true,"
            " 'admin-public-id', 0)"
        )
        for name in ("tetraWIDG", "Other-1"):
            connection.exec_driver_sql(
                "INSERT INTO widget (name, info_url, created_at, deadline, owner_id) VALUES "
                f"('{name}', 'https://example.com', '2026-01-01 00:00:00',"
                " '2026-12-31 23:59:59', 1)"
            )
    upgrade()
    assert db.session.execute(db.select(Widget.name, Widget.name_lower)).all() == [
        ("tetraWIDG", "tetrawidg"),
        ("Other-1", "other-1"),
    ]
    assert Widget.find_by_name("TETRAwidg").name == "tetraWIDG"
    assert _differences() == []


def test_upgrade_from_empty_matches_the_models(empty_app):
    upgrade()
    assert set(inspect(db.engine).get_table_names()) == TABLES
    assert _differences() == []


def test_downgrade_to_base_and_upgrade_again(empty_app):
    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
    upgrade()
    assert set(inspect(db.engine).get_table_names()) == TABLES
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


def test_accounts_revision_upgrades_existing_users_and_downgrades_cleanly(empty_app):
    """Users from before it are unverified, at password version 0; down again, they stay."""
    upgrade(revision="634719df3ec3")
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO site_user (email, password_hash, registered_on, admin, public_id, "
            "token_version) VALUES ('old@example.com', 'x', '2026-01-01 00:00:00', false, "
            "'old-public-id', 0)"
        )
    upgrade(revision="2d359d507b00")
    with db.engine.connect() as connection:
        row = connection.exec_driver_sql(
            "SELECT password_version, email_verified FROM site_user"
        ).one()
    assert (row[0], bool(row[1])) == (0, False)
    new_tables = {"user_session", "account_token", "mail_outbox"}
    assert new_tables <= set(inspect(db.engine).get_table_names())
    foreign_keys = {
        table: {(fk["referred_table"], fk["options"].get("ondelete")) for fk in keys}
        for table in new_tables
        for keys in [inspect(db.engine).get_foreign_keys(table)]
    }
    assert foreign_keys == {
        "user_session": {("site_user", "CASCADE")},
        "account_token": {("site_user", "CASCADE")},
        "mail_outbox": {("account_token", "SET NULL")},
    }
    downgrade(revision="634719df3ec3")
    inspector = inspect(db.engine)
    assert not new_tables & set(inspector.get_table_names())
    columns = {column["name"] for column in inspector.get_columns("site_user")}
    assert not {"password_version", "email_verified"} & columns
    with db.engine.begin() as connection:
        assert connection.exec_driver_sql("SELECT email FROM site_user").scalar() == (
            "old@example.com"
        )
        connection.exec_driver_sql("DELETE FROM site_user")
