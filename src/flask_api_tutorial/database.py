"""Database set-up: the engine's options, SQLite's pragmas, the pool's ping and deadline.

``init_app`` binds db and migrate to the app. On PostgreSQL the pool is bounded,
connects and statements have time limits, a connection that idled through a
database restart is replaced before a request sees it (``ping_after_idle``), and
every command has a deadline (``CommandDeadline``): the server's statement timeout
cancels slow statements, but not a command whose packets are lost (a network
partition, a server that stopped answering), where the client would wait for an
answer that never comes and TCP may not notice for many minutes. A watcher thread
closes the socket of a connection still busy past its deadline: the waiting request
fails at once (503), and the pool replaces the connection.
"""

import logging
import os
import socket
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from flask import current_app
from sqlalchemy import create_engine, event, exc

from flask_api_tutorial import db, migrate

logger = logging.getLogger("flask_api_tutorial")

SQLITE_FILENAME = "flask_api_tutorial.db"
# On a server database, a second engine whose connections stay in autocommit: the
# token check reads there without a transaction, and without switching a pooled
# connection to autocommit and back on every request (which costs more than the
# read). It has no tables of its own: db.create_all() and the migrations never see it.
AUTOCOMMIT_ENGINE = "flask_api_tutorial.autocommit_engine"
COMMAND_DEADLINE = "flask_api_tutorial.command_deadline"


def init_app(app):
    """Bind db and migrate to ``app`` and set up its engine for serving requests.

    Without SQLALCHEMY_DATABASE_URI the database is an SQLite file in the instance
    folder (never inside the installed package). Flask-Migrate's convention, and
    the tutorial's: the migrations are ./migrations of the working directory (the
    checkout), so that a non-editable install finds them too.
    """
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        db_file = Path(app.instance_path) / SQLITE_FILENAME
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_file}"
    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config))
    db.init_app(app)
    migrate.init_app(app, db)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
            return
        # Nothing to roll back on return to its pool: no transaction is ever open.
        autocommit = create_engine(
            db.engine.url,
            **{**options, "isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None},
        )
        app.extensions[AUTOCOMMIT_ENGINE] = autocommit
        app.extensions[COMMAND_DEADLINE] = configure_pool([db.engine, autocommit], app.config)


def autocommit_engine():
    """Return the engine for single reads outside a transaction (SQLite: the only one)."""
    return current_app.extensions.get(AUTOCOMMIT_ENGINE) or db.engine


def dispose_engines():
    """Close the session, then every pooled connection of the current app's engines."""
    db.session.remove()  # it may hold a connection, which would outlive its pool
    db.engine.dispose()
    if AUTOCOMMIT_ENGINE in current_app.extensions:
        current_app.extensions[AUTOCOMMIT_ENGINE].dispose()


def engine_options(config):
    """Return SQLALCHEMY_ENGINE_OPTIONS for the configured database.

    For PostgreSQL the pool is bounded, and connects and statements have time
    limits; connections that idled through a database restart are replaced by
    ``ping_after_idle`` instead of failing requests.
    """
    uri = config["SQLALCHEMY_DATABASE_URI"]
    # Errors never show statement parameters: they may hold password hashes.
    if not uri.startswith("postgresql"):
        # A local file: no connection to lose, so no ping to pay on every checkout.
        return {"hide_parameters": True}
    return {
        "hide_parameters": True,
        "pool_size": config["DB_POOL_SIZE"],
        "max_overflow": config["DB_MAX_OVERFLOW"],
        "pool_timeout": config["DB_POOL_TIMEOUT"],
        "pool_recycle": 1800,
        "connect_args": {
            "connect_timeout": config["DB_CONNECT_TIMEOUT"],
            "options": f"-c statement_timeout={config['DB_STATEMENT_TIMEOUT_MS']}",
            "application_name": "flask_api_tutorial",
        },
    }


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


def configure_pool(engines, config):
    """Set up a server database's pools: the idle ping, and one command deadline for all.

    The deadline is the statement timeout plus one second (the server's own
    cancel, which says more, comes first), and DB_CONNECT_TIMEOUT for the ping;
    DB_STATEMENT_TIMEOUT_MS=0 turns both timeouts off. Returns the deadline (or None).
    """
    deadline = None
    statement_timeout_ms = config["DB_STATEMENT_TIMEOUT_MS"]
    for engine in engines:
        if deadline is None and engine.dialect.driver == "psycopg" and statement_timeout_ms:
            deadline = CommandDeadline(
                seconds=statement_timeout_ms / 1000 + 1,
                ping_seconds=config["DB_CONNECT_TIMEOUT"],
            )
        if deadline is not None:
            deadline.install(engine)
        ping_after_idle(engine, config["DB_PING_AFTER_IDLE_SECONDS"], deadline)
    return deadline


def ping_after_idle(engine, idle_seconds, deadline=None):
    """Ping a pooled connection on checkout only if it sat idle ``idle_seconds`` or more.

    SQLAlchemy's pool_pre_ping pays a round trip on every checkout, that is on every
    request. A connection handed back moments ago is as alive as a ping would show;
    one that idled through a database restart is not, and is replaced here before a
    request sees it. A connection that dies mid-burst fails one statement (503), and
    SQLAlchemy then invalidates the pool, so the next checkouts reconnect. The ping
    itself is bounded by ``deadline`` (a CommandDeadline), if given.
    """

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection, connection_record):
        connection_record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, connection_record, connection_proxy):
        checked_in_at = connection_record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return
        try:
            if deadline is not None:
                deadline.arm(dbapi_connection, deadline.ping_seconds)
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            # End the transaction the driver opened for the ping (none on the
            # autocommit pool): the connection must be handed out idle.
            dbapi_connection.rollback()
        except Exception as error:
            # The pool discards this connection and checks out (or opens) another.
            raise exc.DisconnectionError(str(error)) from error


