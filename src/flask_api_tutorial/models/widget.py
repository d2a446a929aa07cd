"""The Widget model (the tutorial's Part 5): what administrators create and users read."""

import re
from email.utils import format_datetime

from flask_api_tutorial import db
from flask_api_tutorial.util.datetime_util import (
    UtcDateTime,
    format_timedelta_words,
    format_utc,
    utc_now,
)

NAME_MAX_LENGTH = 100
NAME_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{1,{NAME_MAX_LENGTH}}}")
URL_MAX_LENGTH = 255


def _lower_name(context):
    return context.get_current_parameters()["name"].lower()


class Widget(db.Model):
    """A widget: a name unique regardless of case, a URL, a deadline and its owner."""

    __tablename__ = "widget"

    id = db.Column(db.Integer, primary_key=True)
    # Stored and shown as first written.
    name = db.Column(db.String(NAME_MAX_LENGTH), nullable=False)
    # The name in lower case, filled in on insert: its unique constraint makes "Tetra"
    # and "tetra" one widget on every database, in a form that `flask db migrate`
    # sees (it cannot see a unique index on lower(name) on SQLite).
    name_lower = db.Column(
        db.String(NAME_MAX_LENGTH), nullable=False, unique=True, default=_lower_name
    )
    info_url = db.Column(db.String(URL_MAX_LENGTH), nullable=False)
    created_at = db.Column(UtcDateTime(), nullable=False, default=utc_now)
    deadline = db.Column(UtcDateTime(), nullable=False)
    # A widget outlives its owner's account: the owner then shows as null.
    owner_id = db.Column(
        db.Integer, db.ForeignKey("site_user.id", ondelete="SET NULL"), nullable=True, index=True
    )
    owner = db.relationship("User", lazy="joined")

    def __repr__(self):
        """Show the widget's name."""
        return f"<Widget name={self.name}>"

    # The values widget_model (api/widgets/dto.py) shows, by attribute name.

    @property
    def created_at_str(self):
        """Return when the widget was created, as the tutorial shows dates (in UTC)."""
        return format_utc(self.created_at)

    @property
    def created_at_rfc822(self):
        """Return when the widget was created, as an RFC 822 date (GMT)."""
        return format_datetime(self.created_at, usegmt=True)

    @property
    def deadline_str(self):
        """Return the deadline as the tutorial shows dates (in UTC)."""
        return format_utc(self.deadline)

    @property
    def deadline_passed(self):
        """Return True once the deadline has passed."""
        return self.deadline < utc_now()

    @property
    def time_remaining_str(self):
        """Return the time left before the deadline in words, or "No time remaining"."""
        remaining = self.deadline - utc_now()
        if remaining.total_seconds() < 0:
            return "No time remaining"
        return format_timedelta_words(remaining)

    @classmethod
    def find_by_name(cls, name):
        """Return the widget called ``name`` in any capitalisation, or None."""
        if not NAME_PATTERN.fullmatch(name):
            # No widget has such a name, and it need not reach the database (a NUL
            # would make PostgreSQL refuse the query). Names are ASCII, so a look-alike
            # ("\u212a", the Kelvin sign, lower-cases to "k") is another name.
            return None
        return db.session.scalar(db.select(cls).filter_by(name_lower=name.lower()))
