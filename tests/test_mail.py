"""The outbox and its sender: SMTP that refuses, drops or stalls loses nothing; one send each.

Real SMTP servers in this process (aiosmtpd) and broken listeners on loopback ports
(tests/support/smtp.py); the clock is passed to the sender, never waited for.
"""

import logging
import threading
import time
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from flask_api_tutorial import mail
from flask_api_tutorial.models import MailMessage
from flask_api_tutorial.models import mail_message as outbox
from flask_api_tutorial.util.datetime_util import utc_now
from tests.support.smtp import BrokenSmtp, MailCatcher, throwaway_certificate, token_in
from tests.support.tcp_proxy import free_port
from tests.util import (
    EMAIL,
    RESET_REQUESTED,
    add_user,
    confirm_password_reset,
    request_password_reset,
)

pytestmark = [pytest.mark.database]

UNKNOWN = "nobody@example.com"


@pytest.fixture
def smtp_app(app):
    """Return the app set to mail through SMTP at 127.0.0.1 (the test picks the port)."""
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_TIMEOUT=1)
    return app


def _row(db):
    db.session.expire_all()
    return db.session.scalar(db.select(MailMessage).order_by(MailMessage.id.desc()))


def _mail_count(result, kind="password_reset"):
    labels = {"kind": kind, "result": result}
    return REGISTRY.get_sample_value("mail_messages_total", labels) or 0


def _deliver_in_thread(app, now=None):
    """Run the sender in a thread of its own (as the background sender does)."""
    result = {}

    def run():
        with app.app_context():
            result["outcomes"] = mail.deliver_due(now)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


@pytest.mark.parametrize("failure", ["refused", "dropped", "refused by SMTP (451)"])
def test_a_failed_attempt_is_retried_and_delivered_once_the_server_is_back(
    smtp_app, client, db, user, failure
):
    port = free_port()
    smtp_app.config["MAIL_PORT"] = port
    assert request_password_reset(client).get_json() == RESET_REQUESTED
    now = utc_now()
    if failure == "dropped":
        with BrokenSmtp("drop") as broken:
            smtp_app.config["MAIL_PORT"] = broken.port
            assert mail.deliver_due(now) == {"retry": 1}
        smtp_app.config["MAIL_PORT"] = port
    elif failure == "refused by SMTP (451)":
        with MailCatcher(port=port) as refusing:
            refusing.refusing = True
            assert mail.deliver_due(now) == {"retry": 1}
            assert refusing.messages == []
    else:
        assert mail.deliver_due(now) == {"retry": 1}
    row = _row(db)
    message_id = row.id
    assert (row.status, row.attempts) == (outbox.PENDING, 1)
    assert row.due_at == now + timedelta(seconds=smtp_app.config["MAIL_RETRY_SECONDS"])
    assert row.error
    with MailCatcher(port=port) as catcher:
        assert mail.deliver_due(now + timedelta(seconds=29)) == {}  # not due yet
        assert mail.deliver_due(now + timedelta(seconds=30)) == {outbox.SENT: 1}
        assert mail.deliver_due(now + timedelta(hours=1)) == {}
        (message,) = catcher.messages
    assert confirm_password_reset(client, token_in(message), "a-new-password-1").status_code == 200
    row = db.session.get(MailMessage, message_id)
    assert (row.status, row.attempts, row.claimed_by) == (outbox.SENT, 2, None)


def test_a_stalled_server_holds_neither_a_request_nor_a_row(smtp_app, app, client, db, user):
    """While the sender waits on a silent server (MAIL_TIMEOUT), requests answer at once.

    The same answer for a registered address and an unknown one (no oracle), and the
    message's row is not locked: the sender is outside any transaction while it sends.
    """
    with BrokenSmtp("stall") as stalled:
        smtp_app.config["MAIL_PORT"] = stalled.port
        request_password_reset(client)
        message_id = _row(db).id
        started = time.monotonic()
        # Only what is due now: the requests below write messages due later.
        thread, result = _deliver_in_thread(app, utc_now())
        while not stalled.held and time.monotonic() - started < 5:
            time.sleep(0.01)
        assert stalled.held, "the sender never connected"
        answers = []
        for address in (EMAIL, UNKNOWN):
            asked = time.monotonic()
            response = request_password_reset(client, address)
            answers.append((response.status_code, response.get_json()))
            assert time.monotonic() - asked < 0.5
        assert answers == [(202, RESET_REQUESTED)] * 2
        # Another connection writes the row being sent, without waiting on a lock.
        asked = time.monotonic()
        db.session.execute(
            db.update(MailMessage).where(MailMessage.id == message_id).values(error="checked")
        )
        db.session.commit()
        assert time.monotonic() - asked < 0.5
        thread.join(timeout=10)
    elapsed = time.monotonic() - started
    assert not thread.is_alive()
    assert 1 <= elapsed < 5, elapsed  # one attempt: MAIL_TIMEOUT, then given up for now
    assert result["outcomes"] == {"retry": 1}
    db.session.expire_all()
    assert "timed out" in db.session.get(MailMessage, message_id).error


