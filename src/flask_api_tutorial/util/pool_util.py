"""Connection-pool health checks that cost nothing while the pool is busy."""

import time

from sqlalchemy import event, exc


def ping_after_idle(engine, idle_seconds):
    """Ping a pooled connection on checkout only if it sat idle ``idle_seconds`` or more.

    SQLAlchemy's pool_pre_ping pays a round trip on every checkout, that is on every
    request. A connection handed back moments ago is as alive as a ping would show;
    one that idled through a database restart is not, and is replaced here before a
    request sees it. A connection that dies mid-burst fails one statement (503), and
    SQLAlchemy then invalidates the pool, so the next checkouts reconnect.
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
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            # End the transaction the driver opened for the ping: the connection must
            # be handed out idle (a request may switch it to autocommit).
            dbapi_connection.rollback()
        except Exception as error:
            # The pool discards this connection and checks out (or opens) another.
            raise exc.DisconnectionError(str(error)) from error
