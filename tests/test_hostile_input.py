"""Input crafted to slip past a check: each gets the contract's 4xx and changes nothing."""

import json
import time
import unicodedata
import uuid

import jwt
import pytest
from flask import url_for
from werkzeug.test import create_environ, run_wsgi_app

from flask_api_tutorial import bcrypt, create_app, limiter
from flask_api_tutorial import db as _db
from flask_api_tutorial.database import dispose_engines
from flask_api_tutorial.models import BlacklistedToken, User
from tests.conftest import TEST_REDIS_URL
from tests.util import (
    BAD_REQUEST,
    EMAIL,
    LOGIN_FAILED,
    PASSWORD,
    TOKEN_INVALID,
    add_user,
    assert_unauthorized,
    bearer,
    change_password,
    login_user,
    path_for,
    register_user,
)

pytestmark = [pytest.mark.database]

PASSWORD_RULE = (
    "password must be at least 8 characters and at most 72 bytes in UTF-8, without NUL characters"
)
ACCOUNT_LOCKED = {"message": "Too many failed logins for this account. Try again later."}


# Item 8: bcrypt stops at NUL and repeats a short key.


def test_password_with_nul_never_logs_in(client, db):
    register_user(client, password="password-ok")
    for variant in ("password-ok\x00password-ok", "password-ok\x00", "password-ok\x00x"):
        response = login_user(client, password=variant, as_json=True)
        assert response.status_code == 401
        assert response.get_json() == LOGIN_FAILED
    assert login_user(client, password="password-ok").status_code == 200


@pytest.mark.parametrize("password", ["\x00" * 9, "\x00" * 72, "good-password\x00"])
def test_password_with_nul_cannot_be_registered(client, db, password):
    response = register_user(client, password=password, as_json=True)
    assert response.status_code == 400
    assert response.get_json() == {"message": BAD_REQUEST, "errors": {"password": PASSWORD_RULE}}
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0
    assert login_user(client, password="\x00" * 72, as_json=True).status_code == 401


def test_password_change_refuses_nul(client, user):
    token = login_user(client).get_json()["access_token"]
    new = change_password(client, token, PASSWORD, "\x00" * 9)
    assert new.status_code == 400
    assert new.get_json() == {"message": BAD_REQUEST, "errors": {"new_password": PASSWORD_RULE}}
    current = change_password(client, token, PASSWORD + "\x00" + PASSWORD, "another-one")
    assert current.status_code == 401
    assert current.get_json() == LOGIN_FAILED
    assert login_user(client).status_code == 200


# Item 10: look-alike spellings of one address.

NFC_EMAIL = unicodedata.normalize("NFC", "josé@example.com")
NFD_EMAIL = unicodedata.normalize("NFD", "josé@example.com")
FULL_WIDTH_EMAIL = "user@ｅｘａｍｐｌｅ.com"


@pytest.mark.parametrize(
    ("first", "second", "stored"),
    [
        (NFC_EMAIL, NFD_EMAIL, NFC_EMAIL),
        (NFD_EMAIL, NFC_EMAIL, NFC_EMAIL),
        (FULL_WIDTH_EMAIL, "user@example.com", "user@example.com"),
        ("user@example.com", FULL_WIDTH_EMAIL, "user@example.com"),
    ],
    ids=["nfc-then-nfd", "nfd-then-nfc", "full-width-then-ascii", "ascii-then-full-width"],
)
def test_look_alike_emails_are_one_account(client, db, first, second, stored):
    assert first != second
    assert register_user(client, email=first, as_json=True).status_code == 201
    response = register_user(client, email=second, as_json=True)
    assert response.status_code == 409
    assert response.get_json() == {"status": "fail", "message": f"{stored} is already registered"}
    assert db.session.scalars(db.select(User.email)).all() == [stored]
    for spelling in (first, second):
        assert login_user(client, email=spelling, as_json=True).status_code == 200


def test_add_user_normalises_the_email(app, db):
    result = app.test_cli_runner().invoke(
        args=["add-user", NFD_EMAIL, "--password", PASSWORD], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalars(db.select(User.email)).all() == [NFC_EMAIL]


# Items 6 and 10: rate-limit keys come from the validated, normalised email.


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limited_client(request, database):
    """Return a client of a rate-limited app (memory or Redis counts) with NFC_EMAIL registered."""
    storage = "memory://" if request.param == "memory" else TEST_REDIS_URL
    app = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": database,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": storage,
            "RATELIMIT_KEY_PREFIX": f"hostile-{uuid.uuid4().hex}",
        },
    )
    with app.app_context():
        add_user(email=NFC_EMAIL)
        yield app.test_client()
        limiter.reset()
        _db.session.remove()
        dispose_engines()


