"""The BlacklistedToken model: access tokens revoked by logout, until they expire."""

from flask_api_tutorial import db
from flask_api_tutorial.util.datetime_util import UtcDateTime, utc_now
from flask_api_tutorial.util.jwt_util import JTI_MAX_LENGTH


class BlacklistedToken(db.Model):
    """A revoked token, recorded by its ``jti`` claim so re-encoding cannot revive it."""

    __tablename__ = "token_blacklist"

    id = db.Column(db.Integer, primary_key=True)
    jti = db.Column(db.String(JTI_MAX_LENGTH), unique=True, nullable=False)
    blacklisted_on = db.Column(UtcDateTime(), nullable=False, default=utc_now)
    expires_at = db.Column(UtcDateTime(), nullable=False, index=True)

    def __repr__(self):
        """Show which token was revoked and until when it matters."""
        return f"<BlacklistedToken jti={self.jti}, expires_at={self.expires_at}>"
