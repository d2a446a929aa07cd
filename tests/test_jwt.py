"""The JWT helper: claims, and the Authorization header as an attack surface."""

import random
import string
import time
import uuid
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from flask import url_for

from flask_api_tutorial import create_app
from flask_api_tutorial import db as _db
from flask_api_tutorial.database import dispose_engines
from flask_api_tutorial.models import RefreshToken
from flask_api_tutorial.util.jwt_util import (
    EXPIRED,
    INVALID,
    TokenError,
    decode_access_token,
    encode_access_token,
    encode_refresh_token,
    new_jti,
)
from tests.util import (
    AUDIENCE,
    ISSUER,
    REALM,
    REFRESH_AUDIENCE,
    REFRESH_INVALID,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    add_user,
    assert_unauthorized,
    bearer,
    get_user,
    live_session_id,
    login_user,
    path_for,
    refresh_tokens,
)

KEY = "unit-test-key-that-is-long-enough-for-hs256"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def test_claims_are_the_five_the_token_version_issuer_audience_and_session(client, user):
    token = login_user(client).get_json()["access_token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert set(claims) == {"sub", "admin", "iat", "exp", "jti", "ver", "iss", "aud", "sid"}
    assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
    assert claims["ver"] == 0
    assert claims["sub"] == user.public_id
    assert claims["admin"] is False
    assert claims["exp"] - claims["iat"] == 5  # the testing configuration


def test_encode_uses_the_clock_and_lifetime_given(time_machine):
    time_machine.move_to(NOW, tick=False)
    token = encode_access_token("pid", True, KEY, timedelta(minutes=5), NOW)
    claims = decode_access_token(token, KEY)
    assert claims["iat"] == int(NOW.timestamp())
    assert claims["exp"] == int((NOW + timedelta(minutes=5)).timestamp())
    assert claims["admin"] is True


def test_each_token_has_its_own_jti():
    tokens = {encode_access_token("pid", False, KEY, timedelta(minutes=5), NOW) for _ in range(50)}
    jtis = {jwt.decode(t, options={"verify_signature": False})["jti"] for t in tokens}
    assert len(jtis) == 50


def test_decode_expired(time_machine):
    time_machine.move_to(NOW + timedelta(minutes=6), tick=False)
    token = encode_access_token("pid", False, KEY, timedelta(minutes=5), NOW)
    with pytest.raises(TokenError) as error:
        decode_access_token(token, KEY)
    assert error.value.kind == EXPIRED


def test_decode_wrong_key():
    token = encode_access_token(
        "pid", False, KEY, timedelta(minutes=5), datetime.now(timezone.utc)
    )
    with pytest.raises(TokenError) as error:
        decode_access_token(token, KEY + "x")
    assert error.value.kind == INVALID


def test_realm_is_a_config_value(app, client):
    app.config["WWW_AUTH_REALM"] = "api@example.org"
    response = client.get(url_for("api.auth_user"))
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api@example.org"'


def test_no_authorization_header_value_gives_a_5xx(client, user):
    """Random header values (fixed seed): always a JSON 401, never a 5xx."""
    rng = random.Random(20261128)
    alphabet = string.printable + "".join(map(chr, range(0xA0, 0x100)))
    token = login_user(client).get_json()["access_token"]
    for _ in range(300):
        scheme = rng.choice(["Bearer ", "bearer ", "BEARER", "Basic ", "", "Bearer\t"])
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80)))
        if rng.random() < 0.3:
            cut = rng.randint(0, len(token))
            body = token[:cut] + body + token[cut:]
        value = (scheme + body).replace("\r", "").replace("\n", "")
        response = client.get(url_for("api.auth_user"), headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.headers["WWW-Authenticate"].startswith(REALM)
        assert "message" in response.get_json()


# Issuer and audience (RFC 8725 3.8-3.10): a token validly signed with the real key
# is still refused unless it names this API as issuer and as one of its audiences.


def _signed(app, claims, key=None):
    """Sign ``claims`` as this API signs an access token (its kid), with ``key`` if given."""
    signer = app.config["ACCESS_TOKEN_KEYS"].signer
    return jwt.encode(
        claims,
        key or signer.signing_key,
        algorithm="HS256",
        headers={"kid": signer.kid} if key is None else None,
    )


def _access_claims(user, **changes):
    now = int(time.time())
    claims = {
        "sub": user.public_id,
        "admin": False,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "ver": 0,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sid": live_session_id(user),
        **changes,
    }
    return {name: value for name, value in claims.items() if value is not None}


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        ({}, True),
        ({"aud": [AUDIENCE, "https://other.example.com"]}, True),
        ({"iss": "https://staging.example.com"}, False),
        ({"iss": f"{ISSUER}/"}, False),
        ({"aud": "https://other.example.com"}, False),
        ({"aud": ["https://other.example.com"]}, False),
        ({"aud": REFRESH_AUDIENCE}, False),
        ({"aud": None}, False),
        ({"iss": None}, False),
        ({"iss": None, "aud": None}, False),
    ],
    ids=[
        "ours",
        "ours among others",
        "another issuer",
        "issuer with a slash",
        "another audience",
        "another audience in a list",
        "the refresh tokens' audience",
        "no audience",
        "no issuer",
        "neither (no upgrade window)",
    ],
)
def test_issuer_and_audience_must_be_ours(app, client, user, changes, accepted):
    response = get_user(client, _signed(app, _access_claims(user, **changes)))
    if accepted:
        assert response.status_code == 200, response.get_json()
    else:
        assert_unauthorized(response, TOKEN_INVALID)