def _guess(client, email=NFC_EMAIL, password="wrong-password"):
    path = path_for(client.application, "api.auth_login")
    return client.post(path, json={"email": email, "password": password})


def test_lone_surrogate_email_is_400_before_the_limiter(limited_client):
    response = _guess(limited_client, email="\ud800@example.com")
    assert response.status_code == 400
    assert response.get_json()["message"] == BAD_REQUEST
    assert set(response.get_json()["errors"]) == {"email"}


def test_no_input_lets_guesses_past_the_account_limit(limited_client):
    """Before, a lone surrogate before each guess switched the limiter to fresh counts."""
    for _ in range(5):
        assert _guess(limited_client, email="\ud800@example.com").status_code == 400
        assert _guess(limited_client).status_code == 401
    for _ in range(3):
        assert _guess(limited_client, email="\ud800@example.com").status_code == 400
        response = _guess(limited_client)
        assert response.status_code == 429
        assert response.get_json() == ACCOUNT_LOCKED


def test_look_alike_emails_share_one_account_count(limited_client):
    for spelling in (NFC_EMAIL, NFD_EMAIL, NFC_EMAIL.upper(), NFD_EMAIL, f" {NFC_EMAIL} "):
        assert _guess(limited_client, email=spelling).status_code == 401
    response = _guess(limited_client, email=NFD_EMAIL)
    assert response.status_code == 429
    assert response.get_json() == ACCOUNT_LOCKED


# Item 11: correctly signed tokens with claims no datetime or database can hold.


def _signed(app, **claims):
    now = int(time.time())
    payload = {"admin": False, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(payload, app.config["SECRET_KEY"], algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 10**12},
        {"exp": 10**30},
        {"exp": 2**63},
        {"exp": float("1e300")},
        {"sub": "\x00"},
        {"jti": "a\x00b"},
        {"sub": "x" * 10000},
    ],
    ids=["exp-1e12", "exp-1e30", "exp-2**63", "exp-float", "nul-sub", "nul-jti", "long-sub"],
)
@pytest.mark.parametrize("endpoint", ["api.auth_user", "api.auth_logout"])
def test_extreme_claims_are_401_not_500(app, client, db, user, claims, endpoint):
    token = _signed(app, **{"sub": user.public_id, **claims})
    method = client.get if endpoint == "api.auth_user" else client.post
    response = method(url_for(endpoint), headers=bearer(token))
    assert_unauthorized(response, TOKEN_INVALID)
    assert db.session.scalar(db.select(db.func.count(BlacklistedToken.id))) == 0


# Also: a raised bcrypt cost applies to old passwords at their next login.


def test_login_rehashes_a_password_made_at_another_cost(database):
    url = database
    old = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url, "BCRYPT_LOG_ROUNDS": 4})
    with old.app_context():
        add_user()
        dispose_engines()
    raised = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url, "BCRYPT_LOG_ROUNDS": 5})
    with raised.test_request_context():  # url_for in the helpers
        client = raised.test_client()
        assert login_user(client, password="wrong-password").status_code == 401
        assert _db.session.scalar(_db.select(User.password_hash)).startswith("$2b$04$")
        assert login_user(client).status_code == 200
        assert _db.session.scalar(_db.select(User.password_hash)).startswith("$2b$05$")
        assert login_user(client).status_code == 200
        _db.session.remove()
        dispose_engines()


def test_rehash_never_overwrites_a_newer_password(app, db, user):
    """A login that checked a stale hash must not write the old password back."""
    stale = db.session.get(User, user.id)
    db.session.execute(
        db.update(User)
        .where(User.id == user.id)
        .values(password_hash="$2b$04$" + "x" * 53)
        .execution_options(synchronize_session=False)
    )
    assert stale.replace_password(PASSWORD) is False
    assert db.session.scalar(db.select(User.password_hash)) == "$2b$04$" + "x" * 53


# Review follow-ups: a refresh token that is not ASCII, a token ended while its
# request waited for the user's lock, a rehash that lost to a password change.


