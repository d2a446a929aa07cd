"""The tutorial's model API on User, the testing token lifetime, and one JSON style."""

from datetime import datetime, timedelta, timezone

import pytest
from flask import url_for
from sqlalchemy.exc import ArgumentError, DBAPIError

from flask_api_tutorial.database import read_rows
from flask_api_tutorial.models import User, Widget, WidgetCount
from tests.util import (
    EMAIL,
    TOKEN_BLACKLISTED,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    bearer,
    login_user,
    logout_user,
)

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


# --- the token check's read (database.read_rows) ----------------------------------------


def _add_widgets(db, owner, count):
    for number in range(count):
        db.session.add(
            Widget(
                name=f"w-{number}",
                info_url=f"https://example.com/w-{number}",
                created_at=NOW + timedelta(seconds=number),
                deadline=datetime(2027, 1, 1, 23, 59, 59, tzinfo=timezone.utc),
                # Every third has no owner: nulls go through the result processors too.
                owner_id=owner.id if number % 3 else None,
            )
        )
    WidgetCount.add(count)
    db.session.commit()


@pytest.mark.parametrize("page", [1, 2, 3, 4], ids=["full", "full again", "partial", "empty"])
def test_rows_read_along_are_the_rows_sqlalchemy_reads(db, admin, page):
    """Same values, same types (aware UTC datetimes, booleans), in the same order."""
    _add_widgets(db, admin, 12)
    claims = {"sub": admin.public_id, "jti": "never-revoked", "ver": admin.token_version}
    along = Widget.page_read(page, 5)
    user, rows = User.check_access_token(claims, along)
    with db.engine.connect() as connection:
        result = connection.execute(along.select, along.params)
        names, expected = tuple(result.keys()), result.all()
    assert len(expected) == max(0, min(5, 12 - (page - 1) * 5))
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    assert [list(map(type, row)) for row in rows] == [list(map(type, row)) for row in expected]
    assert all(row._fields == names for row in rows)
    for row in rows:
        assert row.created_at.tzinfo is timezone.utc
        assert row.deadline.tzinfo is timezone.utc
    stored = db.session.get(User, admin.id)
    for name in ("id", "email", "public_id", "admin", "registered_on", "token_version"):
        assert getattr(user, name) == getattr(stored, name)
        assert type(getattr(user, name)) is type(getattr(stored, name))
    assert user.admin is True
    assert user.registered_on.tzinfo is timezone.utc


def test_token_check_alone_reads_no_rows_along(db, user):
    claims = {"sub": user.public_id, "jti": "never-revoked", "ver": user.token_version}
    checked, rows = User.check_access_token(claims)
    assert rows is None
    assert checked.public_id == user.public_id
    assert checked.admin is False


def test_read_rows_fails_as_sqlalchemy_does_and_hides_parameters(db):
    table = db.table("no_such_table", db.column("secret"))
    statement = db.select(table.c.secret).where(table.c.secret == db.bindparam("value"))
    params = {"value": "parameter-never-shown"}
    with pytest.raises(DBAPIError) as raised:
        read_rows(statement, params)
    with db.engine.connect() as connection, pytest.raises(DBAPIError) as expected:
        connection.execute(statement, params)
    assert type(raised.value) is type(expected.value)
    assert type(raised.value.orig) is type(expected.value.orig)
    assert "parameter-never-shown" not in str(raised.value)
    assert not raised.value.connection_invalidated
    # The connection went back to the pool unharmed.
    assert read_rows(db.select(db.literal(7).label("seven")), {})[0].seven == 7


def test_read_rows_refuses_a_parameter_left_out(db, user):
    """As SQLAlchemy does: left out, a parameter would read as NULL (a revoked jti, unseen)."""
    statement = db.select(User.email).where(
        User.public_id == db.bindparam("sub"), User.token_version == db.bindparam("version")
    )
    with pytest.raises(ArgumentError, match="version"):
        read_rows(statement, {"sub": user.public_id})
    assert read_rows(statement, {"sub": user.public_id, "version": 0})[0].email == user.email
