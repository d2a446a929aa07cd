"""SQLite connection settings that its defaults leave off."""

import sqlite3

from sqlalchemy import event


def enforce_foreign_keys(engine):
    """Make every SQLite connection of ``engine`` enforce foreign keys (and cascades)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
