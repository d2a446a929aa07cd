"""Accounts that recover: password reset and email verification by mail, through the outbox.

Mail goes to a real SMTP server in this process (the ``mailbox`` fixture, aiosmtpd);
the testing app sends only when a test runs the sender (``deliver``).
"""

import statistics
import time
from datetime import timedelta

import pytest
from flask import url_for

from flask_api_tutorial import mail
from flask_api_tutorial.models import AccountToken, MailMessage, User
from flask_api_tutorial.models import mail_message as outbox
from flask_api_tutorial.util.datetime_util import utc_now
from tests.support.races import assert_one_wins, body, release_together
from tests.support.smtp import token_in
from tests.util import (
    ACCOUNT_TOKEN_INVALID,
    BAD_REQUEST,
    EMAIL,
    EMAIL_NOT_VERIFIED,
    LOGIN_FAILED,
    MAIL_DISABLED,
    PASSWORD,
    RESET_REQUESTED,
    TOKEN_BLACKLISTED,
    VERIFICATION_REQUESTED,
    assert_token_response,
    assert_unauthorized,
    change_password,
    confirm_password_reset,
    get_user,
    login_user,
    refresh_tokens,
    register_user,
    request_password_reset,
    resend_verification,
    verify_email,
)

pytestmark = [pytest.mark.database]

NEW_PASSWORD = "a-new-password-1"
UNKNOWN = "nobody@example.com"


def _reset_token(client, mailbox, deliver, email=EMAIL):
    """Ask for a reset of ``email``, send the outbox, and return the token mailed."""
    assert request_password_reset(client, email).status_code == 202
    deliver()
    return token_in(mailbox.to(email)[-1])


def _verification_token(mailbox, email=EMAIL):
    (message,) = [m for m in mailbox.to(email) if m["Subject"] == "Verify your email address"]
    return token_in(message)


def _deliver_from(app):
    """Run the sender on ``app``, in a context of its own (as another process would)."""
    with app.app_context():
        return mail.deliver_due()


def _outbox(db):
    return db.session.execute(
        db.select(MailMessage.kind, MailMessage.recipient, MailMessage.status).order_by(
            MailMessage.id
        )
    ).all()


# Asking for a reset


def test_reset_request_answers_the_same_for_every_address(client, db, user, mailbox, deliver):
    known = request_password_reset(client, EMAIL)
    unknown = request_password_reset(client, UNKNOWN)
    for response in (known, unknown):
        assert response.status_code == 202
        assert response.get_json() == RESET_REQUESTED
        assert response.content_type == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
    assert set(known.headers.keys()) == set(unknown.headers.keys())
    # Both wrote one message; only the sender finds out which address has an account.
    assert [row.status for row in _outbox(db)] == [outbox.PENDING, outbox.PENDING]
    assert deliver() == {outbox.SENT: 1, outbox.DROPPED: 1}
    assert mailbox.to(UNKNOWN) == []
    (message,) = mailbox.to(EMAIL)
    assert message["Subject"] == "Reset your password"
    assert message["From"] == "no-reply@localhost"
    token = token_in(message)
    assert "http://localhost/api/v1/ui" in message.get_content()
    # Only the token's hash is stored.
    row = db.session.scalar(db.select(AccountToken))
    assert token not in (row.selector, row.token_hash)
    assert row.token_hash != token and len(row.token_hash) == 64


def test_reset_request_takes_the_same_time_for_every_address(client, user, mailbox):
    """Interleaved medians, as bench/login_timing.py compares logins: they must agree.

    The request does the same work either way (one outbox row); were the account
    looked up, or mailed, in the request, the registered address would be slower.
    """
    times = {EMAIL: [], UNKNOWN: []}
    for address in times:  # warm-up
        request_password_reset(client, address)
    for round_number in range(40):
        order = list(times) if round_number % 2 else list(times)[::-1]
        for address in order:
            started = time.perf_counter()
            assert request_password_reset(client, address).status_code == 202
            times[address].append(time.perf_counter() - started)
    known, unknown = (statistics.median(values) for values in times.values())
    assert 2 / 3 < known / unknown < 3 / 2, (known, unknown)


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b@c"], ids=["empty", "word", "two @"])
def test_reset_request_needs_an_email(client, db, email):
    response = request_password_reset(client, email)
    assert response.status_code == 400
    assert response.get_json()["message"] == BAD_REQUEST
    assert "email" in response.get_json()["errors"]
    assert _outbox(db) == []


