"""The tests' databases: the schema the migrations build, once per test process.

On SQLite a migrated file is copied for each test. On PostgreSQL (TEST_DATABASE_URL,
set by tests/support/run_postgres.py) each test process (an xdist worker) gets its
own database beside that one, migrated once and emptied after each test.
"""

import os
import shutil

from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from flask_api_tutorial import create_app, db
from flask_api_tutorial.database import dispose_engines

BASE_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
ON_POSTGRES = (BASE_DATABASE_URL or "").startswith("postgresql")
# pytest-xdist names its workers gw0, gw1, ...; a run without it is one process.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
WORKER_INDEX = int(WORKER[2:]) if WORKER.startswith("gw") else 0


def _named(url, suffix):
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(hide_password=False)


# For apps that are refused at start-up or never query: an in-memory SQLite database.
NO_DATABASE = "sqlite://"
# This process's PostgreSQL database (None on SQLite).
TEST_DATABASE_URL = _named(BASE_DATABASE_URL, WORKER) if ON_POSTGRES else None


def _autocommit(url):
    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")


def create_database(url):
    """Create the PostgreSQL database of ``url`` (dropping a leftover of that name)."""
    drop_database(url)
    name = make_url(url).database
    engine = _autocommit(BASE_DATABASE_URL)
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()


def drop_database(url):
    """Drop the PostgreSQL database of ``url``, ending its connections."""
    name = make_url(url).database
    engine = _autocommit(BASE_DATABASE_URL)
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def new_empty_postgres_database(suffix):
    """Create and return the URL of an empty database of this process, named by ``suffix``."""
    url = _named(TEST_DATABASE_URL, suffix)
    create_database(url)
    return url


def migrate(url):
    """Build the schema of ``url`` as `flask db upgrade` does."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.session.remove()
        dispose_engines()


def migrated_sqlite_copy(template, path):
    """Return the URL of a copy at ``path`` of the migrated SQLite file ``template``."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def empty_postgres(url):
    """Remove every row a test left in ``url``; rebuild the schema if a test changed it.

    DELETE, children first, and sequences restarted: on a test's few rows it is
    several times quicker than TRUNCATE, which makes new files for every table.
    """
    tables = db.metadata.sorted_tables
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        inspector = inspect(connection)
        if {table.name for table in tables} <= set(inspector.get_table_names()):
            connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            for table in reversed(tables):
                connection.execute(table.delete())
            for sequence in inspector.get_sequence_names():
                connection.exec_driver_sql(f'ALTER SEQUENCE "{sequence}" RESTART')
            engine.dispose()
            return
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    migrate(url)
