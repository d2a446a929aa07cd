"""SQLite connection settings for a database that a server shares between threads."""

import sqlite3

from sqlalchemy import event


def configure_sqlite(engine):
    """Set up every SQLite connection of ``engine`` for serving requests.

    Foreign keys are enforced (and cascade). The write-ahead log lets readers go on
    while one request writes. synchronous=FULL syncs the log on every commit: what
    was acknowledged (a logout's revocation above all) survives a crash or a power
    cut; NORMAL could lose the last commits and make a revoked token valid again.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()