def test_reset_request_normalises_the_address(client, db, user, mailbox, deliver):
    request_password_reset(client, "  New_User@EMAIL.com ")
    deliver()
    assert len(mailbox.to(EMAIL)) == 1


# Confirming a reset


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "form"])
def test_confirm_sets_the_password_ends_every_session_and_answers_tokens(
    client, db, user, mailbox, deliver, as_json
):
    old = login_user(client).get_json()
    token = _reset_token(client, mailbox, deliver)
    response = confirm_password_reset(client, token, NEW_PASSWORD, as_json=as_json)
    assert_token_response(response, 200, "successfully reset password")
    fresh = response.get_json()
    assert get_user(client, fresh["access_token"]).status_code == 200
    assert_unauthorized(get_user(client, old["access_token"]), TOKEN_BLACKLISTED)
    assert refresh_tokens(client, old["refresh_token"]).status_code == 401
    assert login_user(client).get_json() == LOGIN_FAILED
    assert login_user(client, password=NEW_PASSWORD).status_code == 200
    # The mailbox is the user's: the address counts as verified now.
    assert get_user(client, fresh["access_token"]).get_json()["email_verified"] is True
    # A notice tells the user the password changed.
    deliver()
    notice = mailbox.to(EMAIL)[-1]
    assert notice["Subject"] == "Your password was changed"
    assert "POST /api/v1/auth/password-reset" in notice.get_content()


def test_a_token_works_once(client, user, mailbox, deliver):
    token = _reset_token(client, mailbox, deliver)
    assert confirm_password_reset(client, token, NEW_PASSWORD).status_code == 200
    again = confirm_password_reset(client, token, "yet-another-password")
    assert again.status_code == 400
    assert again.get_json() == ACCOUNT_TOKEN_INVALID
    assert login_user(client, password=NEW_PASSWORD).status_code == 200


def test_a_token_expires_after_30_minutes(client, user, mailbox, deliver, time_machine):
    time_machine.move_to(utc_now(), tick=False)
    token = _reset_token(client, mailbox, deliver)
    time_machine.shift(timedelta(minutes=30))
    response = confirm_password_reset(client, token, NEW_PASSWORD)
    assert (response.status_code, response.get_json()) == (400, ACCOUNT_TOKEN_INVALID)
    assert login_user(client).status_code == 200


def test_a_token_works_until_it_expires(client, user, mailbox, deliver, time_machine):
    time_machine.move_to(utc_now(), tick=False)
    token = _reset_token(client, mailbox, deliver)
    time_machine.shift(timedelta(minutes=29, seconds=59))
    assert confirm_password_reset(client, token, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: token.split(".")[0] + ".",
        lambda token: "0" * 32 + "." + token.split(".")[1],
        lambda token: "not-a-token",
        lambda token: token + "x",
    ],
    ids=["last character", "selector only", "another selector", "word", "longer"],
)
def test_forged_tokens_are_refused(client, user, mailbox, deliver, forge):
    token = _reset_token(client, mailbox, deliver)
    response = confirm_password_reset(client, forge(token), NEW_PASSWORD)
    assert (response.status_code, response.get_json()) == (400, ACCOUNT_TOKEN_INVALID)
    # The real one still works.
    assert confirm_password_reset(client, token, NEW_PASSWORD).status_code == 200


def test_a_newer_token_supersedes_the_older(client, user, mailbox, deliver):
    first = _reset_token(client, mailbox, deliver)
    second = _reset_token(client, mailbox, deliver)
    assert first != second
    response = confirm_password_reset(client, first, NEW_PASSWORD)
    assert (response.status_code, response.get_json()) == (400, ACCOUNT_TOKEN_INVALID)
    assert confirm_password_reset(client, second, NEW_PASSWORD).status_code == 200


def test_a_password_change_voids_the_token(client, user, mailbox, deliver):
    token = _reset_token(client, mailbox, deliver)
    access = login_user(client).get_json()["access_token"]
    assert change_password(client, access, PASSWORD, "changed-meanwhile").status_code == 200
    response = confirm_password_reset(client, token, NEW_PASSWORD)
    assert (response.status_code, response.get_json()) == (400, ACCOUNT_TOKEN_INVALID)
    assert login_user(client, password="changed-meanwhile").status_code == 200


