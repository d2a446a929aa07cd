"""The MailMessage model: the outbox, one row per mail, written with what it carries."""

from flask_api_tutorial import db
from flask_api_tutorial.models.account_token import PASSWORD_RESET, VERIFY_EMAIL
from flask_api_tutorial.util.datetime_util import UtcDateTime, utc_now

# What a message is (mail.py writes each kind): the two that carry a token of their
# purpose, and a notice.
PASSWORD_CHANGED = "password_changed"
KINDS = (PASSWORD_RESET, VERIFY_EMAIL, PASSWORD_CHANGED)

# Where it stands.
PENDING = "pending"  # to be sent once due_at has come
SENDING = "sending"  # claimed by a sender until claimed_until
SENT = "sent"
FAILED = "failed"  # every attempt failed
DROPPED = "dropped"  # nothing to send: no such account, or nothing to do for it
DONE = (SENT, FAILED, DROPPED)
ERROR_MAX_LENGTH = 255


class MailMessage(db.Model):
    """A mail in the outbox: written in the transaction that asks for it, sent after commit.

    A request writes the row only; a sender (mail.py) claims due rows, makes the
    token they carry if any (in one transaction with the row), sends after the
    commit, and records the outcome, retrying with backoff until MAIL_MAX_ATTEMPTS.
    """

    __tablename__ = "mail_outbox"

    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(db.String(20), nullable=False)
    recipient = db.Column(db.String(255), nullable=False)
    token_id = db.Column(
        db.Integer, db.ForeignKey("account_token.id", ondelete="SET NULL"), nullable=True
    )
    status = db.Column(db.String(10), nullable=False, default=PENDING, index=True)
    attempts = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(UtcDateTime(), nullable=False, default=utc_now, index=True)
    due_at = db.Column(UtcDateTime(), nullable=False, default=utc_now)
    claimed_by = db.Column(db.String(36), nullable=True, index=True)
    claimed_until = db.Column(UtcDateTime(), nullable=True)
    sent_at = db.Column(UtcDateTime(), nullable=True)
    error = db.Column(db.String(ERROR_MAX_LENGTH), nullable=True)

    token = db.relationship("AccountToken")

    def __repr__(self):
        """Show the message's kind and state, not its recipient."""
        return f"<MailMessage id={self.id}, kind={self.kind}, status={self.status}>"

    @classmethod
    def enqueue(cls, kind, recipient, now=None):
        """Add a message of ``kind`` for ``recipient`` to the caller's transaction."""
        now = now or utc_now()
        message = cls(kind=kind, recipient=recipient, status=PENDING, created_at=now, due_at=now)
        db.session.add(message)
        return message
