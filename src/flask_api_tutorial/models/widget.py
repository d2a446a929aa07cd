"""The Widget model (the tutorial's Part 5): what administrators create and users read."""

from functools import cache

from sqlalchemy import DDL, event

from flask_api_tutorial import db
from flask_api_tutorial.database import read_rows
from flask_api_tutorial.models.user import ReadAlong, User
from flask_api_tutorial.util.datetime_util import UtcDateTime, utc_now

NAME_MAX_LENGTH = 100
URL_MAX_LENGTH = 255


class Widget(db.Model):
    """A widget: a name unique regardless of case, a URL, a deadline and its owner.

    The name is stored as first written; the unique index on its lower-cased form
    makes ``Tetra`` and ``tetra`` one widget, on SQLite and PostgreSQL alike.
    """

    __tablename__ = "widget"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(NAME_MAX_LENGTH), nullable=False)
    info_url = db.Column(db.String(URL_MAX_LENGTH), nullable=False)
    created_at = db.Column(UtcDateTime(), nullable=False, default=utc_now)
    deadline = db.Column(UtcDateTime(), nullable=False)
    # A widget outlives its owner's account: the owner then shows as null.
    owner_id = db.Column(
        db.Integer, db.ForeignKey("site_user.id", ondelete="SET NULL"), nullable=True, index=True
    )
    owner = db.relationship("User", lazy="joined")

    __table_args__ = (db.Index("uq_widget_name_lower", db.func.lower(name), unique=True),)

    def __repr__(self):
        """Show the widget's name."""
        return f"<Widget name={self.name}>"

    @classmethod
    def find_by_name(cls, name):
        """Return the widget called ``name`` in any capitalisation, or None."""
        if not name.isascii():
            # Names are ASCII: a look-alike ("\u212a", the Kelvin sign, lower-cases to
            # "k") is another name, not another capitalisation.
            return None
        return db.session.scalar(db.select(cls).where(db.func.lower(cls.name) == name.lower()))

    @classmethod
    def page_read(cls, page, per_page):
        """Return the read of page ``page``, oldest widget first, to make along the token check.

        Every logged-in user pages through widgets, so the page is read in the
        statement that checks the token (one round trip, not two: ReadAlong).
        Rows hold total (from widget_count), id, name, info_url, created_at,
        deadline, owner_email and owner_public_id.
        """
        offset, limit = (page - 1) * per_page, per_page
        if offset >= 2**31:  # no table holds more rows; a larger OFFSET overflows
            offset = limit = 0
        params = {"offset": offset, "limit": limit}
        return ReadAlong(_page_statement(), params, "id", {"page": page, "per_page": per_page})

    @classmethod
    def count(cls):
        """Return the number of widgets (read from widget_count, not counted)."""
        rows = read_rows(_count_statement(), {})
        return rows[0].total if rows else 0


class WidgetCount(db.Model):
    """The number of widgets, kept in one row by every create and delete.

    Counting the table on every page would grow with it (a full scan); this row is
    updated in the same transaction as the widget, so it is exact.
    """

    __tablename__ = "widget_count"

    id = db.Column(db.Integer, primary_key=True)
    total = db.Column(db.Integer, nullable=False, default=0)

    @classmethod
    def add(cls, delta):
        """Add ``delta`` to the count, in the caller's transaction (locking the row)."""
        db.session.execute(
            db.update(cls)
            .where(cls.id == 1)
            .values(total=cls.total + delta)
            .execution_options(synchronize_session=False)
        )


# The one row exists from the start (the migration inserts it too), so that
# concurrent first creates only ever update it.
@cache
def _count_statement():
    return db.select(WidgetCount.total).where(WidgetCount.id == 1)


@cache
def _page_statement():
    """Build once: a page of widgets with their owners, and the number of widgets.

    The OFFSET walks the ids alone (the primary key's index); only the page's ten
    or so widgets are then read and joined to their owners. A deep page costs a
    walk of the index, not of the table and a join per skipped row.
    """
    page_ids = (
        db.select(Widget.id)
        .order_by(Widget.id)
        .offset(db.bindparam("offset"))
        .limit(db.bindparam("limit"))
        .subquery("page_ids")
    )
    return (
        db.select(
            _count_statement().scalar_subquery().label("total"),
            Widget.id,
            Widget.name,
            Widget.info_url,
            Widget.created_at,
            Widget.deadline,
            User.email.label("owner_email"),
            User.public_id.label("owner_public_id"),
        )
        .join_from(page_ids, Widget, Widget.id == page_ids.c.id)
        .outerjoin(User, Widget.owner_id == User.id)
        .order_by(Widget.id)
    )


_FIRST_ROW = DDL("INSERT INTO widget_count (id, total) VALUES (1, 0)")
event.listen(WidgetCount.__table__, "after_create", _FIRST_ROW)
