"""Mail: the outbox's sender, the texts it sends, and where it sends them.

A request never sends mail. It writes a MailMessage in its own transaction and, after
its commit, wakes this process's sender (``notify``). The sender claims due messages
(atomically: SKIP LOCKED on PostgreSQL, a conditional UPDATE everywhere), makes the
token a message carries in one transaction with it, sends after that commit, outside
any transaction and row lock, with MAIL_TIMEOUT per attempt, and records the outcome:
sent; retried later with backoff (a refused, dropped or stalled connection); or, past
MAIL_MAX_ATTEMPTS, failed (logged and counted). Claims expire, so a message whose
sender died is taken up by another. ``flask send-mail`` runs one pass by hand or from
cron; with MAIL_SEND_IN_BACKGROUND (default) each process also runs a sender thread.

MAIL_BACKEND: ``smtp`` (smtplib, MAIL_SERVER ...), ``console`` (the message printed,
development's default) or ``disabled`` (nothing is ever written to the outbox; the
mailing endpoints answer 503).
"""

import logging
import smtplib
import ssl
import sys
import threading
import uuid
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

from flask_api_tutorial import db, metrics
from flask_api_tutorial.models import AccountToken, MailMessage, User
from flask_api_tutorial.models import account_token as tokens
from flask_api_tutorial.models import mail_message as outbox
from flask_api_tutorial.util.datetime_util import utc_now
from flask_api_tutorial.util.log_util import escape_controls

logger = logging.getLogger("flask_api_tutorial.mail")

SMTP = "smtp"
CONSOLE = "console"
DISABLED = "disabled"
BACKENDS = (SMTP, CONSOLE, DISABLED)
SENDER_KEY = "flask_api_tutorial.mail_sender"
# How long a claim holds a message: longer than any attempt can take.
CLAIM_MARGIN = timedelta(seconds=60)
BATCH = 20


def init_app(app):
    """Give ``app`` its sender; with MAIL_SEND_IN_BACKGROUND, a thread the first request starts.

    Started by a request, not here: after gunicorn forks, and never in a ``flask``
    command.
    """
    sender = Sender(app)
    app.extensions[SENDER_KEY] = sender
    if app.config["MAIL_SEND_IN_BACKGROUND"] and app.config["MAIL_BACKEND"] != DISABLED:
        app.before_request(sender.start)


def enabled():
    """Return True unless MAIL_BACKEND=disabled."""
    return current_app.config["MAIL_BACKEND"] != DISABLED


def queue(kind, recipient):
    """Add a message of ``kind`` for ``recipient`` to the request's transaction, if mail is on.

    The caller commits, then calls ``notify``. Return the message, or None when
    MAIL_BACKEND=disabled.
    """
    if not enabled():
        return None
    return MailMessage.enqueue(kind, recipient)


def notify():
    """Wake this process's sender: a message was committed (a no-op without the thread)."""
    current_app.extensions[SENDER_KEY].wake()


def deliver_due(now=None):
    """Send every message that is due now, once; return {outcome: count} (the CLI's pass).

    Safe beside other senders, in this process or others: each message is claimed by
    one of them.
    """
    outcomes = {}
    while True:
        claimed = _claim(now)
        if not claimed:
            return outcomes
        for message_id in claimed:
            outcome = _deliver(message_id, now)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1


