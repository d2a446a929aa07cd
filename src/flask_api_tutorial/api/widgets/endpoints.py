"""The widgets namespace's resources: parse the request, call the business, document it."""

from http import HTTPStatus

from flask_restx import Namespace, Resource

from flask_api_tutorial.api.auth.decorators import admin_token_required, token_required
from flask_api_tutorial.api.dto import (
    ADMIN_ERRORS,
    BODY_ERRORS,
    TOKEN_ERRORS,
    error_model,
    pagination_reqparser,
    register_models,
    status_model,
    validation_error_model,
)
from flask_api_tutorial.api.widgets.business import (
    create_widget,
    delete_widget,
    retrieve_widget,
    retrieve_widget_list,
    update_widget,
    valid_name_or_400,
)
from flask_api_tutorial.api.widgets.dto import (
    create_widget_reqparser,
    update_widget_reqparser,
    widget_model,
    widget_owner_model,
    widget_page_model,
)

widget_ns = Namespace(name="widgets", validate=True)
register_models(widget_ns, widget_owner_model, widget_model, widget_page_model)

ADMIN_ONLY = "Administrators only: any other valid token gets 403."
CREATED = {
    int(HTTPStatus.CREATED): ("Widget created; Location is its URL.", status_model),
    int(HTTPStatus.CONFLICT): ("A widget of that name exists (any capitalisation).", status_model),
}
NOT_FOUND = {int(HTTPStatus.NOT_FOUND): ("No widget of that name.", error_model)}


@widget_ns.route("", endpoint="widget_list")
class WidgetList(Resource):
    """Handles HTTP requests to URL: /api/v1/widgets."""

    @widget_ns.expect(pagination_reqparser)
    @widget_ns.doc(
        security="Bearer",
        responses={
            int(HTTPStatus.OK): (
                "One page of widgets; Link and Total-Count headers.",
                widget_page_model,
            ),
            int(HTTPStatus.BAD_REQUEST): ("Invalid page or per_page.", validation_error_model),
            **TOKEN_ERRORS,
        },
    )
    @token_required
    def get(self):
        """Retrieve a list of widgets, a page at a time, oldest first."""
        request_data = pagination_reqparser.parse_args()
        return retrieve_widget_list(request_data["page"], request_data["per_page"])

    @widget_ns.expect(create_widget_reqparser)
    @widget_ns.doc(
        security="Bearer",
        description=ADMIN_ONLY,
        responses={**CREATED, **BODY_ERRORS, **ADMIN_ERRORS},
    )
    @admin_token_required
    def post(self):
        """Create a widget (administrators only)."""
        return create_widget(create_widget_reqparser.parse_args())


@widget_ns.route("/<name>", endpoint="widget")
@widget_ns.param("name", "Widget name (any capitalisation)")
class Widget(Resource):
    """Handles HTTP requests to URL: /api/v1/widgets/{name}."""

    @widget_ns.doc(
        security="Bearer",
        responses={
            int(HTTPStatus.OK): ("The widget.", widget_model),
            **NOT_FOUND,
            **TOKEN_ERRORS,
        },
    )
    @token_required
    def get(self, name):
        """Retrieve a widget by name."""
        return retrieve_widget(name)

    @widget_ns.expect(update_widget_reqparser)
    @widget_ns.doc(
        security="Bearer",
        description=ADMIN_ONLY,
        responses={
            int(HTTPStatus.OK): ("Widget updated.", status_model),
            **CREATED,
            **BODY_ERRORS,
            **ADMIN_ERRORS,
        },
    )
    @admin_token_required
    def put(self, name):
        """Update a widget, or create it when no widget has that name (administrators only)."""
        # The name in the path first: a bad one is named even when the body is bad too.
        name = valid_name_or_400(name)
        return update_widget(name, update_widget_reqparser.parse_args())

    @widget_ns.doc(
        security="Bearer",
        description=ADMIN_ONLY,
        responses={
            int(HTTPStatus.NO_CONTENT): "Widget deleted.",
            **NOT_FOUND,
            **ADMIN_ERRORS,
        },
    )
    @admin_token_required
    def delete(self, name):
        """Delete a widget (administrators only)."""
        return delete_widget(name)
