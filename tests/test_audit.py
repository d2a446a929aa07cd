"""The audit log: one line per security event, and never a secret in it."""

import logging
from datetime import timedelta

import pytest

from flask_api_tutorial.audit import AUDIT_LOGGER, audit
from flask_api_tutorial.util.datetime_util import utc_now
from flask_api_tutorial.util.jwt_util import encode_access_token
from tests.util import EMAIL, PASSWORD, get_user, login_user, logout_user, register_user


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
    login_user(client)
    login_user(client, password="wrong-password")
    login_user(client, email="nobody@example.com")
    success, wrong, unknown = audit_lines()
    assert success == f"event=login email={EMAIL} public_id={user.public_id} ip=127.0.0.1"
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
