"""Log text: what a client sent, kept on one line.

Imported by gunicorn.conf.py before the workers fork, so it imports nothing else
(prometheus_client must not be loaded before PROMETHEUS_MULTIPROC_DIR is set).
"""

# C0, DEL and C1 (a newline starts a forged line, ESC drives a terminal), and the
# backslash, which would make an escape ambiguous.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES[ord("\\")] = "\\\\"


def escape_controls(text):
    """Return ``text`` with its control characters (and backslashes) escaped: one line."""
    return str(text).translate(_ESCAPES)