def test_a_refresh_token_is_no_access_token_and_the_reverse(app, client, user):
    """Each refused by its audience alone too: re-signed with the other kind's key."""
    login = login_user(client).get_json()
    access, refresh = login["access_token"], login["refresh_token"]
    assert_unauthorized(get_user(client, refresh), TOKEN_INVALID)
    refused = refresh_tokens(client, access)
    assert refused.status_code == 401
    assert refused.get_json() == {"message": REFRESH_INVALID}

    refresh_claims = jwt.decode(refresh, options={"verify_signature": False})
    assert refresh_claims["aud"] == REFRESH_AUDIENCE
    as_access = _signed(app, {**refresh_claims, "admin": False})  # the access key, kid
    assert_unauthorized(get_user(client, as_access), TOKEN_INVALID)
    refresh_signer = app.config["REFRESH_TOKEN_KEYS"].signer
    access_claims = jwt.decode(access, options={"verify_signature": False})
    as_refresh = jwt.encode(
        {**access_claims, "typ": "refresh", "fam": "f"},
        refresh_signer.signing_key,
        algorithm="HS256",
        headers={"kid": refresh_signer.kid, "typ": "refresh+jwt"},
    )
    assert refresh_tokens(client, as_refresh).get_json() == {"message": REFRESH_INVALID}


UPGRADE = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def upgraded_app(database):
    """Return an app upgraded at UPGRADE: older tokens without iss and aud still work."""
    app = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": database,
            "JWT_UNSCOPED_BEFORE": UPGRADE.isoformat(),
            "TOKEN_EXPIRE_SECONDS": 3600,
        },
    )
    with app.app_context():
        yield app
        dispose_engines()


