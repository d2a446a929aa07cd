"""admin_token_required, on a route that only the tests register."""

import jwt
import pytest
from flask import url_for

from flask_api_tutorial.api.auth.decorators import admin_token_required
from tests.util import AUDIENCE, TOKEN_INVALID, assert_unauthorized, bearer, login_user

pytestmark = [pytest.mark.database]

# The route this module registers; its tests reach it as url_for("admin_only").
ADMIN_ONLY_RULE = "/api/v1/test/admin-only"
ADMIN_CHALLENGE = (
    'Bearer realm="admin_users@mydomain.com", error="insufficient_scope", '
    'error_description="You are not an administrator"'
)


@pytest.fixture
def app(app):
    """Add an administrators-only route to the test app."""

    @admin_token_required
    def admin_only():
        return {"message": "welcome, administrator"}

    app.add_url_rule(ADMIN_ONLY_RULE, "admin_only", admin_only)
    return app


def _token(client, email):
    return login_user(client, email=email).get_json()["access_token"]


def test_admin_route_with_admin_token(client, admin):
    response = client.get(url_for("admin_only"), headers=bearer(_token(client, admin.email)))
    assert response.status_code == 200
    assert response.get_json() == {"message": "welcome, administrator"}


def test_admin_route_with_regular_token(client, user):
    response = client.get(url_for("admin_only"), headers=bearer(_token(client, user.email)))
    assert response.status_code == 403
    assert response.content_type == "application/json"
    assert response.get_json() == {"message": "You are not an administrator"}
    assert response.headers["WWW-Authenticate"] == ADMIN_CHALLENGE


def test_admin_rights_are_read_from_the_database(client, db, admin):
    """A token issued to an admin stops opening admin routes once the flag is removed."""
    token = _token(client, admin.email)
    admin.admin = False
    db.session.commit()
    response = client.get(url_for("admin_only"), headers=bearer(token))
    assert response.status_code == 403


def test_admin_claim_in_token_is_not_trusted(app, client, user):
    """A regular user's token that says admin=true (signed with the key) still gets 403."""
    token = _token(client, user.email)
    claims = jwt.decode(token, app.config["SECRET_KEY"], algorithms=["HS256"], audience=AUDIENCE)
    claims["admin"] = True
    forged = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")
    response = client.get(url_for("admin_only"), headers=bearer(forged))
    assert response.status_code == 403


def test_admin_route_without_token(client, admin):
    assert_unauthorized(client.get(url_for("admin_only")))


def test_admin_route_with_bad_token(client, admin):
    assert_unauthorized(client.get(url_for("admin_only"), headers=bearer("x.y.z")), TOKEN_INVALID)
