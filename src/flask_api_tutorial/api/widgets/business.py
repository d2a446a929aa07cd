"""What each widgets request does: the commits, the aborts and the responses."""

from http import HTTPStatus

from flask import g
from flask_restx import abort, marshal
from sqlalchemy.exc import IntegrityError

from flask_api_tutorial import db
from flask_api_tutorial.api.dto import MAX_PAGE_READ, page_response
from flask_api_tutorial.api.errors import token_refused
from flask_api_tutorial.api.widgets.dto import widget_model, widget_name
from flask_api_tutorial.hardening import public_url
from flask_api_tutorial.models import User, Widget
from flask_api_tutorial.util.datetime_util import utc_now
from flask_api_tutorial.util.jwt_util import UNKNOWN_USER

BAD_REQUEST = "Input payload validation failed"


def create_widget(widget_dict):
    """Add the widget owned by the current (admin) user: 201 with Location, or 409."""
    name = widget_dict["name"]
    widget = Widget(
        **widget_dict, created_at=utc_now().replace(microsecond=0), owner_id=g.current_user.id
    )
    db.session.add(widget)
    try:
        # The unique name_lower decides, so concurrent creates cannot both win.
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if Widget.find_by_name(name) is None:
            # Not the name: the owner's account was deleted since its token was checked.
            if User.find_by_public_id(g.token_claims["sub"]) is None:
                raise token_refused(UNKNOWN_USER) from None
            raise
        abort(
            HTTPStatus.CONFLICT,
            f"Widget name: {name} already exists, must be unique.",
            status="fail",
        )
    response = {"status": "success", "message": f"New widget added: {name}."}
    location = public_url("api.widget", external=True, name=widget.name)
    return response, HTTPStatus.CREATED, {"Location": location}


def retrieve_widget_list(page, per_page):
    """Answer one page of widgets, oldest first, with Link and Total-Count headers."""
    pagination = db.paginate(
        db.select(Widget).order_by(Widget.id),
        page=min(page, MAX_PAGE_READ),
        per_page=per_page,
        error_out=False,
    )
    items = marshal(pagination.items, widget_model)
    return page_response(page, pagination, "api.widget_list", items)


def retrieve_widget(name):
    """Answer the widget called ``name`` (any capitalisation), or 404."""
    return marshal(_find_or_404(name), widget_model), HTTPStatus.OK


def update_widget(name, widget_dict):
    """Change the widget's URL and deadline (200), or create it when there is none (201)."""
    widget = Widget.find_by_name(name)
    if widget is None:
        return create_widget({"name": name, **widget_dict})
    for field, value in widget_dict.items():
        setattr(widget, field, value)
    db.session.commit()
    return {"status": "success", "message": f"'{name}' was successfully updated"}, HTTPStatus.OK


def delete_widget(name):
    """Delete the widget called ``name``: 204, or 404 if there is none."""
    widget = _find_or_404(name)
    deleted = db.session.execute(
        db.delete(Widget)
        .where(Widget.id == widget.id)
        .execution_options(synchronize_session=False)
    )
    # Of two deletes at once, one finds nothing left to delete: 404.
    if deleted.rowcount != 1:
        db.session.rollback()
        abort(HTTPStatus.NOT_FOUND, f"{name} not found in database.")
    db.session.commit()
    return "", HTTPStatus.NO_CONTENT


def valid_name_or_400(name):
    """Return ``name`` (from the URL) if it is a valid widget name, else abort with 400."""
    try:
        return widget_name(name)
    except ValueError as error:
        abort(HTTPStatus.BAD_REQUEST, BAD_REQUEST, errors={"name": str(error)})


def _find_or_404(name):
    widget = Widget.find_by_name(name)
    if widget is None:
        abort(HTTPStatus.NOT_FOUND, f"{name} not found in database.")
    return widget