def test_a_rehash_at_login_leaves_the_token_valid(app, client, db, user, mailbox, deliver):
    token = _reset_token(client, mailbox, deliver)
    hash_before = user.password_hash
    app.config["BCRYPT_LOG_ROUNDS"] = 5  # the next login rehashes at the new cost
    assert login_user(client).status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash != hash_before
    assert confirm_password_reset(client, token, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "password", ["short", "x" * 73, "ab\x00cdefghi"], ids=["short", "long", "nul"]
)
def test_a_refused_password_leaves_the_token_usable(client, user, mailbox, deliver, password):
    token = _reset_token(client, mailbox, deliver)
    response = confirm_password_reset(client, token, password)
    assert response.status_code == 400
    assert response.get_json()["message"] == BAD_REQUEST
    assert "password" in response.get_json()["errors"]
    assert confirm_password_reset(client, token, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [{}, {"token": ""}, {"token": 7}, {"token": "é" * 10}, {"token": "t" * 129}],
    ids=["nothing", "empty", "number", "not ascii", "too long"],
)
def test_confirm_needs_a_token_string(client, user, payload):
    response = client.post(
        url_for("api.auth_password_reset_confirm"), json={**payload, "password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert "token" in response.get_json()["errors"]


def test_one_kind_of_token_never_works_as_the_other(client, db, mailbox, deliver):
    register_user(client)
    deliver()
    verification = _verification_token(mailbox)
    reset = _reset_token(client, mailbox, deliver)
    assert confirm_password_reset(client, verification, NEW_PASSWORD).get_json() == (
        ACCOUNT_TOKEN_INVALID
    )
    assert verify_email(client, reset).get_json() == ACCOUNT_TOKEN_INVALID
    assert verify_email(client, verification).status_code == 200
    assert confirm_password_reset(client, reset, NEW_PASSWORD).status_code == 200


def test_two_confirms_of_one_token_one_wins(app, db, user, mailbox):
    """In-process on SQLite and PostgreSQL; test_races.py plays it against gunicorn."""
    client = app.test_client()
    with app.test_request_context():
        request_password_reset(client)
        path = url_for("api.auth_password_reset_confirm")
    _deliver_from(app)
    token = token_in(mailbox.to(EMAIL)[-1])

    def confirm(password):
        return lambda: app.test_client().post(path, json={"token": token, "password": password})

    responses = release_together([confirm(f"password-number-{n}") for n in range(4)])
    assert_one_wins(responses, 200, 400)
    for response in responses:
        if response.status_code == 400:
            assert body(response) == ACCOUNT_TOKEN_INVALID
    (winner,) = [n for n, response in enumerate(responses) if response.status_code == 200]
    db.session.expire_all()  # the test's session read the user before the races
    assert login_user(client, password=f"password-number-{winner}").status_code == 200


# Verification


def test_registration_mails_a_verification(client, db, mailbox, deliver):
    response = register_user(client)
    assert response.status_code == 201
    access = response.get_json()["access_token"]
    assert get_user(client, access).get_json()["email_verified"] is False
    assert deliver() == {outbox.SENT: 1}
    token = _verification_token(mailbox)
    response = verify_email(client, token)
    assert (response.status_code, response.get_json()) == (
        200,
        {"status": "success", "message": "email verified"},
    )
    assert get_user(client, access).get_json()["email_verified"] is True
    again = verify_email(client, token)
    assert (again.status_code, again.get_json()) == (400, ACCOUNT_TOKEN_INVALID)


def test_verification_expires_after_24_hours(client, mailbox, deliver, time_machine):
    time_machine.move_to(utc_now(), tick=False)
    register_user(client)
    deliver()
    token = _verification_token(mailbox)
    time_machine.shift(timedelta(hours=24))
    assert verify_email(client, token).get_json() == ACCOUNT_TOKEN_INVALID


def test_resend_with_a_bearer_token(client, db, mailbox, deliver):
    access = register_user(client).get_json()["access_token"]
    response = resend_verification(client, access_token=access)
    assert (response.status_code, response.get_json()) == (202, VERIFICATION_REQUESTED)
    deliver()
    first, second = [m for m in mailbox.to(EMAIL) if m["Subject"] == "Verify your email address"]
    # The newer token supersedes the first.
    assert verify_email(client, token_in(first)).get_json() == ACCOUNT_TOKEN_INVALID
    assert verify_email(client, token_in(second)).status_code == 200


def test_resend_by_address_answers_the_same_and_mails_only_the_unverified(
    client, db, user, mailbox, deliver
):
    verified = "verified@example.com"
    access = register_user(client, email=verified).get_json()["access_token"]
    deliver()
    verify_email(client, _verification_token(mailbox, verified))
    responses = [resend_verification(client, email=address) for address in (EMAIL, UNKNOWN)]
    responses.append(resend_verification(client, access_token=access))
    responses.append(resend_verification(client, email=verified))
    for response in responses:
        assert (response.status_code, response.get_json()) == (202, VERIFICATION_REQUESTED)
    deliver()
    # The unverified user (added without registering, as before the upgrade) gets one.
    assert len(mailbox.to(EMAIL)) == 1
    assert mailbox.to(UNKNOWN) == []
    assert len(mailbox.to(verified)) == 1  # the registration's only


def test_resend_with_a_refused_bearer_token_is_401(client, db):
    response = resend_verification(client, access_token="not.a.token", email=EMAIL)
    assert_unauthorized(response, "Invalid token. Please log in again.")
    assert _outbox(db) == []


def test_resend_without_a_token_needs_an_email(client, db):
    response = client.post(url_for("api.auth_verify_email_resend"))
    assert response.status_code == 400
    assert response.get_json() == {
        "message": BAD_REQUEST,
        "errors": {"email": "email is required without a Bearer token"},
    }
    response = resend_verification(client, email="not-an-email")
    assert response.status_code == 400
    assert _outbox(db) == []


def test_require_verified_email_refuses_login_until_verified_by_resend(
    app, client, db, user, mailbox, deliver
):
    """An account from before the upgrade (never mailed) verifies by resending to its address."""
    app.config["REQUIRE_VERIFIED_EMAIL"] = True
    refused = login_user(client)
    assert (refused.status_code, refused.get_json()) == (403, EMAIL_NOT_VERIFIED)
    assert login_user(client, password="wrong-password").get_json() == LOGIN_FAILED
    assert resend_verification(client, email=EMAIL).status_code == 202
    deliver()
    assert verify_email(client, _verification_token(mailbox)).status_code == 200
    assert_token_response(login_user(client), 200, "successfully logged in")


def test_without_require_verified_email_unverified_accounts_log_in(client, user):
    assert login_user(client).status_code == 200


# MAIL_BACKEND=disabled


def test_disabled_mail_answers_503_and_registration_sends_nothing(app, client, db):
    app.config["MAIL_BACKEND"] = "disabled"
    assert register_user(client).status_code == 201
    access = login_user(client).get_json()["access_token"]
    for response in (
        request_password_reset(client),
        resend_verification(client, access_token=access),
        resend_verification(client, email=EMAIL),
    ):
        assert (response.status_code, response.get_json()) == (503, MAIL_DISABLED)
    assert _outbox(db) == []


# The console backend: `make run` without a mail server


def test_console_backend_prints_the_mail(app, client, user, deliver, capsys):
    assert app.config["MAIL_BACKEND"] == "console"
    request_password_reset(client)
    capsys.readouterr()
    assert deliver() == {outbox.SENT: 1}
    printed = capsys.readouterr().out
    assert "Subject: Reset your password" in printed
    assert f"To: {EMAIL}" in printed
    token = printed.split("once:\n\n    ", 1)[1].split("\n", 1)[0]
    assert confirm_password_reset(client, token, NEW_PASSWORD).status_code == 200


# Links


def test_links_follow_the_url_templates(app, client, user, mailbox, deliver):
    app.config["PASSWORD_RESET_URL"] = "https://app.example.com/reset?token={token}"
    token = _reset_token(client, mailbox, deliver)
    assert f"https://app.example.com/reset?token={token}" in mailbox.to(EMAIL)[-1].get_content()


def test_a_token_names_no_client_shaped_host(client, user, mailbox, deliver):
    request_password_reset(client, headers={"X-Forwarded-Host": "evil.example.com"})
    deliver()
    assert "evil.example.com" not in mailbox.to(EMAIL)[-1].as_string()