@pytest.mark.parametrize("endpoint", ["api.auth_refresh", "api.auth_logout"])
def test_refresh_token_with_a_lone_surrogate_is_400(client, user, endpoint):
    token = login_user(client).get_json()["access_token"]
    response = client.post(
        url_for(endpoint), headers=bearer(token), json={"refresh_token": "ab\ud800cd"}
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "message": BAD_REQUEST,
        "errors": {"refresh_token": "refresh_token must be ASCII, as every JWT is"},
    }


def test_token_ended_while_waiting_for_the_lock_changes_nothing(app, client, db, user):
    """A logout-all that held the user's lock first ends the waiting request's token."""
    token = login_user(client).get_json()["access_token"]
    locked = User.lock_by_id.__func__

    def lock_after_a_logout_all(cls, user_id):
        with db.engine.begin() as connection:  # commits before the lock is taken
            connection.execute(
                db.update(User)
                .where(User.id == user_id)
                .values(token_version=User.token_version + 1)
            )
        return locked(cls, user_id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(User, "lock_by_id", classmethod(lock_after_a_logout_all))
        response = change_password(client, token, PASSWORD, "brand-new-password")
    assert_unauthorized(response, "Token blacklisted. Please log in again.")
    assert login_user(client).status_code == 200
    assert login_user(client, password="brand-new-password").status_code == 401


def _store_meanwhile(db, user, password, rounds):
    """Store a hash of ``password``, as another request would have between check and rehash."""
    new_hash = bcrypt.generate_password_hash(password, rounds).decode()
    db.session.execute(db.update(User).where(User.id == user.id).values(password_hash=new_hash))


def test_login_whose_rehash_lost_to_a_password_change_is_refused(app, client, db, user):
    app.config["BCRYPT_LOG_ROUNDS"] = 5  # the user's hash was made at 4

    def lose_to_a_change(self, password):
        _store_meanwhile(db, self, "another-password", 5)
        return False

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(User, "replace_password", lose_to_a_change)
        response = login_user(client)
    assert response.status_code == 401
    assert response.get_json() == LOGIN_FAILED


def test_login_whose_rehash_lost_to_another_rehash_goes_on(app, client, db, user):
    """Another login stored the same password at the new cost first: this one is right too."""
    app.config["BCRYPT_LOG_ROUNDS"] = 5

    def lose_to_a_rehash(self, password):
        _store_meanwhile(db, self, password, 5)
        return False

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(User, "replace_password", lose_to_a_rehash)
        response = login_user(client)
    assert response.status_code == 200, response.get_json()
    assert db.session.scalar(db.select(User.password_hash)).startswith("$2b$05$")


class _BrokenChunks:
    """A dechunked input whose next chunk is malformed, as the dev server reports it."""

    def read(self, size=-1):
        raise OSError("Invalid chunk header")


def test_malformed_chunked_body_is_400_json(app):
    environ = create_environ(
        url_for("api.auth_register"),
        method="POST",
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
    )
    environ.update({"wsgi.input": _BrokenChunks(), "wsgi.input_terminated": True})
    environ.pop("CONTENT_LENGTH", None)
    body, status, headers = run_wsgi_app(app, environ, buffered=True)
    assert status == "400 BAD REQUEST"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(b"".join(body)) == {
        "message": "The request body is not valid chunked encoding."
    }


# A NUL in any string a client sends that could reach the database: a clear 4xx on
# both databases (PostgreSQL's text refuses NUL), never a 500. Widget fields and
# names from the path are in test_widgets.py.

NUL_EMAILS = ["\x00", "a\x00@example.com", "a@exam\x00ple.com", f"{EMAIL}\x00"]


@pytest.mark.parametrize("email", NUL_EMAILS)
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "form"])
def test_nul_in_an_email_is_400(client, db, user, email, as_json):
    for send in (register_user, login_user):
        response = send(client, email=email, password=PASSWORD, as_json=as_json)
        assert response.status_code == 400, response.get_data(as_text=True)
        assert set(response.get_json()["errors"]) == {"email"}
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


@pytest.mark.parametrize("token", ["\x00", "a.b\x00.c", "eyJ\x00"])
def test_nul_in_a_refresh_token_is_refused(client, db, user, token):
    response = client.post(url_for("api.auth_refresh"), json={"refresh_token": token})
    assert response.status_code in (400, 401), response.get_data(as_text=True)
    access = login_user(client).get_json()["access_token"]
    response = client.post(
        url_for("api.auth_logout"), json={"refresh_token": token}, headers=bearer(access)
    )
    assert response.status_code in (400, 401), response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(BlacklistedToken.id))) == 0