@pytest.mark.parametrize(
    ("issued", "works"),
    [(UPGRADE - timedelta(minutes=10), True), (UPGRADE + timedelta(seconds=1), False)],
    ids=["issued before the upgrade", "issued after it"],
)
def test_tokens_from_before_the_upgrade_work_until_they_expire(
    upgraded_app, time_machine, issued, works
):
    """Issued by the version before: no iss, no aud (encode without a scope)."""
    user = add_user()
    client = upgraded_app.test_client()
    config = upgraded_app.config
    time_machine.move_to(issued, tick=False)
    old_access = encode_access_token(
        user.public_id, False, config["ACCESS_TOKEN_KEYS"], timedelta(minutes=15), issued
    )
    row = RefreshToken(
        jti=new_jti(),
        user=user,
        family_id="family-of-an-old-login",
        issued_at=issued,
        expires_at=issued + timedelta(days=30),
    )
    _db.session.add(row)
    _db.session.commit()
    old_refresh = encode_refresh_token(
        user.public_id,
        row.family_id,
        0,
        row.jti,
        config["REFRESH_TOKEN_KEYS"],
        timedelta(days=30),
        issued,
    )
    time_machine.move_to(issued + timedelta(minutes=5), tick=False)
    user_path = path_for(upgraded_app, "api.auth_user")
    response = client.get(user_path, headers=bearer(old_access))
    refreshed = client.post(
        path_for(upgraded_app, "api.auth_refresh"), json={"refresh_token": old_refresh}
    )
    if works:
        assert response.status_code == 200
        assert refreshed.status_code == 200, refreshed.get_json()
        new_claims = jwt.decode(
            refreshed.get_json()["access_token"], options={"verify_signature": False}
        )
        assert (new_claims["iss"], new_claims["aud"]) == (ISSUER, AUDIENCE)
    else:
        assert_unauthorized(response, TOKEN_INVALID)
        assert refreshed.status_code == 401
        assert refreshed.get_json() == {"message": REFRESH_INVALID}
    # Past its lifetime an old token is refused like any other.
    time_machine.move_to(issued + timedelta(minutes=16), tick=False)
    expired = client.get(user_path, headers=bearer(old_access))
    assert_unauthorized(expired, TOKEN_EXPIRED if works else TOKEN_INVALID)


def test_without_the_setting_no_token_from_before_the_upgrade_works(app, client, user):
    """Outside the window (JWT_UNSCOPED_BEFORE unset), a token without iss and aud is refused."""
    old = encode_access_token(
        user.public_id,
        False,
        app.config["ACCESS_TOKEN_KEYS"],
        timedelta(minutes=5),
        datetime.now(timezone.utc),
    )
    assert_unauthorized(get_user(client, old), TOKEN_INVALID)


@pytest.mark.parametrize(
    ("claims", "issued", "works"),
    [
        ({"iss": ISSUER, "aud": AUDIENCE}, UPGRADE - timedelta(minutes=1), True),
        ({"iss": ISSUER, "aud": AUDIENCE}, UPGRADE, False),
        ({}, UPGRADE - timedelta(minutes=1), True),
        ({"iss": ISSUER}, UPGRADE - timedelta(minutes=1), False),
        ({"aud": AUDIENCE}, UPGRADE - timedelta(minutes=1), False),
        ({"iss": "https://other.example.com", "aud": AUDIENCE}, UPGRADE - timedelta(1), False),
        ({"iss": ISSUER, "aud": "https://other.example.com"}, UPGRADE - timedelta(1), False),
    ],
    ids=[
        "iss and aud, before",
        "iss and aud, at the upgrade",
        "neither, before",
        "iss alone",
        "aud alone",
        "another issuer",
        "another audience",
    ],
)
def test_tokens_without_a_session_from_before_the_upgrade(
    upgraded_app, time_machine, claims, issued, works
):
    """Without sid: as each earlier version issued them (with or without iss and aud)."""
    user = add_user()
    now = int(issued.timestamp())
    token = _signed(
        upgraded_app,
        {
            "sub": user.public_id,
            "admin": False,
            "iat": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            "ver": 0,
            **claims,
        },
    )
    time_machine.move_to(issued + timedelta(minutes=1), tick=False)
    response = upgraded_app.test_client().get(
        path_for(upgraded_app, "api.auth_user"), headers=bearer(token)
    )
    if works:
        assert response.status_code == 200, response.get_json()
    else:
        assert_unauthorized(response, TOKEN_INVALID)
