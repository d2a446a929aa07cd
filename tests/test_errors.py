"""Errors outside the auth rules: every one is JSON and none leaks internals."""

import json
from datetime import timedelta

import pytest
from flask import url_for
from sqlalchemy.exc import OperationalError

from flask_api_tutorial import create_app, db
from flask_api_tutorial.api.auth import business
from flask_api_tutorial.database import dispose_engines
from flask_api_tutorial.models import User
from flask_api_tutorial.util.datetime_util import utc_now
from flask_api_tutorial.util.jwt_util import encode_access_token
from tests.util import EMAIL, PASSWORD, bearer, login_user, path_for

NOT_FOUND = (
    "The requested URL was not found on the server. If you entered the URL manually "
    "please check your spelling and try again."
)


@pytest.mark.parametrize("path", ["/api/v1/auth/nothing", "/api/v1/", "/nothing", "/"])
def test_unknown_route(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.content_type == "application/json"
    assert response.get_json() == {"message": NOT_FOUND}


@pytest.mark.parametrize(
    ("method", "endpoint", "allow"),
    [
        ("get", "api.auth_register", {"POST", "OPTIONS"}),
        ("get", "api.auth_login", {"POST", "OPTIONS"}),
        ("delete", "api.auth_logout", {"POST", "OPTIONS"}),
        ("post", "api.auth_user", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_wrong_method(client, method, endpoint, allow):
    response = getattr(client, method)(url_for(endpoint))
    assert response.status_code == 405
    assert response.content_type == "application/json"
    assert response.get_json() == {"message": "The method is not allowed for the requested URL."}
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allow


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_oversized_body(client, db, as_json):
    big = "a" * (64 * 1024)
    kwargs = (
        {"json": {"email": EMAIL, "password": big}}
        if as_json
        else {"data": {"email": EMAIL, "password": big}}
    )
    response = client.post(url_for("api.auth_register"), **kwargs)
    assert response.status_code == 413
    assert response.content_type == "application/json"
    assert response.get_json() == {
        "message": "The data value transmitted exceeds the capacity limit."
    }
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_max_content_length_is_configurable(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response = client.post(
        url_for("api.auth_login"), json={"email": EMAIL, "password": "a" * 3000}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", "email=a@b.io&password=12345678"),
        ("application/xml", "<email>a@b.io</email>"),
        (None, ""),
    ],
    ids=["text", "xml", "none"],
)
def test_unsupported_content_type(client, db, content_type, data):
    response = client.post(url_for("api.auth_register"), data=data, content_type=content_type)
    assert response.status_code == 415
    assert response.get_json() == {
        "message": "Send the body as application/json, application/x-www-form-urlencoded "
        "or multipart/form-data."
    }
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


@pytest.mark.parametrize(
    "data",
    ['{"email": "a@b.io", "password": ', "", "nope", "\xff\xfe", "[" * 60000, "{" * 30000],
    ids=["truncated", "empty", "word", "not utf-8", "deep list", "deep object"],
)
def test_malformed_json(client, data):
    response = client.post(
        url_for("api.auth_login"), data=data.encode("latin-1"), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json() == {"message": "The request body is not valid JSON."}


@pytest.mark.parametrize("body", [[EMAIL, PASSWORD], "text", 5, None, True])
def test_json_body_not_an_object(client, body):
    response = client.post(
        url_for("api.auth_login"), data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json() == {"message": "The JSON body must be an object."}


def test_json_with_charset_and_vendor_type(client, user):
    response = client.post(
        url_for("api.auth_login"),
        data=f'{{"email": "{EMAIL}", "password": "{PASSWORD}"}}',
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 200


def test_unexpected_failure_in_api_route(client, user, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("SELECT secret FROM site_user -- at /srv/app/business.py")

    monkeypatch.setattr("flask_api_tutorial.api.auth.endpoints.process_login_request", broken)
    response = login_user(client)
    assert response.status_code == 500
    assert response.content_type == "application/json"
    assert response.get_json() == {"message": "Internal server error"}


def test_unexpected_failure_outside_the_api(app, client):
    def broken():
        raise KeyError("traceback material")

    app.add_url_rule("/broken", "broken", broken)
    response = client.get("/broken")
    assert response.status_code == 500
    assert response.get_json() == {"message": "Internal server error"}


@pytest.fixture
def unreachable_app(tmp_path):
    """Return an app whose SQLite file lies in a folder that does not exist."""
    url = f"sqlite:///{tmp_path / 'missing-folder' / 'db.sqlite'}"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        yield app
        db.session.remove()
        dispose_engines()


DB_DOWN = {"message": "Service unavailable: the database cannot be reached."}


def _signed_token(app):
    """Return a well-signed, unexpired token whose revocation nobody can look up."""
    return encode_access_token(
        "some-public-id",
        False,
        app.config["SECRET_KEY"],
        timedelta(minutes=5),
        utc_now(),
        scope=app.config["ACCESS_TOKEN_SCOPE"],
        session_id="some-session-id",
    )


def test_database_unreachable_register_and_login(unreachable_app):
    client = unreachable_app.test_client()
    for endpoint in ("api.auth_register", "api.auth_login"):
        path = path_for(unreachable_app, endpoint)
        response = client.post(path, json={"email": EMAIL, "password": PASSWORD})
        assert response.status_code == 503
        assert response.get_json() == DB_DOWN


def test_database_unreachable_token_is_never_accepted(unreachable_app):
    """A valid signature is not enough: revocation could not be checked."""
    token = _signed_token(unreachable_app)
    client = unreachable_app.test_client()
    for response in (
        client.get(path_for(unreachable_app, "api.auth_user"), headers=bearer(token)),
        client.post(path_for(unreachable_app, "api.auth_logout"), headers=bearer(token)),
    ):
        assert response.status_code == 503
        assert response.get_json() == DB_DOWN


def test_operational_error_mid_request_is_503(client, user, monkeypatch):
    def lost(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(business, "create_auth_successful_response", lost)
    response = login_user(client)
    assert response.status_code == 503
    assert response.get_json() == DB_DOWN
    assert b"SELECT" not in response.data


@pytest.mark.parametrize(
    ("method", "endpoint", "body"),
    [
        ("post", "api.auth_logout_all", None),
        ("put", "api.auth_password", {"current_password": PASSWORD, "new_password": "x" * 9}),
        ("post", "api.auth_refresh", {"refresh_token": "a.b.c"}),
    ],
)
def test_database_unreachable_new_endpoints(unreachable_app, method, endpoint, body):
    token = _signed_token(unreachable_app)
    client = unreachable_app.test_client()
    path = path_for(unreachable_app, endpoint)
    response = getattr(client, method)(path, json=body, headers=bearer(token))
    if endpoint == "api.auth_refresh":
        # A malformed refresh token is refused before any database work.
        assert response.status_code == 401
    else:
        assert response.status_code == 503
        assert response.get_json() == DB_DOWN


@pytest.mark.parametrize("endpoint", ["api.auth_login", "api.auth_user", "api.health"])
def test_options_answers_204_with_allow(client, endpoint):
    """No body at all rather than an empty text/html one: every body is JSON."""
    response = client.options(url_for(endpoint))
    assert response.status_code == 204
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers
    assert "OPTIONS" in response.headers["Allow"]
