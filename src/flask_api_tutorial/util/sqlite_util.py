"""SQLite connection settings for a database that a server shares between threads."""

import sqlite3

from sqlalchemy import event


def configure_sqlite(engine):
    """Set up every SQLite connection of ``engine`` for serving requests.

    Foreign keys are enforced (and cascade). The write-ahead log lets readers go on
    while one request writes, and with synchronous=NORMAL a commit needs no fsync of
    its own (a power cut may lose the last commits, never corrupt the file): a
    login's refresh-token insert then costs well under a millisecond.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
