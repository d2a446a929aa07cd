"""The UserSession model: one login, with the refresh tokens descended from it."""

import uuid

from flask_api_tutorial import db
from flask_api_tutorial.util.datetime_util import UtcDateTime, utc_now
from flask_api_tutorial.util.log_util import CONTROL_CHARACTERS

USER_AGENT_MAX_LENGTH = 255
IP_ADDRESS_MAX_LENGTH = 45


def _new_id():
    return str(uuid.uuid4())


class UserSession(db.Model):
    """A login: what the user sees in GET /auth/sessions, and may end.

    Its id is the family of its refresh tokens (``RefreshToken.family_id``) and the
    ``sid`` claim of its access tokens: ending it refuses both at once. The user
    agent and address are the ones of the login; ``last_used_at`` moves with each
    refresh (no write per request).
    """

    __tablename__ = "user_session"

    id = db.Column(db.String(36), primary_key=True, default=_new_id)
    user_id = db.Column(
        db.Integer, db.ForeignKey("site_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at = db.Column(UtcDateTime(), nullable=False, default=utc_now)
    last_used_at = db.Column(UtcDateTime(), nullable=False, default=utc_now)
    user_agent = db.Column(db.String(USER_AGENT_MAX_LENGTH), nullable=True)
    ip_address = db.Column(db.String(IP_ADDRESS_MAX_LENGTH), nullable=True)
    ended_at = db.Column(UtcDateTime(), nullable=True)

    user = db.relationship("User", passive_deletes=True)

    def __repr__(self):
        """Show the session's id and whose it is."""
        return f"<UserSession id={self.id}, user_id={self.user_id}, ended_at={self.ended_at}>"

    @classmethod
    def start(cls, user, user_agent=None, ip_address=None, now=None, session_id=None):
        """Add a new session of ``user`` to the database session and return it.

        The user agent comes from a client: its control characters are dropped and
        it is cut to the column's length, so that no database refuses it.
        """
        now = now or utc_now()
        if user_agent is not None:
            user_agent = CONTROL_CHARACTERS.sub("", user_agent)[:USER_AGENT_MAX_LENGTH] or None
        session = cls(
            id=session_id or _new_id(),
            user=user,
            created_at=now,
            last_used_at=now,
            user_agent=user_agent,
            ip_address=(ip_address or None) and ip_address[:IP_ADDRESS_MAX_LENGTH],
        )
        db.session.add(session)
        return session

    @classmethod
    def live(cls, user_id, now, refresh_lifetime):
        """Return the select of the user's live logins, newest first.

        Live: not ended, and its latest refresh token (issued at last_used_at) not
        yet expired.
        """
        return (
            db.select(cls)
            .where(
                cls.user_id == user_id,
                cls.ended_at.is_(None),
                cls.last_used_at > now - refresh_lifetime,
            )
            .order_by(cls.created_at.desc(), cls.id)
        )

    @classmethod
    def end(cls, session_id, user_id, now):
        """End the live login ``session_id`` of the user; return False if there is none."""
        ended = db.session.execute(
            db.update(cls)
            .where(cls.id == session_id, cls.user_id == user_id, cls.ended_at.is_(None))
            .values(ended_at=now)
            .execution_options(synchronize_session=False)
        )
        return ended.rowcount == 1

    @classmethod
    def end_all(cls, user_id, now):
        """End every live session of the user ``user_id``, in the caller's transaction."""
        db.session.execute(
            db.update(cls)
            .where(cls.user_id == user_id, cls.ended_at.is_(None))
            .values(ended_at=now)
            .execution_options(synchronize_session=False)
        )
