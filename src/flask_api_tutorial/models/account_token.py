"""The AccountToken model: a single-use token mailed for a password reset or a verification."""

import base64
import hashlib
import hmac
import secrets

from flask_api_tutorial import db
from flask_api_tutorial.util.datetime_util import UtcDateTime, utc_now

PASSWORD_RESET = "password_reset"
VERIFY_EMAIL = "verify_email"
PURPOSES = (PASSWORD_RESET, VERIFY_EMAIL)
TOKEN_MAX_LENGTH = 128


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def _mac(key, purpose, selector):
    digest = hmac.new(key, f"{purpose}:{selector}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class AccountToken(db.Model):
    """A token mailed to the account's address: single use, short-lived, kept only as a hash.

    The token is ``<selector>.<mac>``, the mac an HMAC of the purpose and the
    selector under MAIL_TOKEN_KEYS (derived from SECRET_KEY): the mail sender makes
    it again from the row and the key, and the database alone holds nothing that
    gives it. It works for its purpose only, once, before it expires, and while the
    user's password_version is the one it was issued under: any password change
    (never a rehash at login) voids it, and so does a newer token of its purpose.
    """

    __tablename__ = "account_token"

    id = db.Column(db.Integer, primary_key=True)
    selector = db.Column(db.String(32), unique=True, nullable=False)
    token_hash = db.Column(db.String(64), unique=True, nullable=False)
    user_id = db.Column(
        db.Integer, db.ForeignKey("site_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    purpose = db.Column(db.String(20), nullable=False)
    password_version = db.Column(db.Integer, nullable=False)
    created_at = db.Column(UtcDateTime(), nullable=False, default=utc_now)
    expires_at = db.Column(UtcDateTime(), nullable=False, index=True)
    used_at = db.Column(UtcDateTime(), nullable=True)

    def __repr__(self):
        """Show whose token it is and for what, never the token."""
        return (
            f"<AccountToken purpose={self.purpose}, user_id={self.user_id}, used={self.used_at}>"
        )

    @classmethod
    def issue(cls, user, purpose, lifetime, key, now=None):
        """Add a new token of ``purpose`` for ``user``, voiding its older ones; return it."""
        now = now or utc_now()
        db.session.execute(
            db.update(cls)
            .where(cls.user_id == user.id, cls.purpose == purpose, cls.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        selector = secrets.token_hex(16)
        row = cls(
            selector=selector,
            token_hash=_hash(f"{selector}.{_mac(key, purpose, selector)}"),
            user_id=user.id,
            purpose=purpose,
            password_version=user.password_version,
            created_at=now,
            expires_at=now + lifetime,
        )
        db.session.add(row)
        return row

    def plaintext(self, keys):
        """Return the token itself, made again with whichever of ``keys`` made it (or None)."""
        for key in keys:
            token = f"{self.selector}.{_mac(key, self.purpose, self.selector)}"
            if hmac.compare_digest(_hash(token), self.token_hash):
                return token
        return None

    @classmethod
    def find_usable(cls, token, purpose, now=None):
        """Return the unused, unexpired token ``token`` of ``purpose``, or None.

        Whether its user's password changed since is for the caller to check, once
        it holds the user's lock.
        """
        now = now or utc_now()
        if not isinstance(token, str) or not token.isascii() or len(token) > TOKEN_MAX_LENGTH:
            return None
        return db.session.scalar(
            db.select(cls).where(
                cls.token_hash == _hash(token),
                cls.purpose == purpose,
                cls.used_at.is_(None),
                cls.expires_at > now,
            )
        )

    def use(self, now=None):
        """Mark this token used; return False if another request used it first."""
        used = db.session.execute(
            db.update(AccountToken)
            .where(AccountToken.id == self.id, AccountToken.used_at.is_(None))
            .values(used_at=now or utc_now())
            .execution_options(synchronize_session=False)
        )
        return used.rowcount == 1
