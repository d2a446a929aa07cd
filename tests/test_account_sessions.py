"""GET /auth/sessions and DELETE /auth/sessions/<id>: one's logins, listed and ended."""

from datetime import datetime, timedelta

import jwt
import pytest

from flask_api_tutorial.models import UserSession
from flask_api_tutorial.util.datetime_util import utc_now
from tests.util import (
    EMAIL,
    PASSWORD,
    SESSION_NOT_FOUND,
    TOKEN_BLACKLISTED,
    TOKEN_INVALID,
    assert_unauthorized,
    change_password,
    end_session,
    get_user,
    list_sessions,
    logout_all,
    logout_user,
    refresh_tokens,
)

pytestmark = [pytest.mark.database]

OTHER_EMAIL = "other_user@email.com"
SESSION_FIELDS = {"id", "created_at", "last_used_at", "user_agent", "ip_address", "current"}


def _login(client, agent="agent-one", address="127.0.0.1", email=EMAIL):
    response = client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"User-Agent": agent},
        environ_base={"REMOTE_ADDR": address},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _sid(access_token):
    return jwt.decode(access_token, options={"verify_signature": False})["sid"]


def _sessions(client, access_token):
    response = list_sessions(client, access_token)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()["sessions"]


def test_sessions_lists_each_login_newest_first(client, user, time_machine):
    start = utc_now().replace(microsecond=0)
    time_machine.move_to(start, tick=False)
    first = _login(client, agent="curl/8.5.0", address="127.0.0.7")
    time_machine.shift(timedelta(seconds=2))  # testing tokens live 5 seconds
    second = _login(client, agent="Mozilla/5.0 (X11)")
    sessions = _sessions(client, second["access_token"])
    assert [session["id"] for session in sessions] == [
        _sid(second["access_token"]),
        _sid(first["access_token"]),
    ]
    newest, oldest = sessions
    assert set(newest) == SESSION_FIELDS
    assert (newest["user_agent"], newest["ip_address"], newest["current"]) == (
        "Mozilla/5.0 (X11)",
        "127.0.0.1",
        True,
    )
    assert (oldest["user_agent"], oldest["ip_address"], oldest["current"]) == (
        "curl/8.5.0",
        "127.0.0.7",
        False,
    )
    created = datetime.fromisoformat(oldest["created_at"])
    assert created == start and created.utcoffset() == timedelta(0)
    assert oldest["last_used_at"] == oldest["created_at"]
    # The first login's own token marks its own session current.
    assert [s["current"] for s in _sessions(client, first["access_token"])] == [False, True]


def test_last_used_moves_with_a_refresh_not_with_requests(client, user, time_machine):
    start = utc_now().replace(microsecond=0)
    time_machine.move_to(start, tick=False)
    login = _login(client)
    time_machine.shift(timedelta(seconds=2))
    assert get_user(client, login["access_token"]).status_code == 200
    (session,) = _sessions(client, login["access_token"])
    assert datetime.fromisoformat(session["last_used_at"]) == start
    time_machine.shift(timedelta(seconds=2))
    refreshed = refresh_tokens(client, login["refresh_token"]).get_json()
    (session,) = _sessions(client, refreshed["access_token"])
    assert datetime.fromisoformat(session["last_used_at"]) == start + timedelta(seconds=4)
    assert datetime.fromisoformat(session["created_at"]) == start
    # A refresh stays in its session: the same id, still current.
    assert session["id"] == _sid(login["access_token"]) == _sid(refreshed["access_token"])
    assert session["current"] is True


def test_ending_a_session_refuses_its_tokens_at_once(client, user):
    phone = _login(client, agent="phone")
    laptop = _login(client, agent="laptop")
    response = end_session(client, laptop["access_token"], _sid(phone["access_token"]))
    assert response.status_code == 204
    assert response.data == b""
    # Its access token, on the very next request; its refresh token too.
    assert_unauthorized(get_user(client, phone["access_token"]), TOKEN_BLACKLISTED)
    assert refresh_tokens(client, phone["refresh_token"]).status_code == 401
    # The other login goes on, and no longer lists it.
    assert get_user(client, laptop["access_token"]).status_code == 200
    assert [s["id"] for s in _sessions(client, laptop["access_token"])] == [
        _sid(laptop["access_token"])
    ]


def test_ending_the_current_session_logs_it_out(client, user):
    login = _login(client)
    assert (
        end_session(client, login["access_token"], _sid(login["access_token"])).status_code == 204
    )
    assert_unauthorized(get_user(client, login["access_token"]), TOKEN_BLACKLISTED)


