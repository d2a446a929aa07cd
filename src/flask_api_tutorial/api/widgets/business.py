"""What each widgets request does: the commits, the aborts and the responses."""

from email.utils import format_datetime
from http import HTTPStatus
from math import ceil

from flask import g, url_for
from flask_restx import abort
from sqlalchemy.exc import IntegrityError

from flask_api_tutorial import db
from flask_api_tutorial.api.widgets.dto import widget_name
from flask_api_tutorial.models import Widget, WidgetCount
from flask_api_tutorial.util.datetime_util import format_timedelta_words, format_utc, utc_now

BAD_REQUEST = "Input payload validation failed"


def create_widget(widget_dict):
    """Add the widget owned by the current (admin) user: 201 with Location, or 409."""
    name = widget_dict["name"]
    widget = Widget(
        name=name,
        info_url=widget_dict["info_url"],
        deadline=widget_dict["deadline"],
        created_at=utc_now().replace(microsecond=0),
        owner_id=g.current_user.id,
    )
    db.session.add(widget)
    try:
        # The unique index on lower(name) decides, so concurrent creates cannot both win.
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        abort(
            HTTPStatus.CONFLICT,
            f"Widget name: {name} already exists, must be unique.",
            status="fail",
        )
    WidgetCount.add(1)
    db.session.commit()
    response = {"status": "success", "message": f"New widget added: {name}."}
    location = url_for("api.widget", name=widget.name, _external=True)
    return response, HTTPStatus.CREATED, {"Location": location}


def retrieve_widget_list(page, per_page):
    """Answer one page of widgets, oldest first, with Link and Total-Count headers."""
    total = WidgetCount.get()
    total_pages = max(1, ceil(total / per_page))
    widgets = []
    if page <= total_pages:  # past the last page there is nothing to read (or to overflow)
        widgets = db.session.scalars(
            db.select(Widget).order_by(Widget.id).offset((page - 1) * per_page).limit(per_page)
        ).all()
    pages = {"self": page, "first": 1}
    if page > 1:
        pages["prev"] = page - 1
    if page < total_pages:
        pages["next"] = page + 1
    pages["last"] = total_pages
    links = {
        rel: url_for("api.widget_list", page=number, per_page=per_page)
        for rel, number in pages.items()
    }
    now = utc_now()
    body = {
        "links": links,
        "has_prev": page > 1,
        "has_next": page < total_pages,
        "page": page,
        "total_pages": total_pages,
        "items_per_page": per_page,
        "total_items": total,
        "items": [_widget_body(widget, now) for widget in widgets],
    }
    headers = {
        "Link": ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items()),
        "Total-Count": str(total),
    }
    return body, HTTPStatus.OK, headers


def retrieve_widget(name):
    """Answer the widget called ``name`` (any capitalisation), or 404."""
    return _widget_body(_find_or_404(name), utc_now()), HTTPStatus.OK


def update_widget(name, widget_dict):
    """Change the widget's URL and deadline (200), or create it when there is none (201)."""
    widget = Widget.find_by_name(name)
    if widget is None:
        return create_widget({"name": name, **widget_dict})
    widget.info_url = widget_dict["info_url"]
    widget.deadline = widget_dict["deadline"]
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
    WidgetCount.add(-1)
    db.session.commit()
    return "", HTTPStatus.NO_CONTENT


def _find_or_404(name):
    widget = Widget.find_by_name(name)
    if widget is None:
        abort(HTTPStatus.NOT_FOUND, f"{name} not found in database.")
    return widget


def valid_name_or_400(name):
    """Return ``name`` (from the URL) if it is a valid widget name, else abort with 400."""
    try:
        return widget_name(name)
    except ValueError as error:
        abort(HTTPStatus.BAD_REQUEST, BAD_REQUEST, errors={"name": str(error)})


def _widget_body(widget, now):
    """Return the widget in the shape of widget_model (which documents it)."""
    passed = widget.deadline < now
    owner = widget.owner
    return {
        "name": widget.name,
        "info_url": widget.info_url,
        "created_at": format_utc(widget.created_at),
        "created_at_iso8601": widget.created_at.isoformat(),
        "created_at_rfc822": format_datetime(widget.created_at, usegmt=True),
        "deadline": format_utc(widget.deadline),
        "deadline_passed": passed,
        "time_remaining": (
            "No time remaining" if passed else format_timedelta_words(widget.deadline - now)
        ),
        "owner": {"email": owner.email, "public_id": owner.public_id} if owner else None,
        "link": url_for("api.widget", name=widget.name),
    }
