"""What each widgets request does: the commits, the aborts and the responses."""

from datetime import datetime, timedelta
from email.utils import format_datetime
from functools import lru_cache
from http import HTTPStatus
from math import ceil
from types import MappingProxyType
from typing import NamedTuple

from flask import g, request, url_for
from flask_restx import abort
from sqlalchemy.exc import IntegrityError

from flask_api_tutorial import db
from flask_api_tutorial.api.errors import token_refused
from flask_api_tutorial.api.widgets.dto import pagination, widget_name
from flask_api_tutorial.models import User, Widget, WidgetCount
from flask_api_tutorial.util.datetime_util import format_timedelta_words, format_utc, utc_now
from flask_api_tutorial.util.jwt_util import UNKNOWN_USER

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
        if Widget.find_by_name(name) is None:
            # Not the name: the owner's account was deleted since its token was checked.
            if User.find_by_public_id(g.current_user.public_id) is None:
                raise token_refused(UNKNOWN_USER) from None
            raise
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


def widget_page_read():
    """Return the read of the requested page (made along the token check), or None.

    None when page or per_page is invalid: the view answers 400 once the token
    is checked (a request without a valid token gets its 401 first).
    """
    page_and_size = pagination(request.args)
    return None if page_and_size is None else Widget.page_read(*page_and_size)


def retrieve_widget_list(read):
    """Answer one page of widgets, oldest first, with Link and Total-Count headers.

    ``read`` is the page's read (``widget_page_read``), its rows read.
    """
    page, per_page, rows = read.args["page"], read.args["per_page"], read.rows
    # Every row carries the count; a page past the last has none to carry it.
    total = rows[0].total if rows else Widget.count()
    total_pages = max(1, ceil(total / per_page))
    pages = {"self": page, "first": 1}
    if page > 1:
        pages["prev"] = page - 1
    if page < total_pages:
        pages["next"] = page + 1
    pages["last"] = total_pages
    # Built from one url_for: names are ASCII letters, digits, "-" and "_", which a
    # URL carries as they are.
    list_path = url_for("api.widget_list")
    links = {
        rel: f"{list_path}?page={number}&per_page={per_page}" for rel, number in pages.items()
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
        "items": [_widget_body(row, now, list_path) for row in rows],
    }
    headers = {
        "Link": ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items()),
        "Total-Count": str(total),
    }
    return body, HTTPStatus.OK, headers


def retrieve_widget(name):
    """Answer the widget called ``name`` (any capitalisation), or 404."""
    widget = _find_or_404(name)
    owner = widget.owner
    row = _Row(
        widget.name,
        widget.info_url,
        widget.created_at,
        widget.deadline,
        owner.email if owner else None,
        owner.public_id if owner else None,
    )
    return _widget_body(row, utc_now(), url_for("api.widget_list")), HTTPStatus.OK


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


class _Row(NamedTuple):
    """A widget as a page read (Widget.page_read) gives it, without total and id."""

    name: str
    info_url: str
    created_at: datetime
    deadline: datetime
    owner_email: str | None
    owner_public_id: str | None


def _widget_body(row, now, list_path):
    """Return the widget in the shape of widget_model (which documents it)."""
    head, tail = _fixed_fields(*row[-6:], list_path)
    passed = row.deadline < now
    seconds = int((row.deadline - now).total_seconds())
    remaining = "No time remaining" if passed else _remaining_words(seconds)
    return {**head, "deadline_passed": passed, "time_remaining": remaining, **tail}


@lru_cache(maxsize=4096)
def _remaining_words(seconds):
    """Return ``seconds`` in words: widgets due at one time share them for a second."""
    return format_timedelta_words(timedelta(seconds=seconds))


@lru_cache(maxsize=4096)
def _fixed_fields(name, info_url, created_at, deadline, owner_email, owner_public_id, list_path):
    """Return the fields that do not change with the clock, formatted once per widget version.

    Keyed by every value they are made of, so an updated widget is formatted again.
    Listing formats ten widgets a request: this keeps it cheap.
    """
    head = {
        "name": name,
        "info_url": info_url,
        "created_at": format_utc(created_at),
        "created_at_iso8601": created_at.isoformat(),
        "created_at_rfc822": format_datetime(created_at, usegmt=True),
        "deadline": format_utc(deadline),
    }
    owner = {"email": owner_email, "public_id": owner_public_id} if owner_email else None
    tail = {"owner": owner, "link": f"{list_path}/{name}"}
    return MappingProxyType(head), MappingProxyType(tail)