def test_an_ended_or_unknown_or_foreign_session_is_404(client, user, make_user):
    make_user(email=OTHER_EMAIL)
    mine = _login(client)
    other = _login(client)
    theirs = _login(client, email=OTHER_EMAIL)
    assert (
        end_session(client, mine["access_token"], _sid(other["access_token"])).status_code == 204
    )
    for session_id in (
        _sid(other["access_token"]),  # ended
        _sid(theirs["access_token"]),  # another user's
        "00000000-0000-4000-8000-000000000000",  # no one's
        "not-a-session-id",
        "%00",
        "x" * 500,
    ):
        response = end_session(client, mine["access_token"], session_id)
        assert (response.status_code, response.get_json()) == (404, SESSION_NOT_FOUND), session_id
    # The other user's session is untouched.
    assert get_user(client, theirs["access_token"]).status_code == 200


def test_logout_with_the_refresh_token_ends_the_session(client, user):
    login = _login(client)
    other = _login(client)
    assert logout_user(client, login["access_token"], login["refresh_token"]).status_code == 200
    assert [s["id"] for s in _sessions(client, other["access_token"])] == [
        _sid(other["access_token"])
    ]


def test_reuse_of_a_refresh_token_ends_its_session(client, user):
    login = _login(client)
    refreshed = refresh_tokens(client, login["refresh_token"]).get_json()
    assert refresh_tokens(client, login["refresh_token"]).status_code == 401  # reuse
    assert_unauthorized(get_user(client, refreshed["access_token"]), TOKEN_BLACKLISTED)


@pytest.mark.parametrize("ending", ["logout-all", "password change"])
def test_logout_all_and_password_change_end_every_session(client, user, ending):
    first, second = _login(client), _login(client)
    if ending == "logout-all":
        assert logout_all(client, second["access_token"]).status_code == 200
        fresh = _login(client)
    else:
        response = change_password(client, second["access_token"], PASSWORD, "changed-pass-1")
        assert response.status_code == 200
        fresh = response.get_json()
    for login in (first, second):
        assert get_user(client, login["access_token"]).status_code == 401
    assert [s["id"] for s in _sessions(client, fresh["access_token"])] == [
        _sid(fresh["access_token"])
    ]


def test_a_session_idle_past_the_refresh_lifetime_is_not_listed(app, client, user, time_machine):
    time_machine.move_to(utc_now(), tick=False)
    old = _login(client)
    time_machine.shift(app.config["REFRESH_TOKEN_LIFETIME"])
    new = _login(client)
    assert [s["id"] for s in _sessions(client, new["access_token"])] == [_sid(new["access_token"])]
    response = end_session(client, new["access_token"], _sid(old["access_token"]))
    assert response.status_code == 404


def test_user_agent_is_kept_clean_and_short(client, user, db):
    login = _login(client, agent="evil\x1b[31m agent " + "x" * 400)
    (session,) = _sessions(client, login["access_token"])
    assert "\x1b" not in session["user_agent"]
    assert session["user_agent"].startswith("evil[31m agent x")
    assert len(session["user_agent"]) == 255


def test_client_address_comes_through_trusted_proxies_only(app, client, user):
    forged = {"X-Forwarded-For": "203.0.113.9"}
    login = client.post(
        "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}, headers=forged
    ).get_json()
    assert _sessions(client, login["access_token"])[0]["ip_address"] == "127.0.0.1"


def test_sessions_need_a_token(client):
    assert_unauthorized(client.get("/api/v1/auth/sessions"))
    assert_unauthorized(client.delete("/api/v1/auth/sessions/x"))
    assert_unauthorized(
        list_sessions(client, "not.a.token"), "Invalid token. Please log in again."
    )


def test_a_token_from_before_sessions_works_but_belongs_to_no_session(app, client, user, db):
    """Issued before the upgrade (no sid): inside the upgrade window, listed nowhere."""
    upgrade = utc_now().timestamp() + 60
    scope = app.config["ACCESS_TOKEN_SCOPE"]._replace(unscoped_before=upgrade)
    app.config["ACCESS_TOKEN_SCOPE"] = scope
    now = int(utc_now().timestamp())
    claims = {
        "sub": user.public_id,
        "admin": False,
        "iat": now,
        "exp": now + 60,
        "jti": "a-token-from-before-sessions",
        "iss": scope.issuer,
        "aud": scope.audience[0],
    }
    token = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")
    assert get_user(client, token).status_code == 200
    login = _login(client)
    sessions = _sessions(client, token)
    assert [(s["id"], s["current"]) for s in sessions] == [(_sid(login["access_token"]), False)]
    # Issued after the upgrade instant, the same token is refused.
    app.config["ACCESS_TOKEN_SCOPE"] = scope._replace(unscoped_before=now)
    assert_unauthorized(get_user(client, token), TOKEN_INVALID)


def test_a_refresh_of_a_login_from_before_sessions_records_it(client, user, db):
    """A refresh-token family without its session row (issued before the upgrade)."""
    login = _login(client)
    family = _sid(login["access_token"])
    db.session.execute(db.delete(UserSession).where(UserSession.id == family))
    db.session.commit()
    refreshed = refresh_tokens(client, login["refresh_token"]).get_json()
    assert _sid(refreshed["access_token"]) == family
    (session,) = _sessions(client, refreshed["access_token"])
    assert session["id"] == family and session["current"] is True
