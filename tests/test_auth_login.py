"""POST /api/v1/auth/login."""

import pytest

from flask_api_tutorial import bcrypt
from tests.util import (
    BAD_REQUEST,
    EMAIL,
    LOGIN_FAILED,
    PASSWORD,
    REALM,
    assert_token_response,
    get_user,
    login_user,
    logout_user,
)

pytestmark = [pytest.mark.database]


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_login(client, user, as_json):
    response = login_user(client, as_json=as_json)
    assert_token_response(response, 200, "successfully logged in")
    assert get_user(client, response.get_json()["access_token"]).status_code == 200


@pytest.mark.parametrize("email", ["NEW_USER@email.com", "  New_User@Email.Com  "])
def test_login_email_in_another_case(client, user, email):
    response = login_user(client, email=email, as_json=True)
    assert_token_response(response, 200, "successfully logged in")


def _assert_login_failed(response):
    assert response.status_code == 401
    assert response.get_json() == LOGIN_FAILED
    assert response.headers["WWW-Authenticate"] == REALM
    assert response.content_type == "application/json"


@pytest.mark.parametrize(
    ("email", "password"),
    [
        (EMAIL, "wrong-password"),
        ("unknown@email.com", PASSWORD),
        (EMAIL, PASSWORD + "x" * 70),
        (EMAIL, "short"),
        (EMAIL, ""),
    ],
    ids=["wrong password", "unknown email", "over-long password", "short", "empty"],
)
def test_login_failures_are_identical(client, user, email, password):
    _assert_login_failed(login_user(client, email=email, password=password))


@pytest.mark.parametrize(
    ("email", "password"),
    [(EMAIL, "wrong-password"), ("unknown@email.com", PASSWORD), (EMAIL, "x" * 200)],
    ids=["wrong password", "unknown email", "over-long password"],
)
def test_login_failures_cost_one_bcrypt_check(client, user, monkeypatch, email, password):
    """Each failure spends exactly one bcrypt check, so none answers faster."""
    calls = []
    real_check = bcrypt.check_password_hash

    def counting_check(pw_hash, candidate):
        calls.append(pw_hash)
        return real_check(pw_hash, candidate)

    monkeypatch.setattr(bcrypt, "check_password_hash", counting_check)
    _assert_login_failed(login_user(client, email=email, password=password))
    assert len(calls) == 1


def test_login_dummy_hash_uses_configured_rounds_and_costs_no_hashing(
    app, client, user, monkeypatch
):
    """The first unknown-email login is not slower: building the dummy hashes nothing."""
    app.config["BCRYPT_LOG_ROUNDS"] = 5
    checked = []
    monkeypatch.setattr(
        bcrypt, "generate_password_hash", lambda *a: pytest.fail("hashed during a login")
    )
    real_check = bcrypt.check_password_hash
    monkeypatch.setattr(
        bcrypt,
        "check_password_hash",
        lambda pw_hash, candidate: checked.append(pw_hash) or real_check(pw_hash, candidate),
    )
    _assert_login_failed(login_user(client, email="unknown@email.com"))
    (dummy,) = checked
    assert dummy.startswith(b"$2b$05$")
    assert len(dummy) == 60


def test_login_invalid_email_is_a_validation_error(client):
    response = login_user(client, email="not-an-email", as_json=True)
    assert response.status_code == 400
    assert response.get_json() == {
        "message": BAD_REQUEST,
        "errors": {"email": "not-an-email is not a valid email"},
    }


def test_two_logins_in_the_same_second_are_independent(client, user, time_machine):
    time_machine.move_to("2026-01-01 12:00:00+00:00", tick=False)
    first = login_user(client).get_json()["access_token"]
    second = login_user(client).get_json()["access_token"]
    assert first != second
    assert logout_user(client, first).status_code == 200
    assert get_user(client, first).status_code == 401
    assert get_user(client, second).status_code == 200
