"""The JWT helper: claims, and the Authorization header as an attack surface."""

import random
import string
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from flask import url_for

from flask_api_tutorial.util.jwt_util import (
    EXPIRED,
    INVALID,
    TokenError,
    decode_access_token,
    encode_access_token,
)
from tests.util import REALM, login_user

KEY = "unit-test-key-that-is-long-enough-for-hs256"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def test_claims_are_the_five_and_the_token_version(client, user):
    token = login_user(client).get_json()["access_token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert set(claims) == {"sub", "admin", "iat", "exp", "jti", "ver"}
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