def _claim(now):
    """Claim up to BATCH due messages for this call; return their ids (one transaction)."""
    now = now or utc_now()
    claim = str(uuid.uuid4())
    due = db.or_(
        db.and_(MailMessage.status == outbox.PENDING, MailMessage.due_at <= now),
        db.and_(MailMessage.status == outbox.SENDING, MailMessage.claimed_until < now),
    )
    # Rows another sender holds are skipped (PostgreSQL); the UPDATE checks again, so
    # of two senders that read the same rows (SQLite) only one claims each.
    candidates = db.session.scalars(
        db.select(MailMessage.id)
        .where(due)
        .order_by(MailMessage.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    if not candidates:
        db.session.rollback()
        return []
    timeout = current_app.config["MAIL_TIMEOUT"]
    db.session.execute(
        db.update(MailMessage)
        .where(MailMessage.id.in_(candidates), due)
        .values(
            status=outbox.SENDING,
            claimed_by=claim,
            claimed_until=now + timedelta(seconds=timeout) * 2 + CLAIM_MARGIN,
            attempts=MailMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    claimed = db.session.scalars(
        db.select(MailMessage.id).where(MailMessage.claimed_by == claim)
    ).all()
    db.session.commit()
    return claimed


def _deliver(message_id, now):
    """Prepare, send and record one claimed message; return its outcome."""
    letter = _prepare(message_id, now)
    if letter is None:
        return outbox.DROPPED
    message, email = letter
    try:
        _backend_send(email)
    except (OSError, smtplib.SMTPException) as error:
        return _record_failure(message, error, now)
    _record(message, outbox.SENT, now)
    return outbox.SENT


def _prepare(message_id, now):
    """Make what the message carries (its token, in one transaction with it); None to drop.

    Returns (message, EmailMessage). A message for an address without an account, or
    a verification for one already verified, is dropped, never sent: the request
    that asked for it answered the same either way.
    """
    now = now or utc_now()
    config = current_app.config
    # Read afresh: the session keeps objects across commits (expire_on_commit is off),
    # and another sender or request may have changed them since this pass read them.
    db.session.expire_all()
    message = db.session.get(MailMessage, message_id)
    user = User.find_by_email(message.recipient)
    wanted = user is not None and not (message.kind == outbox.VERIFY_EMAIL and user.email_verified)
    # A retry whose token was used, or superseded by a newer one, meanwhile.
    stale = message.token is not None and message.token.used_at is not None
    if not wanted or stale:
        _record(message, outbox.DROPPED, now)
        return None
    if message.kind in tokens.PURPOSES and message.token is None:
        lifetime = {
            tokens.PASSWORD_RESET: config["PASSWORD_RESET_LIFETIME"],
            tokens.VERIFY_EMAIL: config["VERIFY_EMAIL_LIFETIME"],
        }[message.kind]
        message.token = AccountToken.issue(
            user, message.kind, lifetime, config["MAIL_TOKEN_KEYS"][0], now
        )
    db.session.commit()
    token = message.token.plaintext(config["MAIL_TOKEN_KEYS"]) if message.token else None
    if message.token is not None and token is None:  # SECRET_KEY changed since: a new one
        message.token = None
        db.session.commit()
        return _prepare(message_id, now)
    return message, _email(message, token)


def _email(message, token):
    """Return the mail of ``message``, carrying ``token`` if it has one."""
    config = current_app.config
    email = EmailMessage()
    email["From"] = config["MAIL_DEFAULT_SENDER"]
    email["To"] = message.recipient
    email["Message-ID"] = make_msgid(domain=config["PUBLIC_BASE"].hostname)
    subject, body = TEXTS[message.kind](config, message.recipient, token)
    email["Subject"] = subject
    email.set_content(body)
    return email


def _record(message, status, now):
    message.status = status
    message.claimed_by = message.claimed_until = None
    if status == outbox.SENT:
        message.sent_at = now or utc_now()
    db.session.commit()
    metrics.count_mail(message.kind, "retry" if status == outbox.PENDING else status)


def _record_failure(message, error, now):
    """Retry later with backoff, or, past MAIL_MAX_ATTEMPTS, give up; return the outcome."""
    config = current_app.config
    message.error = escape_controls(f"{type(error).__name__}: {error}")[: outbox.ERROR_MAX_LENGTH]
    if message.attempts >= config["MAIL_MAX_ATTEMPTS"]:
        logger.error(
            "mail %s (%s) failed for good after %d attempts: %s",
            message.id,
            message.kind,
            message.attempts,
            message.error,
        )
        _record(message, outbox.FAILED, now)
        return outbox.FAILED
    backoff = config["MAIL_RETRY_SECONDS"] * 2 ** (message.attempts - 1)
    message.due_at = (now or utc_now()) + timedelta(seconds=backoff)
    logger.warning(
        "mail %s (%s) not sent (attempt %d), retried in %ss: %s",
        message.id,
        message.kind,
        message.attempts,
        backoff,
        message.error,
    )
    _record(message, outbox.PENDING, now)
    return "retry"


def _backend_send(email):
    config = current_app.config
    if config["MAIL_BACKEND"] == CONSOLE:
        # Decoded, as a mail client shows it: the token is copied from here.
        headers = "".join(f"{name}: {email[name]}\n" for name in ("From", "To", "Subject"))
        print(
            f"{'-' * 30} mail {'-' * 30}\n{headers}\n{email.get_content()}{'-' * 66}",
            file=sys.stdout,
            flush=True,
        )
        return
    timeout = config["MAIL_TIMEOUT"]
    host, port = config["MAIL_SERVER"], config["MAIL_PORT"]
    context = ssl.create_default_context(cafile=config["MAIL_TLS_CA_FILE"] or None)
    if config["MAIL_USE_SSL"]:
        server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        server = smtplib.SMTP(host, port, timeout=timeout)
    with server:
        if config["MAIL_USE_TLS"]:
            server.starttls(context=context)
        if config["MAIL_USERNAME"]:
            server.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        server.send_message(email)


def _link(template, config, token, default_path):
    if template:
        return template.replace("{token}", token)
    return f"{config['PUBLIC_BASE_URL'].rstrip('/')}{default_path}"


def _reset_text(config, recipient, token):
    minutes = int(config["PASSWORD_RESET_LIFETIME"].total_seconds() // 60)
    link = _link(config["PASSWORD_RESET_URL"], config, token, "/api/v1/ui")
    return (
        "Reset your password",
        f"Someone, we hope you, asked to reset the password of {recipient}.\n\n"
        f"Your reset token, good for {minutes} minutes and once:\n\n    {token}\n\n"
        f"Use it at {link}\n(POST /api/v1/auth/password-reset/confirm with the token and "
        "your new password).\n\nIf you did not ask, ignore this mail: your password stays "
        "as it is.\n",
    )


def _verify_text(config, recipient, token):
    hours = int(config["VERIFY_EMAIL_LIFETIME"].total_seconds() // 3600)
    link = _link(config["VERIFY_EMAIL_URL"], config, token, "/api/v1/ui")
    return (
        "Verify your email address",
        f"Please confirm that {recipient} is your address.\n\n"
        f"Your verification token, good for {hours} hours and once:\n\n    {token}\n\n"
        f"Use it at {link}\n(POST /api/v1/auth/verify-email with the token).\n",
    )


def _changed_text(config, recipient, token):
    return (
        "Your password was changed",
        f"The password of {recipient} was just changed, and every session signed out.\n\n"
        "If this was not you, reset your password now (POST /api/v1/auth/password-reset) "
        f"at {config['PUBLIC_BASE_URL']}.\n",
    )


TEXTS = {
    outbox.PASSWORD_RESET: _reset_text,
    outbox.VERIFY_EMAIL: _verify_text,
    outbox.PASSWORD_CHANGED: _changed_text,
}


class Sender:
    """The sender thread of this process: woken after each commit that wrote a message.

    It also runs every MAIL_POLL_SECONDS, for retries that came due and for messages
    other processes wrote. Started by the first request (so after gunicorn forks,
    never in a ``flask`` command), and again by the next one if it ever stopped;
    only with MAIL_SEND_IN_BACKGROUND.
    """

    def __init__(self, app):
        """Keep the app whose context each pass runs in; no thread yet."""
        self.app = app
        self.event = threading.Event()
        self.lock = threading.Lock()
        self.thread = None

    def start(self):
        """Start the thread unless it runs (a before_request hook: cheap when it does)."""
        if self.thread is not None and self.thread.is_alive():
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="mail-sender", daemon=True)
                self.thread.start()

    def wake(self):
        """Have the thread run a pass now (nothing happens where there is no thread)."""
        self.event.set()

    def _run(self):
        while True:
            self.event.clear()
            try:
                with self.app.app_context():
                    deliver_due()
            except Exception:  # keep sending: an outage must not stop the thread
                logger.exception("mail sender pass failed")
            self.event.wait(self.app.config["MAIL_POLL_SECONDS"])
