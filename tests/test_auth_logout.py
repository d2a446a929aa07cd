"""POST /api/v1/auth/logout."""

import jwt
import pytest
from flask import g, url_for

from flask_api_tutorial.api.auth.business import process_logout_request
from flask_api_tutorial.api.errors import ApiChallenge
from flask_api_tutorial.models import BlacklistedToken
from flask_api_tutorial.util.datetime_util import from_timestamp
from tests.util import (
    AUDIENCE,
    TOKEN_BLACKLISTED,
    TOKEN_EXPIRED,
    assert_unauthorized,
    get_user,
    login_user,
    logout_user,
)

pytestmark = [pytest.mark.database]


def test_logout(client, db, user):
    token = login_user(client).get_json()["access_token"]
    response = logout_user(client, token)
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.get_json() == {"status": "success", "message": "successfully logged out"}
    claims = jwt.decode(token, options={"verify_signature": False})
    row = db.session.scalar(db.select(BlacklistedToken))
    assert row.jti == claims["jti"]
    assert row.expires_at == from_timestamp(claims["exp"])


def test_logout_then_user_is_refused(client, user):
    token = login_user(client).get_json()["access_token"]
    assert logout_user(client, token).status_code == 200
    assert_unauthorized(get_user(client, token), TOKEN_BLACKLISTED)


def test_logout_twice(client, user):
    token = login_user(client).get_json()["access_token"]
    assert logout_user(client, token).status_code == 200
    assert_unauthorized(logout_user(client, token), TOKEN_BLACKLISTED)


def test_logout_without_token(client, user):
    assert_unauthorized(client.post(url_for("api.auth_logout")))


def test_logout_expired_token(client, user, time_machine):
    time_machine.move_to("2026-05-01 08:00:00+00:00", tick=False)
    token = login_user(client).get_json()["access_token"]
    time_machine.move_to("2026-05-01 08:20:00+00:00", tick=False)
    assert_unauthorized(logout_user(client, token), TOKEN_EXPIRED)


def test_revoked_token_stays_revoked_when_re_encoded(app, client, user):
    """Revocation is by jti: the same claims signed again (other header) stay refused."""
    token = login_user(client).get_json()["access_token"]
    assert logout_user(client, token).status_code == 200
    claims = jwt.decode(token, app.config["SECRET_KEY"], algorithms=["HS256"], audience=AUDIENCE)
    header = {**jwt.get_unverified_header(token), "cty": "other"}
    re_encoded = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256", headers=header)
    assert re_encoded != token
    assert_unauthorized(get_user(client, re_encoded), TOKEN_BLACKLISTED)


def test_logout_race_lost_at_insert_is_a_401(app, client, db, user):
    """Two logouts that both pass the check: the unique jti lets one insert win."""
    token = login_user(client).get_json()["access_token"]
    claims = jwt.decode(token, app.config["SECRET_KEY"], algorithms=["HS256"], audience=AUDIENCE)
    g.token_claims = claims
    g.current_user = user
    assert process_logout_request()[1] == 200
    with pytest.raises(ApiChallenge) as refused:
        process_logout_request()
    assert refused.value.code == 401
    assert refused.value.description == TOKEN_BLACKLISTED
    assert db.session.scalar(db.select(db.func.count(BlacklistedToken.id))) == 1
