"""The User model: credentials, admin flag, and the tokens issued to it.

The tutorial's entry points are here: ``User.find_by_email``,
``User.find_by_public_id``, ``user.encode_access_token()`` and
``User.decode_access_token(token)``; the token helpers of util/jwt_util.py do the
signing and checking beneath them.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache, lru_cache

import bcrypt as _bcrypt
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from flask_api_tutorial import bcrypt, db
from flask_api_tutorial.database import autocommit_engine
from flask_api_tutorial.models.refresh_token import RefreshToken
from flask_api_tutorial.models.token_blacklist import BlacklistedToken
from flask_api_tutorial.models.user_session import UserSession
from flask_api_tutorial.util import jwt_util
from flask_api_tutorial.util.datetime_util import UtcDateTime, utc_now

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
    # Tokens carry the version they were issued under; raising it revokes them all.
    token_version = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    # Raised by every change of the password (never by a rehash at login): a mailed
    # token issued under another version is void.
    password_version = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    # Whether the address was shown to be the user's (a verification mail, or a reset).
    email_verified = db.Column(
        db.Boolean, nullable=False, default=False, server_default=db.text("false")
    )

    def __init__(self, **kwargs):
        """Set the ids now: tokens are signed before the row is first flushed."""
        kwargs.setdefault("public_id", _new_public_id())
        kwargs.setdefault("token_version", 0)
        kwargs.setdefault("password_version", 0)
        kwargs.setdefault("email_verified", False)
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

    def revoke_all_tokens(self, now, password_changed=False):
        """Revoke every token of this user and end every login, in the caller's transaction.

        Access tokens carry the token version they were issued under (``ver``): the
        token check refuses every older one. With ``password_changed`` the password
        version moves too, voiding every mailed token issued under the old password.
        Callers hold the user's lock (``lock_by_id``).
        """
        values = {"token_version": User.token_version + 1}
        if password_changed:
            values["password_version"] = User.password_version + 1
        db.session.execute(
            db.update(User)
            .where(User.id == self.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            db.update(RefreshToken)
            .where(RefreshToken.user_id == self.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        UserSession.end_all(self.id, now)
        db.session.refresh(self, ["token_version", "password_version"])

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

    @classmethod
    def find_by_public_id(cls, public_id):
        """Return the user whose public_id (a token's ``sub``) is ``public_id``, or None."""
        return db.session.scalar(db.select(cls).filter_by(public_id=public_id))

    @classmethod
    def find_by_access_token(cls, claims):
        """Return the user of a decoded access token, or raise TokenError if it is refused.

        One statement reads the user (by ``sub``), whether the token's ``jti`` is
        revoked and whether its login (``sid``) is still live. Every authenticated
        request runs it, so it is built once, and on a server database it runs on
        the autocommit engine: one round trip, no transaction to begin and end.
        Refused: the user is gone (UNKNOWN_USER), the token was logged out or its
        login ended (REVOKED), or it was issued before a logout-all or a password
        change (SUPERSEDED). A token without ``sid`` (issued before sessions, and
        let through by the decoder's upgrade window) belongs to no login.
        """
        session_id = claims.get(jwt_util.SESSION_CLAIM)
        row = db.session.execute(
            _token_check(),
            {"sub": claims["sub"], "jti": claims["jti"], "sid": session_id or ""},
            bind_arguments={"bind": autocommit_engine()},
        ).one_or_none()
        if row is None:
            raise jwt_util.TokenError(jwt_util.UNKNOWN_USER)
        user, revoked, session_live = row
        if claims.get("ver", 0) != user.token_version:
            raise jwt_util.TokenError(jwt_util.SUPERSEDED, user.public_id)
        if revoked or (session_id is not None and not session_live):
            raise jwt_util.TokenError(jwt_util.REVOKED, user.public_id)
        return user

    def encode_access_token(self, session_id=None, now=None):
        """Return a new access token for this user, valid for ACCESS_TOKEN_LIFETIME.

        The token belongs to the login ``session_id``. Without one (the tutorial's
        call), a new login is started and committed, so that the token is usable at
        once: the token check reads committed rows only.
        """
        config = current_app.config
        if session_id is None:
            session_id = UserSession.start(self).id
            db.session.commit()
        return jwt_util.encode_access_token(
            public_id=self.public_id,
            admin=self.admin,
            keys=config["ACCESS_TOKEN_KEYS"],
            lifetime=config["ACCESS_TOKEN_LIFETIME"],
            now=now or datetime.now(timezone.utc),
            version=self.token_version,
            scope=config["ACCESS_TOKEN_SCOPE"],
            session_id=session_id,
        )

    def encode_refresh_token(self, session, now=None):
        """Add a refresh token of this user's login ``session`` to the database session.

        Return it signed. The login's refresh tokens are one family (each refresh
        passes it on), named by the session's id; the row is what makes the token
        usable once.
        """
        config = current_app.config
        now = now or datetime.now(timezone.utc)
        row = RefreshToken(
            jti=jwt_util.new_jti(),
            user=self,
            family_id=session.id,
            issued_at=now,
            expires_at=now + config["REFRESH_TOKEN_LIFETIME"],
        )
        db.session.add(row)
        return jwt_util.encode_refresh_token(
            public_id=self.public_id,
            family=row.family_id,
            version=self.token_version,
            jti=row.jti,
            keys=config["REFRESH_TOKEN_KEYS"],
            lifetime=config["REFRESH_TOKEN_LIFETIME"],
            now=now,
            scope=config["REFRESH_TOKEN_SCOPE"],
        )

    @staticmethod
    def decode_access_token(access_token):
        """Check an access token as the API does; return a Result, as the tutorial's does.

        ``Result.value`` holds ``public_id``, ``admin`` (from the database),
        ``token`` and ``expires_at`` (a POSIX timestamp); ``Result.error`` one of
        the three messages a client would get with a 401.
        """
        # Imported here: the api package imports this model.
        from flask_api_tutorial.api.errors import TOKEN_MESSAGES

        if access_token.startswith("Bearer "):
            access_token = access_token.removeprefix("Bearer ").strip()
        try:
            config = current_app.config
            claims = jwt_util.decode_access_token(
                access_token, config["ACCESS_TOKEN_KEYS"], config["ACCESS_TOKEN_SCOPE"]
            )
            user = User.find_by_access_token(claims)
        except jwt_util.TokenError as error:
            return Result(success=False, error=TOKEN_MESSAGES[error.kind])
        payload = {
            "public_id": user.public_id,
            "admin": user.admin,
            "token": access_token,
            "expires_at": claims["exp"],
        }
        return Result(success=True, value=payload)


@dataclass(frozen=True)
class Result:
    """The tutorial's result of an operation: ``value`` on success, else ``error``."""

    success: bool
    value: object = None
    error: str | None = None

    @property
    def failure(self):
        """Return True if the operation failed."""
        return not self.success


@cache
def _token_check():
    """Build once: the token's user (by sub), whether its jti is revoked, its login live."""
    revoked = db.select(BlacklistedToken.id).where(BlacklistedToken.jti == db.bindparam("jti"))
    session_live = db.select(UserSession.id).where(
        UserSession.id == db.bindparam("sid"),
        UserSession.user_id == User.id,
        UserSession.ended_at.is_(None),
    )
    return db.select(
        User, revoked.exists().label("revoked"), session_live.exists().label("session_live")
    ).where(User.public_id == db.bindparam("sub"))


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
