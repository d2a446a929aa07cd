"""Refresh tokens with rotation and reuse detection, logout-all, password change."""

from datetime import datetime, timedelta, timezone

import pytest
from flask import url_for

from flask_api_tutorial.models import RefreshToken
from tests.support.races import assert_one_wins, release_together
from tests.util import (
    BAD_REQUEST,
    EMAIL,
    LOGIN_FAILED,
    PASSWORD,
    REALM,
    REFRESH_EXPIRED,
    REFRESH_INVALID,
    REFRESH_REUSED,
    TOKEN_BLACKLISTED,
    TOKEN_INVALID,
    assert_token_response,
    assert_unauthorized,
    change_password,
    get_user,
    login_user,
    logout_all,
    logout_user,
    refresh_tokens,
    register_user,
)

pytestmark = [pytest.mark.database]

# A second user, whose sessions must never be touched by the first's (make_user).
OTHER_EMAIL = "other_user@email.com"


def _login(client, email=EMAIL, password=PASSWORD):
    body = login_user(client, email=email, password=password).get_json()
    return body["access_token"], body["refresh_token"]


# Refresh and rotation


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "form"])
def test_refresh_rotates_both_tokens(client, user, as_json):
    access, refresh = _login(client)
    response = refresh_tokens(client, refresh, as_json=as_json)
    assert_token_response(response, 200, "successfully refreshed")
    body = response.get_json()
    assert body["access_token"] != access
    assert body["refresh_token"] != refresh
    assert get_user(client, body["access_token"]).status_code == 200
    # The old access token lives on until it expires: rotation is about refresh tokens.
    assert get_user(client, access).status_code == 200


def test_each_refresh_gives_a_token_that_refreshes_once(client, user):
    _, refresh = _login(client)
    seen = {refresh}
    for _ in range(4):
        response = refresh_tokens(client, refresh)
        assert response.status_code == 200
        refresh = response.get_json()["refresh_token"]
        assert refresh not in seen
        seen.add(refresh)


def test_reused_refresh_token_revokes_its_family(client, user):
    _, first = _login(client)
    second = refresh_tokens(client, first).get_json()["refresh_token"]
    third = refresh_tokens(client, second).get_json()["refresh_token"]
    assert_unauthorized(refresh_tokens(client, first), REFRESH_REUSED)
    # Every token descended from that login is gone, the newest included.
    assert_unauthorized(refresh_tokens(client, third), REFRESH_INVALID)
    assert_unauthorized(refresh_tokens(client, second), REFRESH_INVALID)


def test_reuse_revokes_only_that_family(client, user, make_user):
    make_user(email=OTHER_EMAIL)
    _, family_a = _login(client)
    _, family_b = _login(client)
    _, other = _login(client, email=OTHER_EMAIL)
    refresh_tokens(client, family_a)
    assert refresh_tokens(client, family_a).status_code == 401
    assert refresh_tokens(client, family_b).status_code == 200
    assert refresh_tokens(client, other).status_code == 200


def test_refresh_token_expires(client, user, time_machine):
    start = datetime(2026, 2, 1, 8, 0, tzinfo=timezone.utc)
    time_machine.move_to(start, tick=False)
    _, refresh = _login(client)
    time_machine.move_to(start + timedelta(days=29, hours=23), tick=False)
    fresh = refresh_tokens(client, refresh)
    assert fresh.status_code == 200
    time_machine.move_to(start + timedelta(days=59, hours=23), tick=False)
    assert_unauthorized(refresh_tokens(client, refresh), REFRESH_EXPIRED)
    time_machine.move_to(start + timedelta(days=60), tick=False)
    assert_unauthorized(refresh_tokens(client, fresh.get_json()["refresh_token"]), REFRESH_EXPIRED)


def test_access_token_is_not_a_refresh_token(client, user):
    access, _ = _login(client)
    assert_unauthorized(refresh_tokens(client, access), REFRESH_INVALID)


def test_refresh_token_is_not_an_access_token(client, user):
    _, refresh = _login(client)
    assert_unauthorized(get_user(client, refresh), TOKEN_INVALID)
    assert_unauthorized(logout_user(client, refresh), TOKEN_INVALID)


@pytest.mark.parametrize("token", ["abc", "a.b.c", "", "   ", 12, None, ["x"]])
def test_refresh_with_garbage(client, user, token):
    response = client.post(url_for("api.auth_refresh"), json={"refresh_token": token})
    if isinstance(token, str) and token.strip():
        assert_unauthorized(response, REFRESH_INVALID)
    else:
        assert response.status_code == 400
        assert response.get_json()["message"] == BAD_REQUEST
        assert set(response.get_json()["errors"]) == {"refresh_token"}


def test_refresh_without_the_field(client):
    response = client.post(url_for("api.auth_refresh"), json={})
    assert response.status_code == 400
    assert response.get_json()["errors"] == {
        "refresh_token": "Missing required parameter in the post body"
    }


def test_refresh_token_of_a_deleted_user(client, db, user):
    _, refresh = _login(client)
    db.session.delete(user)
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(RefreshToken.id))) == 0
    assert_unauthorized(refresh_tokens(client, refresh), REFRESH_INVALID)


def test_refresh_token_forged_with_the_access_key(app, client, user):
    import jwt

    _, refresh = _login(client)
    claims = jwt.decode(refresh, options={"verify_signature": False})
    forged = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")
    assert_unauthorized(refresh_tokens(client, forged), REFRESH_INVALID)


