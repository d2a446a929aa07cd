"""The User model: credentials, admin flag and the id that tokens carry."""

import uuid
from functools import lru_cache

import bcrypt as _bcrypt
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from flask_api_tutorial import bcrypt, db
from flask_api_tutorial.config import token_lifetime
from flask_api_tutorial.util.datetime_util import UtcDateTime, utc_now
from flask_api_tutorial.util.jwt_util import encode_access_token

BCRYPT_MAX_BYTES = 72


def _new_public_id():
    return str(uuid.uuid4())


class User(db.Model):
    """A registered user; the email is stored trimmed and lower-case."""

    __tablename__ = "site_user"

    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(255), unique=True, nullable=False)
    password_hash = db.Column(db.String(100), nullable=False)
    registered_on = db.Column(UtcDateTime(), nullable=False, default=utc_now)
    admin = db.Column(db.Boolean, nullable=False, default=False)
    public_id = db.Column(db.String(36), unique=True, nullable=False, default=_new_public_id)
    # Tokens carry the version they were issued under; increasing it ends them all.
    token_version = db.Column(db.Integer, nullable=False, default=0, server_default="0")

    def __init__(self, **kwargs):
        """Set the ids now: tokens are signed before the row is first flushed."""
        kwargs.setdefault("public_id", _new_public_id())
        kwargs.setdefault("token_version", 0)
        super().__init__(**kwargs)

    def __repr__(self):
        """Show the account without its secrets."""
        return f"<User email={self.email}, public_id={self.public_id}, admin={self.admin}>"

    @property
    def password(self):
        """Write-only: the password itself is never kept."""
        raise AttributeError("password: write-only field")

    @password.setter
    def password(self, password):
        self.password_hash = _hash_password(password)

    def check_password(self, password):
        """Return True if ``password`` matches; an over-long one costs the same, then fails.

        bcrypt stops at a NUL byte and repeats a short key, so "pw", NUL, "pw" would match
        "pw": a password holding NUL never matches (it cannot be registered).
        """
        if "\x00" in password or len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
            check_dummy_password(password)
            return False
        return bcrypt.check_password_hash(self.password_hash, password)

    def password_needs_rehash(self):
        """Return True if the hash was made at another cost than BCRYPT_LOG_ROUNDS."""
        return _bcrypt_cost(self.password_hash) != current_app.config["BCRYPT_LOG_ROUNDS"]

    def replace_password(self, password):
        """Store a hash of ``password`` unless the hash changed since this row was read.

        Return True if it was stored. The UPDATE compares the hash it replaces, so a
        password checked against a stale hash never overwrites a newer one.
        """
        new_hash = _hash_password(password)
        result = db.session.execute(
            db.update(User)
            .where(User.id == self.id, User.password_hash == self.password_hash)
            .values(password_hash=new_hash)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return False
        set_committed_value(self, "password_hash", new_hash)  # written: nothing to flush
        return True

    @classmethod
    def find_by_email(cls, email):
        """Return the user registered with ``email`` (already normalised), or None."""
        return db.session.scalar(db.select(cls).filter_by(email=email))

    @classmethod
    def lock_by_id(cls, user_id):
        """Return the user with ``user_id`` freshly read, its row locked until commit; or None.

        Every change to a user's sessions (refresh, logout with a refresh token,
        logout-all, password change) takes this lock first: they run one at a time
        per user, always in the same order, so they neither lose updates nor
        deadlock. (FOR NO KEY UPDATE: logins, which only reference the row, go on.)
        """
        return db.session.scalar(
            db.select(cls)
            .where(cls.id == user_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )

    def encode_access_token(self, now=None):
        """Return a new access token for this user, valid for the configured lifetime."""
        config = current_app.config
        return encode_access_token(
            public_id=self.public_id,
            admin=self.admin,
            key=config["SECRET_KEY"],
            lifetime=token_lifetime(config),
            now=now or utc_now(),
            version=self.token_version,
        )


def _hash_password(password):
    rounds = current_app.config["BCRYPT_LOG_ROUNDS"]
    return bcrypt.generate_password_hash(password, rounds).decode()


def _bcrypt_cost(password_hash):
    """Return the cost in a bcrypt hash ("$2b$12$..." is 12), or None if unreadable."""
    parts = password_hash.split("$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None


def check_dummy_password(password):
    """Spend one bcrypt check at the configured cost, so that failures take equal time.

    Used for unknown emails and over-long passwords, which must not answer faster
    than a wrong password does.
    """
    rounds = current_app.config["BCRYPT_LOG_ROUNDS"]
    truncated = password.encode("utf-8")[:BCRYPT_MAX_BYTES]
    bcrypt.check_password_hash(_dummy_hash(rounds), truncated)


@lru_cache(maxsize=32)
def _dummy_hash(rounds):
    """Return a well-formed bcrypt hash of cost ``rounds`` that no password matches.

    A check costs what the prefix says whatever the digest, so a random salt and a
    digest of dots need no hashing to build: the first failed login is not slower.
    """
    return _bcrypt.gensalt(rounds) + b"." * 31
