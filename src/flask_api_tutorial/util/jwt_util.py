"""Encode and decode tokens: functions of the key, the lifetime and the clock.

Encoding takes the clock as an argument; decoding compares ``exp`` with the
system clock (time.time, which tests move with time-machine).

Access tokens carry sub, admin, iat, exp and jti (all required), plus ``ver``, the
user's token version when issued (absent counts as 0), which "log out everywhere"
and a password change increase. Refresh tokens are JWTs of their own type, signed
with a key derived from the secret for that purpose only, so neither kind of token
ever verifies where the other is expected.

A refused token raises TokenError with a ``kind`` (EXPIRED or INVALID); the words
the client reads live with the HTTP errors (api/errors.py).
"""

import hashlib
import hmac
import time
import uuid
from functools import lru_cache
from types import MappingProxyType

import jwt

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("sub", "admin", "iat", "exp", "jti")
REFRESH_CLAIMS = ("sub", "typ", "fam", "ver", "iat", "exp", "jti")
REFRESH_TYPE = "refresh"
JTI_MAX_LENGTH = 64
# Claims that reach SQL as text, and how long each may be.
TEXT_CLAIMS = {"sub": 255, "jti": JTI_MAX_LENGTH, "fam": 255}
# 9999-12-31T23:59:59Z: a later exp cannot be a datetime (nor a database timestamp).
MAX_TIMESTAMP = 253402300799

# Why a token is refused: TokenError.kind. Decoding tells the first two; the token
# check (User.find_by_access_token) the others.
EXPIRED = "expired"
INVALID = "invalid"
REVOKED = "revoked"  # logged out: its jti is in the blacklist
SUPERSEDED = "superseded"  # issued before a logout-all or a password change
UNKNOWN_USER = "unknown_user"


class TokenError(Exception):
    """A token was refused; ``kind`` says why (EXPIRED, INVALID, REVOKED, ...)."""

    def __init__(self, kind, public_id=None):
        """Keep why, and whose token it was when that is known (for the audit log)."""
        super().__init__(kind)
        self.kind = kind
        self.public_id = public_id


def new_jti():
    """Return a fresh, unique token id."""
    return uuid.uuid4().hex


def encode_access_token(public_id, admin, key, lifetime, now, version=0):
    """Return a signed HS256 access token for the user ``public_id``.

    ``lifetime`` is a timedelta and ``now`` an aware datetime: passing them in keeps
    expiry testable without waiting.
    """
    payload = {
        "sub": public_id,
        "admin": bool(admin),
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": new_jti(),
        "ver": version,
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def decode_access_token(token, key):
    """Return the claims of a valid access token, or raise TokenError.

    Only HS256 is accepted and all five claims are required; every other failure
    (malformed, bad signature, wrong algorithm, wrong claim types) reads as invalid.
    A client sends the same token for its whole lifetime, so verified tokens are
    remembered (per process, the latest VERIFIED_CACHE_SIZE, keyed by token and key);
    expiry is checked against the clock on every call.
    """
    claims = _verified_access_claims(token, key)
    if claims["exp"] <= time.time():
        raise TokenError(EXPIRED)
    return dict(claims)


VERIFIED_CACHE_SIZE = 4096


@lru_cache(maxsize=VERIFIED_CACHE_SIZE)
def _verified_access_claims(token, key):
    """Verify signature, algorithm and claims once per (token, key); not the expiry.

    Only successes are cached (a raised TokenError is not), so invalid tokens
    cannot fill the cache; the claims come back read-only.
    """
    claims = _decode(token, key, REQUIRED_CLAIMS, verify_exp=False)
    if not isinstance(claims.get("ver", 0), int) or not isinstance(claims["exp"], int):
        raise TokenError(INVALID)
    return MappingProxyType(claims)


def refresh_key(secret_key):
    """Derive the refresh-token signing key from SECRET_KEY (once, at start-up)."""
    return hmac.new(secret_key.encode(), b"refresh-token", hashlib.sha256).hexdigest()


def encode_refresh_token(public_id, family, version, jti, key, lifetime, now):
    """Return a signed refresh token; ``key`` is refresh_key(SECRET_KEY)."""
    payload = {
        "sub": public_id,
        "typ": REFRESH_TYPE,
        "fam": family,
        "ver": version,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": jti,
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM, headers={"typ": "refresh+jwt"})


def decode_refresh_token(token, key, verify_exp=True):
    """Return the claims of a refresh token, or raise TokenError."""
    claims = _decode(token, key, REFRESH_CLAIMS, verify_exp=verify_exp)
    if claims["typ"] != REFRESH_TYPE or not isinstance(claims["ver"], int):
        raise TokenError(INVALID)
    return claims


def _decode(token, key, required, verify_exp=True):
    # A JWT is ASCII; anything else (a lone surrogate would not even encode) is invalid.
    if not isinstance(token, str) or not token.isascii():
        raise TokenError(INVALID)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": list(required), "verify_exp": verify_exp},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError(EXPIRED) from None
    except jwt.InvalidTokenError:
        raise TokenError(INVALID) from None
    # Signed is not sane: a key holder's bug (or a leaked key) must still get a 401,
    # never a 5xx from a datetime or a database that refuses the value.
    for name, max_length in TEXT_CLAIMS.items():
        if name in claims and not _is_text(claims[name], max_length):
            raise TokenError(INVALID)
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not 0 < exp <= MAX_TIMESTAMP:
        raise TokenError(INVALID)
    return claims


def _is_text(value, max_length):
    """Return True for a non-empty string without NUL of at most ``max_length`` characters."""
    return isinstance(value, str) and 0 < len(value) <= max_length and "\x00" not in value
