"""CORS (off unless CORS_ORIGINS lists origins) and the security headers."""

import pytest

from flask_api_tutorial import create_app
from flask_api_tutorial import db as _db
from tests.util import bearer, login_user

ALLOWED = "https://app.example.com"


@pytest.fixture
def cors_app(tmp_path):
    """Return an app that allows one browser origin (and a second one) to call it."""
    app = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'cors.db'}",
            "CORS_ORIGINS": f"{ALLOWED}, https://admin.example.com",
        },
    )
    with app.app_context():
        _db.create_all()
        yield app
        _db.session.remove()
        _db.engine.dispose()


def _preflight(client, origin):
    return client.options(
        "/api/v1/auth/user",
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
        "OPTIONS",
    }
    assert "Access-Control-Allow-Credentials" not in response.headers
    simple = client.get("/api/v1/health", headers={"Origin": ALLOWED})
    assert simple.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Vary" in simple.headers
    exposed = {
        h.strip().lower() for h in simple.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert exposed == {"www-authenticate", "retry-after"}


def test_second_listed_origin_is_allowed_too(cors_app):
    response = _preflight(cors_app.test_client(), "https://admin.example.com")
    assert response.headers["Access-Control-Allow-Origin"] == "https://admin.example.com"


def test_other_origin_gets_no_cors_headers(cors_app):
    client = cors_app.test_client()
    for response in (
        _preflight(client, "https://evil.example.net"),
        client.get("/api/v1/health", headers={"Origin": "https://evil.example.net"}),
    ):
        assert not [h for h in response.headers.keys() if h.startswith("Access-Control-")]


def test_no_configuration_means_no_cors_headers(client):
    for response in (
        _preflight(client, ALLOWED),
        client.get("/api/v1/health", headers={"Origin": ALLOWED}),
    ):
        assert not [h for h in response.headers.keys() if h.startswith("Access-Control-")]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/health"),
        ("get", "/api/v1/swagger.json"),
        ("get", "/api/v1/ui"),
        ("get", "/nothing"),
        ("get", "/api/v1/auth/user"),
        ("post", "/api/v1/auth/login"),
    ],
)
def test_every_response_has_nosniff(client, method, path):
    response = getattr(client, method)(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Server" not in response.headers  # the app adds no version banner


def test_everything_under_auth_is_no_store(client, user):
    token = login_user(client).get_json()["access_token"]
    responses = [
        client.get("/api/v1/auth/user", headers=bearer(token)),
        client.get("/api/v1/auth/user"),
        client.post("/api/v1/auth/login", json={"email": "x"}),
        client.get("/api/v1/auth/nothing"),
        client.post("/api/v1/auth/logout", headers=bearer(token)),
    ]
    for response in responses:
        assert response.headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/api/v1/health").headers.get("Cache-Control", "")
