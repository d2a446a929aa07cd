"""The audit trail and the logs: a line per security event, request ids, text or JSON.

Every request has an id: the ``X-Request-ID`` a trusted proxy sent (only when
TRUSTED_PROXY_COUNT says one is in front, and only a valid one: at most 128
letters, digits, ``.``, ``_`` or ``-``), else a fresh one. The response carries
it, and so does every audit line and every error line of that request.

LOG_FORMAT=text (default) writes audit lines as ``key=value`` pairs; json writes
audit and error lines as one JSON object each: ``time``, ``level``, ``event``,
``request_id`` and the event's fields. Lines carry the client address and the
user's public_id where known, never a password, a token or a password hash:
callers pass only the fields below. Each event is also counted (metrics.py).

No client can write a line of its own: what a request brings (a path, a header, an
email) never reaches a log with a raw control character. JSON and the quoted audit
values escape them; text error lines and gunicorn's access log (gunicorn.conf.py)
go through ``escape_controls``.
"""

import copy
import json
import logging
import re
import uuid
from datetime import datetime, timezone

from flask import current_app, has_request_context, request
from flask.logging import default_handler

from flask_api_tutorial import metrics
from flask_api_tutorial.util.log_util import escape_controls

# Not under the app's logger ("flask_api_tutorial"), whose handler would print
# every line a second time.
AUDIT_LOGGER = "audit.flask_api_tutorial"
logger = logging.getLogger(AUDIT_LOGGER)
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_KEY = "flask_api_tutorial.request_id"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")
TEXT_AUDIT_FORMAT = "%(asctime)s audit %(message)s request_id=%(request_id)s"
TEXT_ERROR_FORMAT = (
    "[%(asctime)s] %(levelname)s in %(module)s request_id=%(request_id)s: %(message)s"
)

_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._-:/")


def audit(event, **fields):
    """Log and count ``event`` with ``fields`` (email, public_id, reason, ...)."""
    metrics.count_audit_event(event, fields)
    if not logger.isEnabledFor(logging.INFO):
        return
    pairs = {"event": event, **fields, "ip": request.remote_addr}
    message = " ".join(f"{key}={_value(value)}" for key, value in pairs.items())
    logger.info(message, extra={"audit_fields": pairs})


def request_id():
    """Return this request's id: the trusted proxy's valid X-Request-ID, else a new one."""
    environ = request.environ  # per request (g may outlive one: an app context)
    if REQUEST_ID_KEY not in environ:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        trusted = current_app.config["TRUSTED_PROXY_COUNT"] > 0
        valid = trusted and REQUEST_ID_PATTERN.fullmatch(incoming)
        environ[REQUEST_ID_KEY] = incoming if valid else uuid.uuid4().hex
    return environ[REQUEST_ID_KEY]


def _value(value):
    """Quote values that could break the line apart (spaces, quotes, newlines)."""
    text = "-" if value is None else str(value)
    if text and set(text) <= _SAFE_CHARS:
        return text
    return json.dumps(text)


def init_app(app):
    """Send request ids back, and format the audit and error logs as LOG_FORMAT says.

    gunicorn and `flask run` leave the root logger without handlers, so the audit
    logger gets a stderr handler at INFO unless one is configured; the app's
    logger gets one that adds the request id. Records still propagate upwards.
    """
    app.after_request(_send_request_id)
    json_lines = app.config["LOG_FORMAT"] == "json"
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    _configure(logger, JsonFormatter() if json_lines else TextFormatter(TEXT_AUDIT_FORMAT))
    app.logger.removeHandler(default_handler)
    _configure(app.logger, JsonFormatter() if json_lines else TextFormatter(TEXT_ERROR_FORMAT))


def _send_request_id(response):
    response.headers[REQUEST_ID_HEADER] = request_id()
    return response


def _configure(target, formatter):
    """Give ``target`` a stderr handler with ``formatter``, unless the operator gave it one.

    An operator's handlers (a logging configuration) keep their format and get the
    request id on their records.
    """
    ours = [handler for handler in target.handlers if isinstance(handler, _RequestHandler)]
    if ours:
        ours[0].setFormatter(formatter)
    elif target.handlers:
        for handler in target.handlers:
            handler.addFilter(_add_request_id)
    else:
        handler = _RequestHandler()
        handler.setFormatter(formatter)
        target.addHandler(handler)


class _RequestHandler(logging.StreamHandler):
    """A stderr handler whose records carry ``request_id`` (None outside a request)."""

    def __init__(self):
        """Write to stderr, adding the request id to each record."""
        super().__init__()
        self.addFilter(_add_request_id)


def _add_request_id(record):
    record.request_id = request_id() if has_request_context() else None
    return True


class TextFormatter(logging.Formatter):
    """Text lines whose message is one line: control characters escaped.

    Flask's "Exception on <path>" line quotes a path a client chose. A traceback
    keeps its lines; within them, control characters are escaped too.
    """

    def format(self, record):
        """Return the record as text, its message escaped."""
        safe = copy.copy(record)
        safe.msg, safe.args = escape_controls(record.getMessage()), None
        return super().format(safe)

    def formatException(self, ei):  # noqa: N802 (logging's name)
        """Return the traceback, each of its lines escaped."""
        text = super().formatException(ei)
        return "\n".join(escape_controls(line) for line in text.split("\n"))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, event, request_id, then the event's fields.

    Audit records bring their fields; any other record is an ``error`` (or ``log``)
    event with its message, and its traceback when it has one.
    """

    def format(self, record):
        """Return the record as one line of JSON."""
        fields = getattr(record, "audit_fields", None)
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "event": "error" if record.levelno >= logging.ERROR else "log",
            "request_id": getattr(record, "request_id", None),
        }
        if fields is not None:
            entry["event"] = fields["event"]
            entry.update((key, value) for key, value in fields.items() if key != "event")
        else:
            entry["logger"] = record.name
            entry["message"] = record.getMessage()
            if record.exc_info:
                entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
