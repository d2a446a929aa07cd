"""Timezone-aware UTC datetimes, in Python and in the database."""

from datetime import datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def utc_now():
    """Return the current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def from_timestamp(timestamp):
    """Return the aware UTC datetime of a POSIX timestamp."""
    return datetime.fromtimestamp(timestamp, timezone.utc)


def format_timedelta_hms(delta):
    """Format a duration as HH:MM:SS (hours may exceed 24; negative counts as zero)."""
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def format_timedelta_words(delta):
    """Format a duration as "3 days 4 hours 5 minutes 6 seconds" (no days part under a day)."""
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "day")] if days else []
    parts += [(hours, "hour"), (minutes, "minute"), (seconds, "second")]
    return " ".join(f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in parts)


def format_utc(value):
    """Format an aware datetime as the tutorial shows dates, in UTC: 12/31/26 11:59:59 PM UTC."""
    return value.astimezone(timezone.utc).strftime("%m/%d/%y %I:%M:%S %p UTC")


class UtcDateTime(TypeDecorator):
    """A DateTime column that stores UTC and always gives back aware datetimes.

    SQLite keeps no offset, so values read from it are naive; they were written in
    UTC, so UTC is attached on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Convert aware datetimes to UTC; refuse naive ones, whose zone is unknown."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        """Attach UTC to the naive values that SQLite returns."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
