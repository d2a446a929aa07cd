"""The OpenAPI document and Swagger UI."""

import re

import pytest
from flask import url_for

from flask_api_tutorial.api import api, api_bp

# Routes of the blueprint that are the documentation, not the API.
DOC_ENDPOINTS = {"api.specs", "api.doc", "api.root"}


@pytest.fixture
def spec(client):
    response = client.get(url_for("api.specs"))
    assert response.status_code == 200
    return response.get_json()


def test_swagger_ui_is_served_with_local_assets(client):
    response = client.get(url_for("api.doc"))
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    page = response.get_data(as_text=True)
    assert url_for("api.specs") in page
    assert "//cdn" not in page and "unpkg" not in page
    with client.get("/swaggerui/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200


def test_bearer_security_definition(spec):
    definition = spec["securityDefinitions"]["Bearer"]
    assert definition["type"] == "apiKey"
    assert definition["in"] == "header"
    assert definition["name"] == "Authorization"
    assert "Bearer" in definition["description"]


def _api_paths(app):
    """Return the API's routes as the OpenAPI document names them (``/widgets/{name}``)."""
    return {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(api_bp.url_prefix))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and rule.endpoint not in DOC_ENDPOINTS
    }


def test_every_endpoint_is_documented(app, spec):
    assert spec["basePath"] == "/api/v1"
    assert set(spec["paths"]) == _api_paths(app)
    assert {"/auth/login", "/widgets/{name}", "/health"} <= set(spec["paths"])
    operations = {
        ("/auth/register", "post"): {"201", "400", "409", "413", "415", "429", "500", "503"},
        ("/auth/login", "post"): {"200", "400", "401", "413", "415", "429", "500", "503"},
        ("/auth/user", "get"): {"200", "401", "500", "503"},
        ("/auth/logout", "post"): {"200", "400", "401", "413", "415", "500", "503"},
        ("/auth/refresh", "post"): {"200", "400", "401", "413", "415", "500", "503"},
        ("/auth/logout-all", "post"): {"200", "401", "500", "503"},
        ("/auth/password", "put"): {"200", "400", "401", "413", "415", "429", "500", "503"},
        ("/widgets", "get"): {"200", "400", "401", "500", "503"},
        ("/widgets", "post"): {
            *("201", "400", "401", "403", "409", "413", "415", "500", "503"),
        },
        ("/widgets/{name}", "get"): {"200", "401", "404", "500", "503"},
        ("/widgets/{name}", "put"): {
            *("200", "201", "400", "401", "403", "409", "413", "415", "500", "503"),
        },
        ("/widgets/{name}", "delete"): {"204", "401", "403", "404", "500", "503"},
    }
    for (path, method), statuses in operations.items():
        operation = spec["paths"][path][method]
        assert set(operation["responses"]) == statuses, path
        for status, response in operation["responses"].items():
            if status != "204":  # no body
                assert response["schema"]["$ref"].startswith("#/definitions/"), (path, status)
        assert operation["summary"]


def test_widget_operations_ask_for_the_token_and_mark_the_admin_ones(spec):
    admin_only = {("/widgets", "post"), ("/widgets/{name}", "put"), ("/widgets/{name}", "delete")}
    for path in ("/widgets", "/widgets/{name}"):
        for method, operation in spec["paths"][path].items():
            if method == "parameters":
                continue
            assert operation["security"] == [{"Bearer": []}], (path, method)
            if (path, method) in admin_only:
                assert "Administrators only" in operation["description"]
                assert "403" in operation["responses"]
            else:
                assert "403" not in operation["responses"]


def test_protected_operations_ask_for_the_bearer_token(spec):
    assert spec["paths"]["/auth/user"]["get"]["security"] == [{"Bearer": []}]
    assert spec["paths"]["/auth/logout"]["post"]["security"] == [{"Bearer": []}]
    assert spec["paths"]["/auth/logout-all"]["post"]["security"] == [{"Bearer": []}]
    assert spec["paths"]["/auth/password"]["put"]["security"] == [{"Bearer": []}]
    assert "security" not in spec["paths"]["/auth/refresh"]["post"]
    assert "security" not in spec["paths"]["/auth/login"]["post"]


def test_form_fields_are_documented(spec):
    for path, method, names in [
        ("/auth/register", "post", {"email", "password"}),
        ("/auth/login", "post", {"email", "password"}),
        ("/auth/refresh", "post", {"refresh_token"}),
        ("/auth/password", "put", {"current_password", "new_password"}),
    ]:
        operation = spec["paths"][path][method]
        fields = {p["name"]: p for p in operation["parameters"]}
        assert set(fields) == names
        assert all(p["in"] == "formData" and p["required"] for p in fields.values())
    (optional,) = spec["paths"]["/auth/logout"]["post"]["parameters"]
    assert optional["name"] == "refresh_token"
    assert not optional.get("required", False)
    register = {p["name"]: p for p in spec["paths"]["/auth/register"]["post"]["parameters"]}
    assert register["password"]["minLength"] == 8


STABLE_OPERATION_IDS = {
    ("/auth/register", "post"): "post_register_user",
    ("/auth/login", "post"): "post_login_user",
    ("/auth/user", "get"): "get_get_user",
    ("/auth/logout", "post"): "post_logout_user",
    ("/auth/refresh", "post"): "post_refresh_tokens",
    ("/auth/logout-all", "post"): "post_logout_everywhere",
    ("/auth/password", "put"): "put_change_password",
    ("/widgets", "get"): "get_widget_list",
    ("/widgets", "post"): "post_widget_list",
    ("/widgets/{name}", "get"): "get_widget",
    ("/widgets/{name}", "put"): "put_widget",
    ("/widgets/{name}", "delete"): "delete_widget",
    ("/health", "get"): "get_health",
}


def test_operation_ids_stay_what_generated_clients_call(spec):
    ids = {
        (path, method): operation["operationId"]
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert {key: ids.get(key) for key in STABLE_OPERATION_IDS} == STABLE_OPERATION_IDS


def test_description_names_every_operation(spec):
    description = spec["info"]["description"]
    for words in ("Register", "log in", "current user", "refresh", "log out", "everywhere"):
        assert words in description
    assert "password" in description and "Bearer" in description


def test_each_model_name_names_one_model():
    """RESTx keeps one model per name for the whole API: a second one would replace the first.

    Two namespaces may register one shared model (api/dto.py), never two models of
    one name: a copied resource must rename its models.
    """
    owners = {}
    for namespace in api.namespaces:
        for name, model in namespace.models.items():
            first = owners.setdefault(name, (namespace.name, model))
            assert first[1] is model, f"{name}: in {first[0]} and {namespace.name}"


def test_widget_operations_show_the_widget_models(spec):
    page = spec["paths"]["/widgets"]["get"]["responses"]["200"]["schema"]["$ref"]
    assert page == "#/definitions/WidgetPage"
    items = spec["definitions"]["WidgetPage"]["properties"]["items"]["items"]["$ref"]
    assert items == "#/definitions/Widget"
    one = spec["paths"]["/widgets/{name}"]["get"]["responses"]["200"]["schema"]["$ref"]
    assert one == "#/definitions/Widget"
