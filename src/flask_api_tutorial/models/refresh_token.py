"""The RefreshToken model: one row per refresh token, grouped in families by login."""

import uuid

from flask import current_app

from flask_api_tutorial import db
from flask_api_tutorial.config import refresh_token_lifetime
from flask_api_tutorial.util.datetime_util import UtcDateTime, utc_now
from flask_api_tutorial.util.jwt_util import (
    JTI_MAX_LENGTH,
    encode_refresh_token,
    new_jti,
    refresh_key,
)


class RefreshToken(db.Model):
    """A refresh token: used up by one refresh, revoked with its whole family.

    A family is every refresh token descended from one login; presenting a used-up
    token again revokes the family, since only a thief or a confused client does that.
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

    @classmethod
    def issue(cls, user, family_id=None, now=None):
        """Add a new refresh token for ``user`` to the session; return (row, token).

        A login starts a new family; a refresh passes the family on.
        """
        now = now or utc_now()
        lifetime = refresh_token_lifetime(current_app.config)
        row = cls(
            jti=new_jti(),
            user=user,
            family_id=family_id or str(uuid.uuid4()),
            issued_at=now,
            expires_at=now + lifetime,
        )
        db.session.add(row)
        token = encode_refresh_token(
            public_id=user.public_id,
            family=row.family_id,
            version=user.token_version,
            jti=row.jti,
            key=refresh_key(current_app.config["SECRET_KEY"]),
            lifetime=lifetime,
            now=now,
        )
        return row, token
