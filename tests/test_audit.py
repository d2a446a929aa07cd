"""The audit log: one line per security event, and never a secret in it."""

import logging
from datetime import timedelta

import jwt
import pytest

from flask_api_tutorial.audit import AUDIT_LOGGER, audit
from flask_api_tutorial.util.datetime_util import utc_now
from flask_api_tutorial.util.jwt_util import encode_access_token
from tests.support.smtp import token_in
from tests.util import (
    EMAIL,
    PASSWORD,
    confirm_password_reset,
    end_session,
    get_user,
    live_session_id,
    login_user,
    logout_user,
    register_user,
    request_password_reset,
    resend_verification,
)


@pytest.fixture
def audit_lines(caplog):
    """Return a function giving the audit lines logged so far."""
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)

    def lines():
        return [r.getMessage() for r in caplog.records if r.name == AUDIT_LOGGER]

    return lines


def test_registration_and_duplicate(client, db, audit_lines):
    register_user(client)
    register_user(client)
    first, second = audit_lines()
    assert first.startswith(f"event=registered email={EMAIL} public_id=")
    assert first.endswith(" ip=127.0.0.1")
    assert second == (
        f"event=register_failed reason=already_registered email={EMAIL} ip=127.0.0.1"
    )


def test_login_success_and_failures(client, user, audit_lines):
    token = login_user(client).get_json()["access_token"]
    login_user(client, password="wrong-password")
    login_user(client, email="nobody@example.com")
    success, wrong, unknown = audit_lines()
    session_id = jwt.decode(token, options={"verify_signature": False})["sid"]
    assert success == (
        f"event=login email={EMAIL} public_id={user.public_id} session={session_id} ip=127.0.0.1"
    )
    assert wrong == (
        f"event=login_failed reason=wrong_password email={EMAIL} "
        f"public_id={user.public_id} ip=127.0.0.1"
    )
    assert unknown == (
        "event=login_failed reason=unknown_email email=nobody@example.com public_id=- ip=127.0.0.1"
    )


def test_logout_and_rejected_tokens(app, client, db, user, audit_lines):
    token = login_user(client).get_json()["access_token"]
    logout_user(client, token)
    get_user(client, token)
    get_user(client, "not.a.token")
    expired = encode_access_token(
        user.public_id,
        False,
        app.config["SECRET_KEY"],
        timedelta(seconds=-1),
        utc_now(),
        scope=app.config["ACCESS_TOKEN_SCOPE"],
        session_id=live_session_id(user),
    )
    get_user(client, expired)
    _, logout, revoked, invalid, expired_line = audit_lines()
    assert logout == f"event=logout public_id={user.public_id} ip=127.0.0.1"
    assert revoked == (
        f"event=token_rejected reason=revoked public_id={user.public_id} ip=127.0.0.1"
    )
    assert invalid == "event=token_rejected reason=invalid public_id=- ip=127.0.0.1"
    assert expired_line == "event=token_rejected reason=expired public_id=- ip=127.0.0.1"


def test_rejected_token_of_a_deleted_user(client, db, user, audit_lines):
    token = login_user(client).get_json()["access_token"]
    db.session.delete(user)
    db.session.commit()
    get_user(client, token)
    assert audit_lines()[-1] == "event=token_rejected reason=unknown_user public_id=- ip=127.0.0.1"


def test_values_cannot_forge_pairs_or_lines(app, audit_lines):
    """A value with spaces, quotes or newlines is quoted, so it cannot add fake pairs."""
    with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.9"}):
        audit("probe", email='a b ip=6.6.6.6\nevent=login "x"')
    (line,) = audit_lines()
    assert line == 'event=probe email="a b ip=6.6.6.6\\nevent=login \\"x\\"" ip=127.0.0.9'
    assert "\n" not in line


def test_no_password_token_or_hash_in_the_log(client, db, user, caplog, audit_lines):
    """The records; what the handlers write is scanned in test_logging.py."""
    secret = "S3cret-passw0rd!"
    register_user(client, email="second@example.com", password=secret)
    token = login_user(client, email="second@example.com", password=secret).get_json()[
        "access_token"
    ]
    login_user(client, email="second@example.com", password=secret + "x")
    get_user(client, token)
    logout_user(client, token)
    get_user(client, token)
    assert len(audit_lines()) == 5
    captured = caplog.text
    assert "event=registered" in captured
    hashes = [user.password_hash]
    for forbidden in (secret, secret + "x", PASSWORD, token, *token.split("."), *hashes):
        assert forbidden not in captured
    assert "$2b$" not in captured


def test_account_events(client, user, mailbox, deliver, audit_lines):
    """Each account event has its line; never a mailed token or a password."""
    request_password_reset(client)
    resend_verification(client, email="nobody@example.com")
    deliver()
    reset_token = token_in(mailbox.to(EMAIL)[0])
    confirm_password_reset(client, reset_token, "a-new-password-1")
    confirm_password_reset(client, reset_token, "a-new-password-2")
    login = login_user(client, password="a-new-password-1").get_json()
    other = login_user(client, password="a-new-password-1").get_json()
    sid = jwt.decode(other["access_token"], options={"verify_signature": False})["sid"]
    end_session(client, login["access_token"], sid)
    lines = audit_lines()
    assert lines[:4] == [
        f"event=password_reset_requested email={EMAIL} ip=127.0.0.1",
        "event=verification_requested email=nobody@example.com ip=127.0.0.1",
        f"event=password_reset public_id={user.public_id} ip=127.0.0.1",
        "event=account_token_rejected purpose=password_reset reason=unknown ip=127.0.0.1",
    ]
    assert (
        lines[-1] == f"event=session_ended public_id={user.public_id} session={sid} ip=127.0.0.1"
    )
    text = "\n".join(lines)
    assert reset_token not in text and "a-new-password" not in text
