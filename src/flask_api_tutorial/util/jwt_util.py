"""Encode and decode access tokens: pure functions of the key, the lifetime and the clock."""

import uuid

import jwt

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("sub", "admin", "iat", "exp", "jti")
JTI_MAX_LENGTH = 64

TOKEN_EXPIRED = "Access token expired. Please log in again."
TOKEN_BLACKLISTED = "Token blacklisted. Please log in again."
TOKEN_INVALID = "Invalid token. Please log in again."


class TokenError(Exception):
    """A token was refused; ``message`` is the one the client is told."""

    def __init__(self, message):
        """Keep the client-facing message."""
        super().__init__(message)
        self.message = message


def encode_access_token(public_id, admin, key, lifetime, now):
    """Return a signed HS256 access token for the user ``public_id``.

    ``lifetime`` is a timedelta and ``now`` an aware datetime: passing them in keeps
    expiry testable without waiting.
    """
    payload = {
        "sub": public_id,
        "admin": bool(admin),
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def decode_access_token(token, key):
    """Return the claims of a valid access token, or raise TokenError.

    Only HS256 is accepted and all five claims are required; every other failure
    (malformed, bad signature, wrong algorithm, wrong claim types) reads as invalid.
    """
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError(TOKEN_EXPIRED) from None
    except jwt.InvalidTokenError:
        raise TokenError(TOKEN_INVALID) from None
    if not (isinstance(claims["sub"], str) and isinstance(claims["jti"], str)):
        raise TokenError(TOKEN_INVALID)
    if not claims["jti"] or len(claims["jti"]) > JTI_MAX_LENGTH:
        raise TokenError(TOKEN_INVALID)
    return claims
