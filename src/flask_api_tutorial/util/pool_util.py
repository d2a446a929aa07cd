"""Connection-pool health: an idle ping that costs nothing under load, and a deadline.

The deadline bounds every command sent to PostgreSQL. The server's statement
timeout cancels slow statements, but not a command whose packets are lost (a
network partition, a server that stopped answering): the client then waits for
an answer that never comes, and TCP may not notice for many minutes. So each
command is given a deadline, and a watcher thread closes the socket of a
connection still busy past it: the waiting request fails at once (503), and the
pool replaces the connection.
"""

import logging
import os
import socket
import threading
import time
import weakref

from sqlalchemy import event, exc

logger = logging.getLogger("flask_api_tutorial")


def configure_pool(engine, config):
    """Set up a server database's pool: the idle ping, and the command deadline.

    The deadline is the statement timeout plus one second (the server's own
    cancel, which says more, comes first), and DB_CONNECT_TIMEOUT for the ping;
    DB_STATEMENT_TIMEOUT_MS=0 turns both timeouts off.
    """
    deadline = None
    statement_timeout_ms = config["DB_STATEMENT_TIMEOUT_MS"]
    if engine.dialect.driver == "psycopg" and statement_timeout_ms:
        deadline = CommandDeadline(
            seconds=statement_timeout_ms / 1000 + 1, ping_seconds=config["DB_CONNECT_TIMEOUT"]
        )
        deadline.install(engine)
    ping_after_idle(engine, config["DB_PING_AFTER_IDLE_SECONDS"], deadline)


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
            # End the transaction the driver opened for the ping: the connection must
            # be handed out idle (a request may switch it to autocommit).
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

        @event.listens_for(engine, "before_cursor_execute")
        def _statement(conn, cursor, statement, parameters, context, executemany):
            self.arm(cursor.connection)

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def _end_transaction(conn):
            if not conn.invalidated:  # an invalidated connection sends nothing more
                self.arm(conn.connection.dbapi_connection)

        @event.listens_for(engine, "reset")
        def _reset(dbapi_connection, connection_record, reset_state):
            self.arm(dbapi_connection)

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
