"""The RefreshToken model: one row per refresh token, grouped in families by login."""

from flask_api_tutorial import db
from flask_api_tutorial.util.datetime_util import UtcDateTime, utc_now
from flask_api_tutorial.util.jwt_util import JTI_MAX_LENGTH


class RefreshToken(db.Model):
    """A refresh token: used up by one refresh, revoked with its whole family.

    A family is every refresh token descended from one login; presenting a used-up
    token again revokes the family, since only a thief or a confused client does that.
    Issued by ``User.encode_refresh_token``.
    """

    __tablename__ = "refresh_token"

    id = db.Column(db.Integer, primary_key=True)
    jti = db.Column(db.String(JTI_MAX_LENGTH), unique=True, nullable=False)
    user_id = db.Column(
        db.Integer, db.ForeignKey("site_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    family_id = db.Column(db.String(36), nullable=False, index=True)
    issued_at = db.Column(UtcDateTime(), nullable=False, default=utc_now)
    expires_at = db.Column(UtcDateTime(), nullable=False, index=True)
    used_at = db.Column(UtcDateTime(), nullable=True)
    revoked_at = db.Column(UtcDateTime(), nullable=True)

    user = db.relationship("User", passive_deletes=True)

    def __repr__(self):
        """Show the token's family and state, never the token."""
        return f"<RefreshToken jti={self.jti}, family={self.family_id}, used={self.used_at}>"
