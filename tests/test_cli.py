"""flask add-user, flask purge-tokens and the flask shell context."""

from datetime import timedelta

import jwt
import pytest

from flask_api_tutorial import mail
from flask_api_tutorial.models import BlacklistedToken, MailMessage, User, UserSession, Widget
from flask_api_tutorial.util.datetime_util import utc_now
from tests.util import (
    TOKEN_BLACKLISTED,
    get_user,
    login_user,
    logout_user,
    refresh_tokens,
    request_password_reset,
)

pytestmark = [pytest.mark.database]


def _add_user(app, *args, input_text="password123\npassword123\n"):
    return app.test_cli_runner().invoke(args=["add-user", *args], input=input_text)


def test_add_user(app, db):
    result = _add_user(app, "Someone@Example.com")
    assert result.exit_code == 0, result.output
    assert "Successfully added new user: someone@example.com" in result.output
    assert "password123" not in result.output
    user = db.session.scalar(db.select(User).filter_by(email="someone@example.com"))
    assert user.admin is False
    assert user.check_password("password123")


def test_add_admin_user(app, db):
    result = _add_user(app, "boss@example.com", "--admin")
    assert result.exit_code == 0, result.output
    assert "Successfully added new admin user: boss@example.com" in result.output
    assert db.session.scalar(db.select(User.admin).filter_by(email="boss@example.com")) is True


def test_add_user_asks_twice_and_rejects_a_mismatch(app, db):
    result = _add_user(app, "a@b.io", input_text="password123\npassword124\n")
    assert result.exit_code != 0
    assert "do not match" in result.output
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_add_user_already_registered(app, user):
    result = _add_user(app, user.email.upper())
    assert result.exit_code == 1
    assert f"Error: {user.email} is already registered" in result.output


def test_add_user_invalid_email(app, db):
    result = _add_user(app, "not-an-email")
    assert result.exit_code == 2
    assert "not-an-email is not a valid email" in result.output


def test_add_user_password_rule(app, db):
    result = _add_user(app, "a@b.io", input_text="short\nshort\n")
    assert result.exit_code == 2
    assert "password must be at least 8 characters and at most 72 bytes in UTF-8" in (
        result.output
    )
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_shell_context(app):
    context = app.make_shell_context()
    assert context["User"] is User
    assert context["BlacklistedToken"] is BlacklistedToken
    assert context["Widget"] is Widget
    assert context["db"].session is not None


def _revoke(db, jti, expires_in):
    db.session.add(BlacklistedToken(jti=jti, expires_at=utc_now() + expires_in))
    db.session.commit()


def test_purge_tokens(app, db, client, user):
    _revoke(db, "expired-1", timedelta(seconds=-1))
    _revoke(db, "expired-2", timedelta(days=-3))
    token = login_user(client).get_json()["access_token"]
    assert logout_user(client, token).status_code == 200  # revoked, not expired

    result = app.test_cli_runner().invoke(args=["purge-tokens"])
    assert result.exit_code == 0, result.output
    assert result.output == _purged(revoked=2)
    remaining = db.session.scalars(db.select(BlacklistedToken.jti)).all()
    assert remaining == [jwt.decode(token, options={"verify_signature": False})["jti"]]
    # The revoked token that has not expired stays refused.
    response = get_user(client, token)
    assert response.status_code == 401
    assert response.get_json() == {"message": TOKEN_BLACKLISTED}

    result = app.test_cli_runner().invoke(args=["purge-tokens"])
    assert result.output == _purged()


def _purged(revoked=0, refresh=0, mailed=0, outbox=0, sessions=0):
    return (
        f"Deleted {revoked} expired revoked token(s), {refresh} expired refresh token(s), "
        f"{mailed} expired mailed token(s), {outbox} old outbox message(s), "
        f"{sessions} ended session(s).\n"
    )


def test_purge_tokens_removes_what_no_longer_decides_anything(app, db, client, user, time_machine):
    """Expired mailed tokens, outbox rows done for a week, and logins whose tokens expired."""
    time_machine.move_to(utc_now(), tick=False)
    ended = login_user(client).get_json()
    kept = login_user(client).get_json()
    assert logout_user(client, ended["access_token"], ended["refresh_token"]).status_code == 200
    request_password_reset(client)
    request_password_reset(client, "nobody@example.com")
    assert mail.deliver_due() == {"sent": 1, "dropped": 1}  # the console backend
    request_password_reset(client)  # pending: never purged

    runner = app.test_cli_runner()
    assert runner.invoke(args=["purge-tokens"]).output == _purged()
    # The access token of the ended login has expired: its revocation and session go.
    time_machine.shift(app.config["ACCESS_TOKEN_LIFETIME"] + timedelta(seconds=1))
    assert runner.invoke(args=["purge-tokens"]).output == _purged(revoked=1, sessions=1)
    # The reset token (30 minutes) expires; the outbox keeps done messages 7 days.
    time_machine.shift(timedelta(minutes=30))
    assert runner.invoke(args=["purge-tokens"]).output == _purged(mailed=1)
    time_machine.shift(timedelta(days=7))
    result = runner.invoke(args=["purge-tokens"]).output
    # A week on, refresh tokens (30 days) are still good, or at least still revoked.
    assert result == _purged(outbox=2)
    statuses = db.session.scalars(db.select(MailMessage.status)).all()
    assert statuses == ["pending"]
    assert refresh_tokens(client, kept["refresh_token"]).status_code == 200
    sessions = db.session.scalars(db.select(UserSession.id)).all()
    assert len(sessions) == 1
