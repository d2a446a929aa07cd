"""GET /api/v1/auth/user, and the token checks that every protected route shares."""

from datetime import datetime, timedelta, timezone

import jwt
import pytest
from flask import url_for

from flask_api_tutorial.util.jwt_util import encode_access_token
from tests.util import (
    AUDIENCE,
    EMAIL,
    ISSUER,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    assert_unauthorized,
    bearer,
    get_user,
    live_session_id,
    login_user,
)

pytestmark = [pytest.mark.database]

START = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)


def _token(client):
    return login_user(client).get_json()["access_token"]


def _sign(app, claims, key=None, algorithm="HS256", headers=None):
    return jwt.encode(
        claims, key or app.config["SECRET_KEY"], algorithm=algorithm, headers=headers
    )


def _claims(user, **changes):
    now = int(datetime.now(timezone.utc).timestamp())
    claims = {
        "sub": user.public_id,
        "admin": False,
        "iat": now,
        "exp": now + 600,
        "jti": "0123456789abcdef",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sid": live_session_id(user),
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def test_get_user(app, client, user, time_machine):
    # A development-length token, so that minutes show in token_expires_in.
    app.config["ACCESS_TOKEN_LIFETIME"] = timedelta(minutes=15)
    time_machine.move_to(START, tick=False)
    token = _token(client)
    time_machine.move_to(START + timedelta(minutes=5, seconds=1), tick=False)
    response = get_user(client, token)
    assert response.status_code == 200
    assert response.content_type == "application/json"
    body = response.get_json()
    assert body == {
        "email": EMAIL,
        "public_id": user.public_id,
        "admin": False,
        "registered_on": user.registered_on.isoformat(),
        "token_expires_in": "00:09:59",
        "email_verified": False,
    }
    registered_on = datetime.fromisoformat(body["registered_on"])
    assert registered_on.utcoffset() == timedelta(0)


def test_get_user_admin_flag_from_database(client, admin):
    response = client.get(
        url_for("api.auth_user"),
        headers=bearer(login_user(client, email=admin.email).get_json()["access_token"]),
    )
    assert response.get_json()["admin"] is True


def test_get_user_lower_case_scheme(client, user):
    token = _token(client)
    response = client.get(url_for("api.auth_user"), headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200
    response = client.get(url_for("api.auth_user"), headers={"Authorization": f"BEARER  {token} "})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token abc"},
        {"Authorization": "eyJhbGciOiJIUzI1NiJ9.e30.x"},
    ],
    ids=["none", "empty", "scheme only", "blank", "basic", "other scheme", "no scheme"],
)
def test_get_user_without_bearer_credentials(client, user, headers):
    assert_unauthorized(client.get(url_for("api.auth_user"), headers=headers))


def test_get_user_token_expired(client, user, time_machine):
    time_machine.move_to(START, tick=False)
    token = _token(client)
    # The testing configuration's tokens live 5 seconds, as the tutorial's do.
    time_machine.move_to(START + timedelta(seconds=4), tick=False)
    assert get_user(client, token).get_json()["token_expires_in"] == "00:00:01"
    time_machine.move_to(START + timedelta(seconds=5), tick=False)
    assert_unauthorized(get_user(client, token), TOKEN_EXPIRED)


def test_get_user_token_encoded_with_negative_lifetime(app, client, user):
    token = encode_access_token(
        user.public_id,
        admin=False,
        keys=app.config["ACCESS_TOKEN_KEYS"],
        lifetime=timedelta(seconds=-1),
        now=datetime.now(timezone.utc),
        scope=app.config["ACCESS_TOKEN_SCOPE"],
        session_id=live_session_id(user),
    )
    assert_unauthorized(get_user(client, token), TOKEN_EXPIRED)


def test_get_user_token_tampered(client, user):
    header, payload, signature = _token(client).split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert_unauthorized(get_user(client, tampered), TOKEN_INVALID)


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "a.b.c",
        "a.b.c.d",
        "....",
        "ÿþ\x7f.é.ü",
        "eyJhbGciOiJIUzI1NiJ9." + "A" * 5000 + ".sig",
        "Bearer eyJ",
    ],
    ids=["word", "three parts", "four parts", "dots", "latin-1", "long", "doubled scheme"],
)
def test_get_user_malformed_token(client, user, token):
    assert_unauthorized(get_user(client, token), TOKEN_INVALID)


def test_get_user_alg_none(app, client, user):
    token = jwt.encode(_claims(user), key=None, algorithm="none")
    assert_unauthorized(get_user(client, token), TOKEN_INVALID)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_get_user_hs512_with_the_right_key(app, client, user):
    token = _sign(app, _claims(user), algorithm="HS512")
    assert_unauthorized(get_user(client, token), TOKEN_INVALID)


def test_get_user_wrong_key(app, client, user):
    token = _sign(app, _claims(user), key="another-key-that-is-32-bytes-long!!")
    assert_unauthorized(get_user(client, token), TOKEN_INVALID)


def test_get_user_forged_claims_are_otherwise_accepted(app, client, user):
    """The baseline of the claim tests below: a complete, well-signed token passes."""
    assert get_user(client, _sign(app, _claims(user))).status_code == 200


@pytest.mark.parametrize("claim", ["sub", "admin", "iat", "exp", "jti", "iss", "aud", "sid"])
def test_get_user_missing_claim(app, client, user, claim):
    token = _sign(app, _claims(user, **{claim: None}))
    assert_unauthorized(get_user(client, token), TOKEN_INVALID)


@pytest.mark.parametrize(
    "changes",
    [
        {"sub": 1},
        {"sub": ["x"]},
        {"jti": 7},
        {"jti": ""},
        {"jti": "x" * 65},
        {"exp": "tomorrow"},
        {"iat": "today"},
    ],
    ids=["int sub", "list sub", "int jti", "empty jti", "long jti", "text exp", "text iat"],
)
def test_get_user_claim_of_wrong_type(app, client, user, changes):
    token = _sign(app, _claims(user, **changes))
    assert_unauthorized(get_user(client, token), TOKEN_INVALID)


def test_get_user_unknown_sub(app, client, user):
    token = _sign(app, _claims(user, sub="00000000-0000-0000-0000-000000000000"))
    assert_unauthorized(get_user(client, token), TOKEN_INVALID)


def test_get_user_deleted_user(client, db, user):
    token = _token(client)
    db.session.delete(user)
    db.session.commit()
    assert_unauthorized(get_user(client, token), TOKEN_INVALID)