def test_a_message_that_never_goes_is_failed_logged_and_counted(
    smtp_app, client, db, user, caplog
):
    smtp_app.config.update(MAIL_PORT=free_port(), MAIL_MAX_ATTEMPTS=3, MAIL_RETRY_SECONDS=10)
    request_password_reset(client)
    before = _mail_count(outbox.FAILED)
    now = utc_now()
    outcomes = []
    for delay in (0, 10, 30):  # 10 s, then 20 s: doubling
        outcomes.append(mail.deliver_due(now + timedelta(seconds=delay)))
    assert outcomes == [{"retry": 1}, {"retry": 1}, {outbox.FAILED: 1}]
    assert (_row(db).status, _row(db).attempts) == (outbox.FAILED, 3)
    assert _mail_count(outbox.FAILED) == before + 1
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name == "flask_api_tutorial.mail"
    assert "failed for good after 3 attempts" in record.getMessage()
    assert mail.deliver_due(now + timedelta(days=1)) == {}


def test_two_senders_racing_send_each_message_once(smtp_app, app, client, db):
    emails = [f"user{n}@example.com" for n in range(12)]
    for email in emails:
        add_user(email=email)
        request_password_reset(client, email)
    with MailCatcher() as catcher:
        smtp_app.config["MAIL_PORT"] = catcher.port
        runs = [_deliver_in_thread(app) for _ in range(3)]
        for thread, _ in runs:
            thread.join(timeout=30)
        assert sorted(message["To"] for message in catcher.messages) == sorted(emails)
    sent = sum(result["outcomes"].get(outbox.SENT, 0) for _, result in runs)
    assert sent == len(emails)
    statuses = db.session.scalars(db.select(MailMessage.status)).all()
    assert statuses == [outbox.SENT] * len(emails)


def test_a_claim_of_a_sender_that_died_is_taken_over(smtp_app, client, db, user):
    request_password_reset(client)
    stale = utc_now() - timedelta(seconds=1)
    db.session.execute(
        db.update(MailMessage).values(
            status=outbox.SENDING, claimed_by="a-dead-sender", claimed_until=stale, attempts=1
        )
    )
    db.session.commit()
    with MailCatcher() as catcher:
        smtp_app.config["MAIL_PORT"] = catcher.port
        assert mail.deliver_due() == {outbox.SENT: 1}
        assert len(catcher.to(EMAIL)) == 1


def test_a_claim_held_by_a_live_sender_is_left_alone(smtp_app, client, db, user):
    request_password_reset(client)
    db.session.execute(
        db.update(MailMessage).values(
            status=outbox.SENDING,
            claimed_by="a-live-sender",
            claimed_until=utc_now() + timedelta(seconds=60),
        )
    )
    db.session.commit()
    assert mail.deliver_due() == {}


def test_starttls_with_a_throwaway_certificate(smtp_app, client, db, user, tmp_path):
    context, certificate = throwaway_certificate(tmp_path)
    with MailCatcher(tls_context=context) as catcher:
        smtp_app.config.update(MAIL_PORT=catcher.port, MAIL_USE_TLS=True)
        request_password_reset(client)
        # Not trusted: the certificate is refused, and the message waits for a retry.
        assert mail.deliver_due() == {"retry": 1}
        assert "CERTIFICATE_VERIFY_FAILED" in _row(db).error
        smtp_app.config["MAIL_TLS_CA_FILE"] = str(certificate)
        assert mail.deliver_due(utc_now() + timedelta(minutes=1)) == {outbox.SENT: 1}
        assert len(catcher.to(EMAIL)) == 1


def test_starttls_required_by_the_server_is_never_skipped(smtp_app, client, db, user, tmp_path):
    context, _ = throwaway_certificate(tmp_path)
    with MailCatcher(tls_context=context) as catcher:
        smtp_app.config.update(MAIL_PORT=catcher.port, MAIL_USE_TLS=False)
        request_password_reset(client)
        assert mail.deliver_due() == {"retry": 1}
        assert catcher.messages == []


def test_send_mail_command_drains_the_outbox(smtp_app, client, db, user):
    request_password_reset(client)
    request_password_reset(client, UNKNOWN)
    with MailCatcher() as catcher:
        smtp_app.config["MAIL_PORT"] = catcher.port
        result = smtp_app.test_cli_runner().invoke(args=["send-mail"])
        assert result.exit_code == 0, result.output
        assert result.output == "Mail: 1 sent, 1 dropped.\n"
        again = smtp_app.test_cli_runner().invoke(args=["send-mail"])
        assert again.output == "Mail: nothing due.\n"
        assert len(catcher.messages) == 1


def test_a_retry_after_the_token_was_superseded_is_dropped(smtp_app, client, db, user):
    """A first mail fails (its token made), a second goes: the first is never sent."""
    smtp_app.config["MAIL_PORT"] = free_port()
    request_password_reset(client)
    now = utc_now()
    assert mail.deliver_due(now) == {"retry": 1}  # due again 30 s later
    request_password_reset(client)
    with MailCatcher(port=smtp_app.config["MAIL_PORT"]) as catcher:
        assert mail.deliver_due(now + timedelta(seconds=1)) == {outbox.SENT: 1}
        assert mail.deliver_due(now + timedelta(seconds=31)) == {outbox.DROPPED: 1}
        (message,) = catcher.messages
    assert confirm_password_reset(client, token_in(message), "a-new-password-1").status_code == 200
