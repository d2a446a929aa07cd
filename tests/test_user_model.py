"""The tutorial's model API on User, the testing token lifetime, and one JSON style."""

from datetime import datetime, timedelta, timezone

import pytest
from flask import url_for
from sqlalchemy.exc import DBAPIError

from flask_api_tutorial.models import BlacklistedToken, User
from flask_api_tutorial.util import jwt_util
from tests.util import (
    EMAIL,
    TOKEN_BLACKLISTED,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    bearer,
    login_user,
    logout_user,
)

pytestmark = [pytest.mark.database]

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def test_find_by_email_and_by_public_id(db, user):
    assert User.find_by_email(EMAIL) is user
    assert User.find_by_public_id(user.public_id) is user
    assert User.find_by_email("nobody@email.com") is None
    assert User.find_by_public_id("not-a-public-id") is None


def test_testing_tokens_live_five_seconds_as_the_tutorials(app, client, user, time_machine):
    assert app.config["ACCESS_TOKEN_LIFETIME"] == timedelta(seconds=5)
    time_machine.move_to(NOW, tick=False)
    body = login_user(client).get_json()
    assert body["expires_in"] == 5
    time_machine.move_to(NOW + timedelta(seconds=4), tick=False)
    assert (
        client.get(url_for("api.auth_user"), headers=bearer(body["access_token"])).status_code
        == 200
    )
    time_machine.move_to(NOW + timedelta(seconds=5), tick=False)
    response = client.get(url_for("api.auth_user"), headers=bearer(body["access_token"]))
    assert response.status_code == 401
    assert response.get_json() == {"message": TOKEN_EXPIRED}


def test_derived_settings_are_computed_once_at_start_up(app):
    assert app.config["ACCESS_TOKEN_LIFETIME"] == timedelta(seconds=5)
    assert app.config["REFRESH_TOKEN_LIFETIME"] == timedelta(days=30)
    access, refresh = app.config["ACCESS_TOKEN_KEYS"], app.config["REFRESH_TOKEN_KEYS"]
    assert access.signer.signing_key == app.config["SECRET_KEY"]
    key = refresh.signer.signing_key
    assert isinstance(key, str) and len(key) == 64
    assert app.config["SECRET_KEY"] not in key
    assert refresh.signer.kid != access.signer.kid


def test_encode_access_token_needs_no_arguments(db, user, time_machine):
    time_machine.move_to(NOW, tick=False)
    token = user.encode_access_token()
    result = User.decode_access_token(token)
    assert result.success and not result.failure
    assert result.error is None
    assert result.value == {
        "public_id": user.public_id,
        "admin": False,
        "token": token,
        "expires_at": int(NOW.timestamp()) + 5,
    }


def test_decode_access_token_takes_the_header_value_too(db, user):
    token = user.encode_access_token()
    result = User.decode_access_token(f"Bearer {token}")
    assert result.success
    assert result.value["token"] == token


def test_decode_access_token_reads_admin_from_the_database(db, user):
    token = user.encode_access_token()
    user.admin = True
    db.session.commit()
    assert User.decode_access_token(token).value["admin"] is True


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        ("expire", TOKEN_EXPIRED),
        ("log out", TOKEN_BLACKLISTED),
        ("log out everywhere", TOKEN_BLACKLISTED),
        ("tamper", TOKEN_INVALID),
        ("delete the user", TOKEN_INVALID),
    ],
)
def test_decode_access_token_fails_with_the_tutorials_messages(
    client, db, user, time_machine, spoil, message
):
    time_machine.move_to(NOW, tick=False)
    token = login_user(client).get_json()["access_token"]
    if spoil == "expire":
        time_machine.move_to(NOW + timedelta(seconds=6), tick=False)
    elif spoil == "log out":
        assert logout_user(client, token).status_code == 200
    elif spoil == "log out everywhere":
        response = client.post(url_for("api.auth_logout_all"), headers=bearer(token))
        assert response.status_code == 200
    elif spoil == "tamper":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    else:
        db.session.delete(user)
        db.session.commit()
    result = User.decode_access_token(token)
    assert result.failure and not result.success
    assert result.value is None
    assert result.error == message


def test_every_json_body_has_one_style(client, user):
    """Token bodies (jsonify), RESTx bodies and Flask's own errors: `{"a": 1, "b": 2}`."""
    token_body = login_user(client).data
    assert token_body.startswith(b'{"status": "success", "message": "successfully logged in", ')
    assert token_body.endswith(b"}\n")
    user_body = client.get(
        url_for("api.auth_user"),
        headers=bearer(login_user(client).get_json()["access_token"]),
    ).data
    assert user_body.startswith(b'{"email": "new_user@email.com", "public_id": ')
    assert client.get(url_for("api.auth_user")).data == b'{"message": "Unauthorized"}\n'
    not_found = client.get("/no/such/page").data  # answered by Flask, not Flask-RESTx
    assert not_found.startswith(b'{"message": "The requested URL was not found on the server.')
    assert not_found.endswith(b'"}\n')


# --- the token check's read (User.find_by_access_token) -------------------------------


def _claims(user, jti="never-revoked", version=None):
    version = user.token_version if version is None else version
    return {"sub": user.public_id, "jti": jti, "ver": version}


def test_token_check_loads_the_user_as_the_session_does(db, admin):
    """One statement; the user comes back as SQLAlchemy loads it, in this request's session."""
    checked = User.find_by_access_token(_claims(admin))
    assert checked is db.session.get(User, admin.id)
    assert checked.admin is True
    assert checked.registered_on.tzinfo is timezone.utc
    assert checked.registered_on == admin.registered_on


@pytest.mark.parametrize(
    "change, kind",
    [
        ("unknown sub", jwt_util.UNKNOWN_USER),
        ("revoked jti", jwt_util.REVOKED),
        ("older version", jwt_util.SUPERSEDED),
        ("no version, user at 1", jwt_util.SUPERSEDED),
    ],
)
def test_token_check_refuses(db, user, change, kind):
    claims = _claims(user)
    if change == "unknown sub":
        claims["sub"] = "not-a-public-id"
    elif change == "revoked jti":
        db.session.add(BlacklistedToken(jti="revoked", expires_at=NOW + timedelta(days=1)))
        db.session.commit()
        claims["jti"] = "revoked"
    else:
        user.token_version = 1
        db.session.commit()
        if change == "older version":
            claims["ver"] = 0
        else:
            del claims["ver"]
    with pytest.raises(jwt_util.TokenError) as refused:
        User.find_by_access_token(claims)
    assert refused.value.kind == kind


def test_database_errors_never_show_the_statements_parameters(db):
    table = db.table("no_such_table", db.column("secret"))
    statement = db.select(table.c.secret).where(table.c.secret == "parameter-never-shown")
    with pytest.raises(DBAPIError) as raised:
        db.session.execute(statement)
    assert "parameter-never-shown" not in str(raised.value)
    db.session.rollback()
