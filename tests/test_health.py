"""GET /api/v1/health."""

import pytest
from flask import url_for

from flask_api_tutorial import create_app
from flask_api_tutorial.database import dispose_engines
from tests.util import path_for

pytestmark = [pytest.mark.database]


def test_health_ok(client):
    response = client.get(url_for("api.health"))
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_database_unreachable(tmp_path):
    url = f"sqlite:///{tmp_path / 'missing-folder' / 'db.sqlite'}"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        response = app.test_client().get(path_for(app, "api.health"))
        dispose_engines()
    assert response.status_code == 503
    assert response.get_json() == {
        "message": "Service unavailable: the database cannot be reached."
    }
    assert b"sqlite" not in response.data.lower()


def test_health_is_documented(client):
    operation = client.get(url_for("api.specs")).get_json()["paths"]["/health"]["get"]
    assert set(operation["responses"]) == {"200", "503"}
    assert operation["summary"]
