"""The audit trail: one key=value line per security event, on one logger.

Lines carry the client address and the user's public_id where known, never a
password, a token or a password hash: callers pass only the fields below.
"""

import json
import logging

from flask import request

# Not under the app's logger ("flask_api_tutorial"), whose default handler would
# print every line a second time.
AUDIT_LOGGER = "audit.flask_api_tutorial"
logger = logging.getLogger(AUDIT_LOGGER)

_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._-:/")


def audit(event, **fields):
    """Log ``event`` with ``fields`` (email, public_id, reason, ...) and the client address."""
    if not logger.isEnabledFor(logging.INFO):
        return
    pairs = {"event": event, **fields, "ip": request.remote_addr}
    logger.info(" ".join(f"{key}={_value(value)}" for key, value in pairs.items()))


def _value(value):
    """Quote values that could break the line apart (spaces, quotes, newlines)."""
    text = "-" if value is None else str(value)
    if text and set(text) <= _SAFE_CHARS:
        return text
    return json.dumps(text)


def init_app(app):
    """Give the audit logger a stderr handler at INFO unless one is configured.

    gunicorn and `flask run` leave the root logger without handlers, so INFO lines
    would otherwise be dropped. Records still propagate to handlers above.
    """
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s audit %(message)s"))
        logger.addHandler(handler)
