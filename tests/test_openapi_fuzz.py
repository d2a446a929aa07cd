"""Schemathesis against /api/v1/swagger.json: the document, then every operation fuzzed.

The run is bounded and reproducible: a fixed seed, derandomized Hypothesis, no example
database, at most 40 generated examples per operation plus Schemathesis' coverage cases,
valid and invalid data alike ("mode": "all").

Protected operations get a valid bearer token wherever Schemathesis does not leave the
Authorization header out or break it on purpose. Logout revokes the token it is given,
so each call logs in again for a fresh one: the auth provider only marks the header,
and the test swaps the mark for a new token just before the request.
"""

import copy

import jsonschema_rs
import pytest
import schemathesis
from flask import url_for
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from flask_api_tutorial import create_app
from tests.util import EMAIL, PASSWORD, path_for

pytestmark = [pytest.mark.database]

CONFIG = {
    "seed": 20240611,
    "generation": {
        "mode": "all",
        "max-examples": 40,
        "deterministic": True,
        "database": "none",
    },
}
CHECKS = [
    # What the brief asks: no 5xx, only documented statuses, content types and bodies.
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    # Auth really enforced; wrong methods get 405 with Allow.
    ignored_auth,
    missing_required_header,
    unsupported_method,
]
# Not run: negative_data_rejection (extra form fields are ignored, which Swagger 2.0
# formData cannot forbid) and positive_data_acceptance (email-validator refuses
# special-use domains such as .test that JSON Schema's "email" format allows).
VALID_TOKEN = "valid-token-placeholder"
# Hypothesis shares the function-scoped app (one database) between the examples of an
# operation on purpose: registrations pile up and collide (409), as they would live.
# No per-example deadline: the suite runs on every core at once, and a request that
# waits for a core is no failure (each test still has its own bounds).
SHARED_APP = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)

# Only the document is read here; the requests go to the `app` fixture's database.
_DOCUMENT_APP = create_app("testing")
schema = schemathesis.openapi.from_wsgi(
    path_for(_DOCUMENT_APP, "api.specs"),
    _DOCUMENT_APP,
    config=schemathesis.Config.from_dict(CONFIG),
)


@schema.auth(refresh_interval=None)
class ValidBearerToken:
    """Mark the Authorization header for a valid token (cases are built before the app)."""

    def get(self, case, context):
        return VALID_TOKEN

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _headers_for(case, app):
    """Return a fresh token for a case that carries the mark, else nothing to add."""
    if (case.headers or {}).get("Authorization") != f"Bearer {VALID_TOKEN}":
        return {}
    response = app.test_client().post(
        url_for("api.auth_login"), data={"email": EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def test_the_document_is_valid_swagger_2(client):
    document = client.get(url_for("api.specs")).get_json()
    assert document["swagger"] == "2.0"
    schemathesis.openapi.from_dict(document).validate()
    # The validator is not vacuous: a response without its required description fails.
    broken = copy.deepcopy(document)
    broken["responses"] = {**broken.get("responses", {}), "Broken": {}}
    with pytest.raises(jsonschema_rs.ValidationError, match="description"):
        schemathesis.openapi.from_dict(broken).validate()


def _positive_cases(path, method):
    return schema[path][method].as_strategy(generation_mode=GenerationMode.POSITIVE)


def test_valid_cases_get_a_working_token(app, user):
    @given(case=_positive_cases("/auth/user", "GET"))
    @settings(SHARED_APP, max_examples=5, derandomize=True, database=None)
    def check(case):
        headers = _headers_for(case, app)
        assert headers, "a valid case of a protected operation must carry the token mark"
        response = case.call_and_validate(app=app, headers=headers, checks=CHECKS)
        assert response.status_code == 200, response.text

    check()


def test_each_logout_gets_its_own_token(app, user):
    @given(case=_positive_cases("/auth/logout", "POST"))
    @settings(SHARED_APP, max_examples=5, derandomize=True, database=None)
    def check(case):
        # Twice the same case: the first logout must not revoke the second one's token.
        first, second = (
            case.call_and_validate(app=app, headers=_headers_for(case, app), checks=CHECKS)
            for _ in range(2)
        )
        assert (first.status_code, first.text) == (second.status_code, second.text)
        assert "blacklisted" not in second.text

    check()


@pytest.fixture
def admin_user(make_user):
    """Return the EMAIL user as an administrator, so the widget writes do their work."""
    return make_user(admin=True)


@schema.parametrize()
@SHARED_APP
def test_every_operation_conforms(case, app, admin_user):
    case.call_and_validate(app=app, headers=_headers_for(case, app), checks=CHECKS)


def test_widget_writes_reach_the_work_with_an_admin_token(app, admin_user):
    @given(case=_positive_cases("/widgets", "POST"))
    @settings(SHARED_APP, max_examples=10, derandomize=True, database=None)
    def check(case):
        headers = _headers_for(case, app)
        assert headers, "a valid case of a protected operation must carry the token mark"
        response = case.call_and_validate(app=app, headers=headers, checks=CHECKS)
        # Past the admin check: created, a duplicate, or a value the rules refuse.
        assert response.status_code in (201, 400, 409), response.text

    check()
