"""CORS (off unless CORS_ORIGINS lists origins) and the security headers."""

import pytest
from flask import url_for

from flask_api_tutorial import create_app
from flask_api_tutorial import db as _db
from flask_api_tutorial.database import dispose_engines
from tests.util import bearer, login_user, path_for

ALLOWED = "https://app.example.com"
UNKNOWN_PATH = "/nothing"


@pytest.fixture
def cors_app(database):
    """Return an app that allows one browser origin (and a second one) to call it."""
    app = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": database,
            "CORS_ORIGINS": f"{ALLOWED}, https://admin.example.com",
        },
    )
    with app.app_context():
        yield app
        _db.session.remove()
        dispose_engines()


def _preflight(client, origin):
    return client.options(
        path_for(client.application, "api.auth_user"),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )


def test_allowed_origin_gets_the_cors_headers(cors_app):
    client = cors_app.test_client()
    response = _preflight(client, ALLOWED)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers
    assert "*" not in allowed_headers
    assert set(response.headers["Access-Control-Allow-Methods"].split(", ")) == {
        "GET",
        "POST",
        "PUT",
        "DELETE",  # widgets
        "OPTIONS",
    }
    assert "Access-Control-Allow-Credentials" not in response.headers
    simple = client.get(path_for(cors_app, "api.health"), headers={"Origin": ALLOWED})
    assert simple.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Vary" in simple.headers
    exposed = {
        h.strip().lower() for h in simple.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert exposed == {"www-authenticate", "retry-after", "x-request-id"}


def test_second_listed_origin_is_allowed_too(cors_app):
    response = _preflight(cors_app.test_client(), "https://admin.example.com")
    assert response.headers["Access-Control-Allow-Origin"] == "https://admin.example.com"


def test_other_origin_gets_no_cors_headers(cors_app):
    client = cors_app.test_client()
    for response in (
        _preflight(client, "https://evil.example.net"),
        client.get(
            path_for(cors_app, "api.health"), headers={"Origin": "https://evil.example.net"}
        ),
    ):
        assert not [h for h in response.headers.keys() if h.startswith("Access-Control-")]


def test_no_configuration_means_no_cors_headers(client):
    for response in (
        _preflight(client, ALLOWED),
        client.get(url_for("api.health"), headers={"Origin": ALLOWED}),
    ):
        assert not [h for h in response.headers.keys() if h.startswith("Access-Control-")]


@pytest.mark.parametrize(
    ("method", "endpoint"),
    [
        ("get", "api.health"),
        ("get", "api.specs"),
        ("get", "api.doc"),
        pytest.param("get", None, id="get-no-route"),  # UNKNOWN_PATH: a 404
        ("get", "api.auth_user"),
        ("post", "api.auth_login"),
    ],
)
def test_every_response_has_nosniff(client, method, endpoint):
    response = getattr(client, method)(url_for(endpoint) if endpoint else UNKNOWN_PATH)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Server" not in response.headers  # the app adds no version banner


def test_everything_under_auth_is_no_store(client, user):
    token = login_user(client).get_json()["access_token"]
    responses = [
        client.get(url_for("api.auth_user"), headers=bearer(token)),
        client.get(url_for("api.auth_user")),
        client.post(url_for("api.auth_login"), json={"email": "x"}),
        client.get("/api/v1/auth/nothing"),  # no route, under /auth all the same
        client.post(url_for("api.auth_logout"), headers=bearer(token)),
    ]
    for response in responses:
        assert response.headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get(url_for("api.health")).headers.get("Cache-Control", "")


# Every answer to a request that carried credentials is that user's: never cached.


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/widgets"),
        ("GET", "/api/v1/widgets/no-such-widget"),
        ("DELETE", "/api/v1/widgets/no-such-widget"),
        ("GET", "/api/v1/health"),
        ("GET", "/no-such-route"),
        ("PATCH", "/api/v1/widgets"),
    ],
)
@pytest.mark.parametrize("token", ["valid", "invalid"])
def test_any_answer_to_a_bearer_request_says_no_store(client, user, method, path, token):
    access = login_user(client).get_json()["access_token"] if token == "valid" else "x.y.z"
    response = client.open(path, method=method, headers=bearer(access))
    assert response.headers["Cache-Control"] == "no-store", (response.status_code, path)


def test_an_answer_without_credentials_may_be_cached(client):
    assert "Cache-Control" not in client.get("/api/v1/health").headers
