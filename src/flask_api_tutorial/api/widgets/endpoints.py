"""The widgets namespace's resources: parse the request, call the business, document it."""

from http import HTTPStatus

from flask_restx import Namespace, Resource, abort

from flask_api_tutorial.api.auth.decorators import admin_token_required, token_required
from flask_api_tutorial.api.auth.dto import error_model, status_model, validation_error_model
from flask_api_tutorial.api.widgets.business import (
    BAD_REQUEST,
    create_widget,
    delete_widget,
    retrieve_widget,
    retrieve_widget_list,
    update_widget,
    valid_name_or_400,
    widget_page_read,
)
from flask_api_tutorial.api.widgets.dto import (
    create_widget_reqparser,
    pagination_links_model,
    pagination_model,
    pagination_reqparser,
    update_widget_reqparser,
    widget_model,
    widget_owner_model,
)

widget_ns = Namespace(name="widgets", validate=True)
for model in (
    widget_owner_model,
    widget_model,
    pagination_links_model,
    pagination_model,
    status_model,
    error_model,
    validation_error_model,
):
    widget_ns.add_model(model.name, model)

ADMIN_ONLY = "Administrators only: any other valid token gets 403."
_TOKEN_ERRORS = {
    int(HTTPStatus.UNAUTHORIZED): ("Token is missing, expired, revoked or invalid.", error_model),
    int(HTTPStatus.INTERNAL_SERVER_ERROR): ("Internal server error.", error_model),
    int(HTTPStatus.SERVICE_UNAVAILABLE): ("Database unreachable.", error_model),
}
_ADMIN_ERRORS = {
    **_TOKEN_ERRORS,
    int(HTTPStatus.FORBIDDEN): ("You are not an administrator.", error_model),
}
_BODY_ERRORS = {
    int(HTTPStatus.BAD_REQUEST): ("Validation error.", validation_error_model),
    int(HTTPStatus.REQUEST_ENTITY_TOO_LARGE): ("Request body too large.", error_model),
    int(HTTPStatus.UNSUPPORTED_MEDIA_TYPE): ("Unsupported body type.", error_model),
}
_CREATED = {
    int(HTTPStatus.CREATED): ("Widget created; Location is its URL.", status_model),
    int(HTTPStatus.CONFLICT): ("A widget of that name exists (any capitalisation).", status_model),
}
_NOT_FOUND = {int(HTTPStatus.NOT_FOUND): ("No widget of that name.", error_model)}


@widget_ns.route("", endpoint="widget_list")
class WidgetList(Resource):
    """Handles HTTP requests to URL: /api/v1/widgets."""

    @widget_ns.expect(pagination_reqparser)
    @widget_ns.doc(
        security="Bearer",
        responses={
            int(HTTPStatus.OK): (
                "One page of widgets; Link and Total-Count headers.",
                pagination_model,
            ),
            int(HTTPStatus.BAD_REQUEST): ("Invalid page or per_page.", validation_error_model),
            **_TOKEN_ERRORS,
        },
    )
    @token_required(read_along=widget_page_read)
    def get(self, read):
        """Retrieve a list of widgets, a page at a time, oldest first."""
        if read is None:  # page or per_page is invalid: the token is valid, so 400 now
            pagination_reqparser.parse_args()  # names the field
            abort(HTTPStatus.BAD_REQUEST, BAD_REQUEST)  # (the parser agrees: not reached)
        return retrieve_widget_list(read)

    @widget_ns.expect(create_widget_reqparser)
    @widget_ns.doc(
        security="Bearer",
        description=ADMIN_ONLY,
        responses={**_CREATED, **_BODY_ERRORS, **_ADMIN_ERRORS},
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
            **_NOT_FOUND,
            **_TOKEN_ERRORS,
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
            **_CREATED,
            **_BODY_ERRORS,
            **_ADMIN_ERRORS,
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
            **_NOT_FOUND,
            **_ADMIN_ERRORS,
        },
    )
    @admin_token_required
    def delete(self, name):
        """Delete a widget (administrators only)."""
        return delete_widget(name)