def test_register_returns_a_refresh_token(client, db):
    body = register_user(client).get_json()
    assert refresh_tokens(client, body["refresh_token"]).status_code == 200


# Logout


def test_logout_without_refresh_token_leaves_it_working(client, user):
    access, refresh = _login(client)
    assert logout_user(client, access).status_code == 200
    assert refresh_tokens(client, refresh).status_code == 200


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "form"])
def test_logout_with_refresh_token_revokes_its_family(client, user, as_json):
    access, refresh = _login(client)
    rotated = refresh_tokens(client, refresh).get_json()["refresh_token"]
    _, other_login = _login(client)
    response = logout_user(client, access, rotated, as_json=as_json)
    assert response.status_code == 200
    assert response.get_json() == {"status": "success", "message": "successfully logged out"}
    assert_unauthorized(get_user(client, access), TOKEN_BLACKLISTED)
    assert_unauthorized(refresh_tokens(client, rotated), REFRESH_INVALID)
    assert refresh_tokens(client, other_login).status_code == 200


def test_logout_with_someone_elses_refresh_token_changes_nothing(client, user, make_user):
    make_user(email=OTHER_EMAIL)
    access, _ = _login(client)
    _, other_refresh = _login(client, email=OTHER_EMAIL)
    assert_unauthorized(logout_user(client, access, other_refresh), REFRESH_INVALID)
    assert get_user(client, access).status_code == 200
    assert refresh_tokens(client, other_refresh).status_code == 200


def test_logout_with_bad_refresh_field_is_400_and_changes_nothing(client, user):
    access, _ = _login(client)
    response = logout_user(client, access, refresh_token=5)
    assert response.status_code == 400
    assert get_user(client, access).status_code == 200


# Logout everywhere


def test_logout_all_ends_every_token_of_the_user(client, user, make_user):
    make_user(email=OTHER_EMAIL)
    first_access, first_refresh = _login(client)
    second_access, second_refresh = _login(client)
    other_access, other_refresh = _login(client, email=OTHER_EMAIL)
    response = logout_all(client, first_access)
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "success",
        "message": "successfully logged out everywhere",
    }
    for access in (first_access, second_access):
        assert_unauthorized(get_user(client, access), TOKEN_BLACKLISTED)
    for refresh in (first_refresh, second_refresh):
        assert_unauthorized(refresh_tokens(client, refresh), REFRESH_INVALID)
    assert get_user(client, other_access).status_code == 200
    assert refresh_tokens(client, other_refresh).status_code == 200
    # A new login afterwards works.
    new_access, new_refresh = _login(client)
    assert get_user(client, new_access).status_code == 200
    assert refresh_tokens(client, new_refresh).status_code == 200


def test_logout_all_needs_a_token(client):
    assert_unauthorized(client.post(url_for("api.auth_logout_all")))


# Password change


def test_password_change(client, user, make_user):
    make_user(email=OTHER_EMAIL)
    access, refresh = _login(client)
    other_access, _ = _login(client)
    unrelated_access, _ = _login(client, email=OTHER_EMAIL)
    response = change_password(client, access, PASSWORD, "a-new-passphrase")
    assert_token_response(response, 200, "successfully changed password")
    body = response.get_json()
    assert get_user(client, body["access_token"]).status_code == 200
    assert refresh_tokens(client, body["refresh_token"]).status_code == 200
    for old in (access, other_access):
        assert_unauthorized(get_user(client, old), TOKEN_BLACKLISTED)
    assert_unauthorized(refresh_tokens(client, refresh), REFRESH_INVALID)
    assert get_user(client, unrelated_access).status_code == 200
    assert login_user(client).status_code == 401
    assert login_user(client, password="a-new-passphrase").status_code == 200


def test_password_change_wrong_current_password(client, user):
    access, refresh = _login(client)
    response = change_password(client, access, "not-my-password", "a-new-passphrase")
    assert response.status_code == 401
    assert response.get_json() == LOGIN_FAILED
    assert response.headers["WWW-Authenticate"] == REALM
    # Nothing changed.
    assert get_user(client, access).status_code == 200
    assert refresh_tokens(client, refresh).status_code == 200
    assert login_user(client).status_code == 200


@pytest.mark.parametrize("new", ["short", "x" * 73, ""])
def test_password_change_applies_the_password_rule(client, user, new):
    access, _ = _login(client)
    response = change_password(client, access, PASSWORD, new)
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {"new_password"}
    assert login_user(client).status_code == 200


def test_password_change_needs_a_token(client, user):
    response = client.put(
        url_for("api.auth_password"),
        json={"current_password": PASSWORD, "new_password": "a-new-passphrase"},
    )
    assert_unauthorized(response)


# Concurrency


def test_two_concurrent_refreshes_one_wins(app, client, user):
    """Exactly one 200; the other counts as reuse (401), and nothing answers 5xx."""
    _, refresh = _login(client)
    path = url_for("api.auth_refresh")  # here: the threads have no request context
    responses = release_together(
        [lambda: app.test_client().post(path, json={"refresh_token": refresh})] * 2
    )
    assert_one_wins(responses, 200, 401)
    loser = next(r for r in responses if r.status_code == 401)
    assert loser.get_json()["message"] in {REFRESH_REUSED, REFRESH_INVALID}
