"""Text a client sent: kept on one line in logs, kept out of stored fields.

Imported by gunicorn.conf.py before the workers fork, so it imports nothing of the
project (prometheus_client must not be loaded before PROMETHEUS_MULTIPROC_DIR is set).
"""

import re

# C0, DEL and C1: no place in a stored field or a log line (a newline starts a
# forged line, ESC drives a terminal, PostgreSQL refuses NUL).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# In logs they are written as \xNN, and the backslash doubled (else ambiguous).
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES[ord("\\")] = "\\\\"


def escape_controls(text):
    """Return ``text`` with its control characters (and backslashes) escaped: one line."""
    return str(text).translate(_ESCAPES)
