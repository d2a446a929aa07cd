"""Refresh tokens with rotation and reuse detection, logout-all, password change."""

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from flask_api_tutorial.models import RefreshToken, User
from tests.util import (
    BAD_REQUEST,
    EMAIL,
    LOGIN_FAILED,
    PASSWORD,
    REALM,
    TOKEN_BLACKLISTED,
    TOKEN_INVALID,
    assert_token_response,
    assert_unauthorized,
    bearer,
    get_user,
    login_user,
    register_user,
)

REFRESH_INVALID = "Invalid refresh token. Please log in again."
REFRESH_EXPIRED = "Refresh token expired. Please log in again."
REFRESH_REUSED = "Refresh token already used. Please log in again."
OTHER_EMAIL = "other_user@email.com"


def _login(client, email=EMAIL, password=PASSWORD):
    body = login_user(client, email=email, password=password).get_json()
    return body["access_token"], body["refresh_token"]


def _refresh(client, refresh_token, as_json=True):
    body = {"refresh_token": refresh_token}
    kwargs = {"json": body} if as_json else {"data": body}
    return client.post("/api/v1/auth/refresh", **kwargs)


def _logout(client, access_token, refresh_token=None):
    kwargs = {"json": {"refresh_token": refresh_token}} if refresh_token else {}
    return client.post("/api/v1/auth/logout", headers=bearer(access_token), **kwargs)


def _change_password(client, access_token, current, new):
    return client.put(
        "/api/v1/auth/password",
        json={"current_password": current, "new_password": new},
        headers=bearer(access_token),
    )


@pytest.fixture
def other_user(db):
    """Return a second user, whose sessions must never be touched by the first's."""
    other = User(email=OTHER_EMAIL, password=PASSWORD)
    db.session.add(other)
    db.session.commit()
    return other


# Refresh and rotation


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "form"])
def test_refresh_rotates_both_tokens(client, user, as_json):
    access, refresh = _login(client)
    response = _refresh(client, refresh, as_json=as_json)
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
        response = _refresh(client, refresh)
        assert response.status_code == 200
        refresh = response.get_json()["refresh_token"]
        assert refresh not in seen
        seen.add(refresh)


def test_reused_refresh_token_revokes_its_family(client, user):
    _, first = _login(client)
    second = _refresh(client, first).get_json()["refresh_token"]
    third = _refresh(client, second).get_json()["refresh_token"]
    assert_unauthorized(_refresh(client, first), REFRESH_REUSED)
    # Every token descended from that login is gone, the newest included.
    assert_unauthorized(_refresh(client, third), REFRESH_INVALID)
    assert_unauthorized(_refresh(client, second), REFRESH_INVALID)


def test_reuse_revokes_only_that_family(client, user, other_user):
    _, family_a = _login(client)
    _, family_b = _login(client)
    _, other = _login(client, email=OTHER_EMAIL)
    _refresh(client, family_a)
    assert _refresh(client, family_a).status_code == 401
    assert _refresh(client, family_b).status_code == 200
    assert _refresh(client, other).status_code == 200


def test_refresh_token_expires(client, user, time_machine):
    start = datetime(2026, 2, 1, 8, 0, tzinfo=timezone.utc)
    time_machine.move_to(start, tick=False)
    _, refresh = _login(client)
    time_machine.move_to(start + timedelta(days=29, hours=23), tick=False)
    fresh = _refresh(client, refresh)
    assert fresh.status_code == 200
    time_machine.move_to(start + timedelta(days=59, hours=23), tick=False)
    assert_unauthorized(_refresh(client, refresh), REFRESH_EXPIRED)
    time_machine.move_to(start + timedelta(days=60), tick=False)
    assert_unauthorized(_refresh(client, fresh.get_json()["refresh_token"]), REFRESH_EXPIRED)


def test_access_token_is_not_a_refresh_token(client, user):
    access, _ = _login(client)
    assert_unauthorized(_refresh(client, access), REFRESH_INVALID)


def test_refresh_token_is_not_an_access_token(client, user):
    _, refresh = _login(client)
    assert_unauthorized(get_user(client, refresh), TOKEN_INVALID)
    assert_unauthorized(_logout(client, refresh), TOKEN_INVALID)


@pytest.mark.parametrize("token", ["abc", "a.b.c", "", "   ", 12, None, ["x"]])
def test_refresh_with_garbage(client, user, token):
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    if isinstance(token, str) and token.strip():
        assert_unauthorized(response, REFRESH_INVALID)
    else:
        assert response.status_code == 400
        assert response.get_json()["message"] == BAD_REQUEST
        assert set(response.get_json()["errors"]) == {"refresh_token"}


def test_refresh_without_the_field(client):
    response = client.post("/api/v1/auth/refresh", json={})
    assert response.status_code == 400
    assert response.get_json()["errors"] == {
        "refresh_token": "Missing required parameter in the post body"
    }


def test_refresh_token_of_a_deleted_user(client, db, user):
    _, refresh = _login(client)
    db.session.delete(user)
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(RefreshToken.id))) == 0
    assert_unauthorized(_refresh(client, refresh), REFRESH_INVALID)


def test_refresh_token_forged_with_the_access_key(app, client, user):
    import jwt

    _, refresh = _login(client)
    claims = jwt.decode(refresh, options={"verify_signature": False})
    forged = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")
    assert_unauthorized(_refresh(client, forged), REFRESH_INVALID)


