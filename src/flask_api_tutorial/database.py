"""Database set-up: the engine's options, SQLite's pragmas, the pool's ping and deadline.

``init_app`` binds db and migrate to the app. On PostgreSQL the pool is bounded and
every way a connection can fail has a bound; each mechanism covers its own fault:

- ``connect_timeout``: a server that does not accept the connection;
- the server's ``statement_timeout``: a slow statement on a server that answers;
- libpq's ``tcp_user_timeout``: a network partition while a command is in flight
  (its packets are never acknowledged), and with ``keepalives*`` one while the
  connection sits idle in the pool;
- ``ping_after_idle``: a connection that idled through a database restart is
  replaced before a request sees it;
- ``CommandDeadline``: a peer that acknowledges every packet and never answers (a
  TCP-terminating proxy such as PgBouncer whose server is gone, a wedged server on
  a live kernel), which TCP cannot see. A watcher thread cuts the socket of a
  connection still waiting past its deadline: the request fails at once (503),
  and the pool replaces the connection.
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

    For PostgreSQL the pool is bounded, and connects, statements and unanswered
    packets have time limits (libpq's parameters, see the module docstring).
    """
    uri = config["SQLALCHEMY_DATABASE_URI"]
    # Errors never show statement parameters: they may hold password hashes.
    if not uri.startswith("postgresql"):
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
            "keepalives": 1,
            "keepalives_idle": config["DB_KEEPALIVES_IDLE"],
            "keepalives_interval": config["DB_KEEPALIVES_INTERVAL"],
            "keepalives_count": config["DB_KEEPALIVES_COUNT"],
            "tcp_user_timeout": config["DB_TCP_USER_TIMEOUT_MS"],
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
    DB_COMMAND_DEADLINE=false or DB_STATEMENT_TIMEOUT_MS=0 turns the watcher off.
    Returns the deadline (or None).
    """
    deadline = None
    statement_timeout_ms = config["DB_STATEMENT_TIMEOUT_MS"]
    if config["DB_COMMAND_DEADLINE"] and statement_timeout_ms:
        deadline = CommandDeadline(
            seconds=statement_timeout_ms / 1000 + 1, ping_seconds=config["DB_CONNECT_TIMEOUT"]
        )
    for engine in engines:
        if deadline is not None and engine.dialect.driver == "psycopg":
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


class _Watched:
    """A watched connection: a weak reference, our own socket to it, and its deadline."""

    __slots__ = ("connection", "socket", "due")

    def __init__(self, connection, sock):
        self.connection = connection
        self.socket = sock
        self.due = None


class CommandDeadline:
    """Cut the socket of a psycopg connection whose command outlives its deadline.

    Each connection is watched from the moment it opens through a duplicate of its
    socket's descriptor, which this class owns and closes when the pool closes the
    connection (under the lock the watcher holds): the descriptor it cuts can never
    name another socket, even after libpq has closed its own and the number has been
    reused. ``arm`` is called as each command starts (statement, commit, rollback,
    ping); a connection checked in has nothing in flight. Every ``interval``
    seconds a daemon thread (one per process, started on first use, so after
    gunicorn forks, and again if it ever stops) cuts the connections past their
    deadline that still wait for an answer.
    """

    def __init__(self, seconds, ping_seconds, interval=0.1):
        self.seconds = seconds
        self.ping_seconds = ping_seconds
        self.interval = interval
        # id(connection) -> _Watched; the lock orders arm(), release() and the
        # watcher, so a deadline seen unchanged means no new command started.
        self._watched = {}
        self._lock = threading.Lock()
        self._watcher = None

    def watch(self, dbapi_connection):
        """Start watching a newly opened connection (a duplicate of its socket is kept)."""
        sock = socket.socket(fileno=os.dup(dbapi_connection.pgconn.socket))
        with self._lock:
            stale = self._watched.pop(id(dbapi_connection), None)
            if stale is not None:  # an id reused before the watcher swept a collected one
                stale.socket.close()
            self._watched[id(dbapi_connection)] = _Watched(weakref.ref(dbapi_connection), sock)

    def release(self, dbapi_connection):
        """Stop watching a connection about to be closed, and close our socket to it."""
        with self._lock:
            watched = self._watched.pop(id(dbapi_connection), None)
            if watched is not None:
                watched.socket.close()

    def arm(self, dbapi_connection, seconds=None):
        """Give the command that ``dbapi_connection`` is about to send its deadline."""
        due = time.monotonic() + (seconds or self.seconds)
        with self._lock:
            watched = self._watched.get(id(dbapi_connection))
            if watched is None or watched.connection() is not dbapi_connection:
                return  # opened before install(): nothing of ours to cut it with
            watched.due = due
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = threading.Thread(
                    target=self._watch, name="db-deadline", daemon=True
                )
                self._watcher.start()

    def disarm(self, dbapi_connection):
        """Drop the deadline of ``dbapi_connection`` (back in the pool: nothing in flight)."""
        with self._lock:
            watched = self._watched.get(id(dbapi_connection))
            if watched is not None:
                watched.due = None

    def _watch(self):
        while True:
            time.sleep(self.interval)
            try:
                self.cut_overdue()
            except Exception:  # keep watching: a partition must never hang requests
                logger.exception("database deadline watcher failed")

    def cut_overdue(self):
        """Cut every connection past its deadline that still waits for an answer."""
        from psycopg import pq

        now = time.monotonic()
        with self._lock:
            for key, watched in list(self._watched.items()):
                connection = watched.connection()
                if connection is None:  # collected without the pool closing it
                    watched.socket.close()
                    del self._watched[key]
                    continue
                if watched.due is None or watched.due > now:
                    continue
                watched.due = None
                # Had a new command started, arm() would have moved the deadline
                # first (it takes the lock). Still busy means still waiting.
                if connection.pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
                    continue
                try:
                    watched.socket.shutdown(socket.SHUT_RDWR)
                except OSError:  # already disconnected: nothing left to cut
                    continue
                logger.error("database command unanswered past its deadline: cut")

    def install(self, engine):
        """Watch every connection that ``engine`` opens, and arm each command it sends."""
        from psycopg import pq

        idle = pq.TransactionStatus.IDLE

        def arm_unless_idle(dbapi_connection):
            # psycopg sends COMMIT or ROLLBACK only inside a transaction: outside one
            # (autocommit reads, a connection rolled back already) nothing can hang.
            if dbapi_connection.pgconn.transaction_status != idle:
                self.arm(dbapi_connection)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, connection_record):
            self.watch(dbapi_connection)

        @event.listens_for(engine, "close")
        def _close(dbapi_connection, connection_record):
            self.release(dbapi_connection)

        @event.listens_for(engine, "close_detached")
        def _close_detached(dbapi_connection):
            self.release(dbapi_connection)

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
                self.disarm(dbapi_connection)
