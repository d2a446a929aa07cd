"""POST /api/v1/auth/register."""

import pytest
from flask import url_for

from flask_api_tutorial.models import User
from tests.util import (
    BAD_REQUEST,
    EMAIL,
    PASSWORD,
    assert_token_response,
    get_user,
    register_user,
)

pytestmark = [pytest.mark.database]

PASSWORD_RULE = (
    "password must be at least 8 characters and at most 72 bytes in UTF-8, without NUL characters"
)


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_register(client, db, as_json):
    response = register_user(client, as_json=as_json)
    assert_token_response(response, 201, "successfully registered")
    user = db.session.scalar(db.select(User).filter_by(email=EMAIL))
    assert user.check_password(PASSWORD)
    assert user.admin is False
    # The token works straight away.
    assert get_user(client, response.get_json()["access_token"]).status_code == 200


def test_register_multipart_form(client):
    response = client.post(
        url_for("api.auth_register"),
        data={"email": EMAIL, "password": PASSWORD},
        content_type="multipart/form-data",
    )
    assert_token_response(response, 201, "successfully registered")


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_register_email_already_registered(client, user, as_json):
    response = register_user(client, as_json=as_json)
    assert response.status_code == 409
    assert response.get_json() == {
        "status": "fail",
        "message": f"{EMAIL} is already registered",
    }


def test_register_email_in_another_case_is_the_same_account(client, db):
    response = register_user(client, email="  Foo@X.COM ")
    assert response.status_code == 201
    stored = db.session.scalars(db.select(User.email)).all()
    assert stored == ["foo@x.com"]
    response = register_user(client, email="foo@x.com")
    assert response.status_code == 409
    assert response.get_json()["message"] == "foo@x.com is already registered"


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
@pytest.mark.parametrize("email", ["first last", "a@b", "@email.com", "x" * 300 + "@b.io"])
def test_register_invalid_email(client, db, email, as_json):
    response = register_user(client, email=email, as_json=as_json)
    assert response.status_code == 400
    assert response.get_json() == {
        "message": BAD_REQUEST,
        "errors": {"email": f"{email} is not a valid email"},
    }
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
@pytest.mark.parametrize(
    "password",
    ["1234567", "", "é" * 37, "a" * 73, "🔑" * 19],
    ids=["7 chars", "empty", "74 bytes of é", "73 bytes", "76 bytes of emoji"],
)
def test_register_password_out_of_range(client, db, password, as_json):
    response = register_user(client, password=password, as_json=as_json)
    assert response.status_code == 400
    assert response.get_json() == {"message": BAD_REQUEST, "errors": {"password": PASSWORD_RULE}}
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


@pytest.mark.parametrize(
    "password",
    ["12345678", "a" * 72, "é" * 36, "🔑" * 18, "pass word with space", "пароль-ключ"],
    ids=["8 chars", "72 bytes", "72 bytes of é", "72 bytes of emoji", "space", "cyrillic"],
)
def test_register_password_in_range_any_unicode(client, db, password):
    response = register_user(client, password=password, as_json=True)
    assert response.status_code == 201
    user = db.session.scalar(db.select(User).filter_by(email=EMAIL))
    assert user.check_password(password)
    # Never truncated: the same password with one byte changed at the end fails.
    assert not user.check_password(password[:-1] + "#")


def test_register_password_of_one_megabyte_is_too_large(client, db):
    response = register_user(client, password="a" * 1024 * 1024)
    assert response.status_code == 413
    assert response.content_type == "application/json"
    assert "message" in response.get_json()
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_register_both_fields_invalid_reports_both(client):
    response = register_user(client, email="nope", password="short", as_json=True)
    assert response.status_code == 400
    assert response.get_json()["errors"] == {
        "email": "nope is not a valid email",
        "password": PASSWORD_RULE,
    }


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"password": PASSWORD}, {"email"}),
        ({"email": EMAIL}, {"password"}),
        ({}, {"email", "password"}),
    ],
    ids=["no email", "no password", "empty"],
)
def test_register_missing_field(client, body, missing, as_json):
    response = client.post(
        url_for("api.auth_register"),
        **({"json": body} if as_json else {"data": body or {"x": "y"}}),
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "message": BAD_REQUEST,
        "errors": {field: "Missing required parameter in the post body" for field in missing},
    }


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        (123, PASSWORD, "email"),
        (["a@b.io"], PASSWORD, "email"),
        ({"a": 1}, PASSWORD, "email"),
        (None, PASSWORD, "email"),
        (EMAIL, 12345678, "password"),
        (EMAIL, True, "password"),
        (EMAIL, None, "password"),
        (EMAIL, ["12345678"], "password"),
    ],
)
def test_register_json_field_of_wrong_type(client, db, email, password, field):
    response = client.post(
        url_for("api.auth_register"), json={"email": email, "password": password}
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["message"] == BAD_REQUEST
    assert set(body["errors"]) == {field}
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_register_password_with_lone_surrogate(client):
    response = client.post(
        url_for("api.auth_register"),
        data=b'{"email": "a@b.io", "password": "\\ud800aaaaaaaaa"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"password": "password must be valid Unicode text"}