def test_register_returns_a_refresh_token(client, db):
    body = register_user(client).get_json()
    assert _refresh(client, body["refresh_token"]).status_code == 200


# Logout


def test_logout_without_refresh_token_leaves_it_working(client, user):
    access, refresh = _login(client)
    assert _logout(client, access).status_code == 200
    assert _refresh(client, refresh).status_code == 200


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "form"])
def test_logout_with_refresh_token_revokes_its_family(client, user, as_json):
    access, refresh = _login(client)
    rotated = _refresh(client, refresh).get_json()["refresh_token"]
    _, other_login = _login(client)
    body = {"refresh_token": rotated}
    response = client.post(
        "/api/v1/auth/logout",
        headers=bearer(access),
        **({"json": body} if as_json else {"data": body}),
    )
    assert response.status_code == 200
    assert response.get_json() == {"status": "success", "message": "successfully logged out"}
    assert_unauthorized(get_user(client, access), TOKEN_BLACKLISTED)
    assert_unauthorized(_refresh(client, rotated), REFRESH_INVALID)
    assert _refresh(client, other_login).status_code == 200


def test_logout_with_someone_elses_refresh_token_changes_nothing(client, user, other_user):
    access, _ = _login(client)
    _, other_refresh = _login(client, email=OTHER_EMAIL)
    assert_unauthorized(_logout(client, access, other_refresh), REFRESH_INVALID)
    assert get_user(client, access).status_code == 200
    assert _refresh(client, other_refresh).status_code == 200


def test_logout_with_bad_refresh_field_is_400_and_changes_nothing(client, user):
    access, _ = _login(client)
    response = client.post(
        "/api/v1/auth/logout", headers=bearer(access), json={"refresh_token": 5}
    )
    assert response.status_code == 400
    assert get_user(client, access).status_code == 200


# Logout everywhere


def test_logout_all_ends_every_token_of_the_user(client, user, other_user):
    first_access, first_refresh = _login(client)
    second_access, second_refresh = _login(client)
    other_access, other_refresh = _login(client, email=OTHER_EMAIL)
    response = client.post("/api/v1/auth/logout-all", headers=bearer(first_access))
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "success",
        "message": "successfully logged out everywhere",
    }
    for access in (first_access, second_access):
        assert_unauthorized(get_user(client, access), TOKEN_BLACKLISTED)
    for refresh in (first_refresh, second_refresh):
        assert_unauthorized(_refresh(client, refresh), REFRESH_INVALID)
    assert get_user(client, other_access).status_code == 200
    assert _refresh(client, other_refresh).status_code == 200
    # A new login afterwards works.
    new_access, new_refresh = _login(client)
    assert get_user(client, new_access).status_code == 200
    assert _refresh(client, new_refresh).status_code == 200


def test_logout_all_needs_a_token(client):
    assert_unauthorized(client.post("/api/v1/auth/logout-all"))


# Password change


def test_password_change(client, user, other_user):
    access, refresh = _login(client)
    other_access, _ = _login(client)
    unrelated_access, _ = _login(client, email=OTHER_EMAIL)
    response = _change_password(client, access, PASSWORD, "a-new-passphrase")
    assert_token_response(response, 200, "successfully changed password")
    body = response.get_json()
    assert get_user(client, body["access_token"]).status_code == 200
    assert _refresh(client, body["refresh_token"]).status_code == 200
    for old in (access, other_access):
        assert_unauthorized(get_user(client, old), TOKEN_BLACKLISTED)
    assert_unauthorized(_refresh(client, refresh), REFRESH_INVALID)
    assert get_user(client, unrelated_access).status_code == 200
    assert login_user(client).status_code == 401
    assert login_user(client, password="a-new-passphrase").status_code == 200


def test_password_change_wrong_current_password(client, user):
    access, refresh = _login(client)
    response = _change_password(client, access, "not-my-password", "a-new-passphrase")
    assert response.status_code == 401
    assert response.get_json() == LOGIN_FAILED
    assert response.headers["WWW-Authenticate"] == REALM
    # Nothing changed.
    assert get_user(client, access).status_code == 200
    assert _refresh(client, refresh).status_code == 200
    assert login_user(client).status_code == 200


@pytest.mark.parametrize("new", ["short", "x" * 73, ""])
def test_password_change_applies_the_password_rule(client, user, new):
    access, _ = _login(client)
    response = _change_password(client, access, PASSWORD, new)
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {"new_password"}
    assert login_user(client).status_code == 200


def test_password_change_needs_a_token(client, user):
    response = client.put(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a-new-passphrase"},
    )
    assert_unauthorized(response)


# Concurrency


def test_two_concurrent_refreshes_one_wins(app, client, user):
    """Exactly one 200; the other counts as reuse (401), and nothing answers 5xx."""
    _, refresh = _login(client)
    barrier = threading.Barrier(2)
    responses = []

    def worker():
        other_client = app.test_client()
        barrier.wait()
        responses.append(_refresh(other_client, refresh))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(r.status_code for r in responses) == {200: 1, 401: 1}
    loser = next(r for r in responses if r.status_code == 401)
    assert loser.get_json()["message"] in {REFRESH_REUSED, REFRESH_INVALID}