class CommandDeadline:
    """Close the socket of a psycopg connection whose command outlives its deadline.

    ``arm`` is called as each command starts (statement, commit, rollback, ping),
    which costs a dictionary write; a connection checked in is forgotten. Every
    ``interval`` seconds a daemon thread (one per process, started on first use,
    so after gunicorn forks, and again if it ever stops) looks for connections
    past their deadline that still wait for an answer.
    """

    def __init__(self, seconds, ping_seconds, interval=0.1):
        self.seconds = seconds
        self.ping_seconds = ping_seconds
        self.interval = interval
        # id(connection) -> (weak reference, deadline); the lock orders arm() and
        # the watcher, so a deadline seen unchanged means no new command started.
        self._deadlines = {}
        self._lock = threading.Lock()
        self._watcher = None

    def arm(self, dbapi_connection, seconds=None):
        """Give the command that ``dbapi_connection`` is about to send its deadline."""
        deadline = time.monotonic() + (seconds or self.seconds)
        with self._lock:
            self._deadlines[id(dbapi_connection)] = (weakref.ref(dbapi_connection), deadline)
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = threading.Thread(
                    target=self._watch, name="db-deadline", daemon=True
                )
                self._watcher.start()

    def forget(self, dbapi_connection):
        """Stop watching ``dbapi_connection`` (back in the pool: nothing in flight)."""
        with self._lock:
            self._deadlines.pop(id(dbapi_connection), None)

    def _watch(self):
        while True:
            time.sleep(self.interval)
            try:
                self._close_overdue()
            except Exception:  # keep watching: a partition must never hang requests
                logger.exception("database deadline watcher failed")

    def _close_overdue(self):
        from psycopg import pq

        now = time.monotonic()
        with self._lock:
            overdue = [key for key, (_, due) in self._deadlines.items() if due <= now]
            for key in overdue:
                ref, _ = self._deadlines.pop(key)
                conn = ref()
                if conn is None:
                    continue
                try:
                    # Under the lock: had a new command started, arm() would have
                    # replaced this deadline first. Still busy means still waiting.
                    if conn.pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
                        continue
                    _shut_down(conn.pgconn.socket)
                except Exception:  # closed meanwhile: nothing left to cut
                    continue
                logger.error("database command unanswered past its deadline: closed")

    def install(self, engine):
        """Arm the deadline for every command that ``engine`` sends."""
        from psycopg import pq

        idle = pq.TransactionStatus.IDLE

        def arm_unless_idle(dbapi_connection):
            # psycopg sends COMMIT or ROLLBACK only inside a transaction: outside one
            # (autocommit reads, a connection rolled back already) nothing can hang.
            if dbapi_connection.pgconn.transaction_status != idle:
                self.arm(dbapi_connection)

        @event.listens_for(engine, "before_cursor_execute")
        def _statement(conn, cursor, statement, parameters, context, executemany):
            self.arm(cursor.connection)

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def _end_transaction(conn):
            if not conn.invalidated:  # an invalidated connection sends nothing more
                arm_unless_idle(conn.connection.dbapi_connection)

        @event.listens_for(engine, "reset")
        def _reset(dbapi_connection, connection_record, reset_state):
            arm_unless_idle(dbapi_connection)

        @event.listens_for(engine, "checkin")
        def _checkin(dbapi_connection, connection_record):
            if dbapi_connection is not None:
                self.forget(dbapi_connection)


def _shut_down(fd):
    """Shut the socket ``fd`` down in both directions; the owner's wait returns at once.

    A duplicate descriptor is shut down and closed: the original stays valid for
    the thread that owns the connection, which then reads end-of-file.
    """
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.close()
