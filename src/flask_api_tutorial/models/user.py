"""The User model: credentials, admin flag and the id that tokens carry."""

import uuid
from functools import lru_cache

import bcrypt as _bcrypt
from flask import current_app

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
        rounds = current_app.config["BCRYPT_LOG_ROUNDS"]
        self.password_hash = bcrypt.generate_password_hash(password, rounds).decode()

    def check_password(self, password):
        """Return True if ``password`` matches; an over-long one costs the same, then fails."""
        if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
            check_dummy_password(password)
            return False
        return bcrypt.check_password_hash(self.password_hash, password)

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
