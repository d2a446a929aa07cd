"""Encode and decode tokens: functions of the keys, the lifetime and the clock.

Encoding takes the clock as an argument; decoding compares ``exp`` with the
system clock (time.time, which tests move with time-machine). The keys are a
KeySet (util/keys.py): each token names its key in the ``kid`` header, and
verification looks that name up among the configured keys only, checking the
token with that key's own algorithm.

Access tokens carry sub, admin, iat, exp and jti (all required), plus ``ver``, the
user's token version when issued (absent counts as 0), which "log out everywhere"
and a password change increase, and ``sid``, the login (UserSession) they belong
to. Every token names who issued it and for whom (``iss`` and ``aud``, RFC 8725
3.8-3.10): a Scope, checked through PyJWT's own ``issuer`` and ``audience``.
Refresh tokens are JWTs of their own type, with an audience of their own, signed
with a key derived from the secret for that purpose only, so neither kind of token
ever verifies where the other is expected.

A refused token raises TokenError with a ``kind`` (EXPIRED or INVALID); the words
the client reads live with the HTTP errors (api/errors.py).
"""

import time
import uuid
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple

import jwt

from flask_api_tutorial.util.key_util import HS256, secret_keys

# Headers that point at a key somewhere else: we never fetch or use one, and we
# never issue one, so a token that carries one is refused.
KEY_LOCATING_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c"})
REQUIRED_CLAIMS = ("sub", "admin", "iat", "exp", "jti")
REFRESH_CLAIMS = ("sub", "typ", "fam", "ver", "iat", "exp", "jti")
REFRESH_TYPE = "refresh"
SCOPE_CLAIMS = ("iss", "aud")
SESSION_CLAIM = "sid"
# Claims that tokens of earlier versions lack: required of every token issued since
# (see Scope.unscoped_before).
ACCESS_UPGRADE_CLAIMS = (*SCOPE_CLAIMS, SESSION_CLAIM)
REFRESH_UPGRADE_CLAIMS = SCOPE_CLAIMS
JTI_MAX_LENGTH = 64
# Claims that reach SQL as text, and how long each may be.
TEXT_CLAIMS = {"sub": 255, "jti": JTI_MAX_LENGTH, "fam": 255, SESSION_CLAIM: 64}
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


class Scope(NamedTuple):
    """Who issues one kind of token and for whom: its ``iss`` and ``aud`` claims.

    A token carries every audience of ``audience``; one of them must be expected.
    ``unscoped_before`` (a POSIX time, or None): a token that lacks claims added
    since (``iss`` and ``aud``; ``sid`` in access tokens) and was issued before it,
    by a version before those claims, is accepted until it expires; one issued
    later never is.
    """

    issuer: str
    audience: tuple
    unscoped_before: float | None = None

    def claims(self):
        """Return the claims a token of this scope carries."""
        audience = self.audience[0] if len(self.audience) == 1 else list(self.audience)
        return {"iss": self.issuer, "aud": audience}


def new_jti():
    """Return a fresh, unique token id."""
    return uuid.uuid4().hex


def _keyset(keys):
    """Accept a KeySet, or a bare secret string (one HS256 key) for scripts and tests."""
    return secret_keys(keys) if isinstance(keys, str) else keys


def _sign(payload, keys, headers=None):
    signer = _keyset(keys).signer
    return jwt.encode(
        payload,
        signer.signing_key,
        algorithm=signer.algorithm,
        headers={"kid": signer.kid, **(headers or {})},
    )


def encode_access_token(
    public_id, admin, keys, lifetime, now, version=0, scope=None, session_id=None
):
    """Return an access token for the user ``public_id``, signed by the KeySet's signer.

    ``lifetime`` is a timedelta and ``now`` an aware datetime: passing them in keeps
    expiry testable without waiting. ``scope`` (a Scope) names issuer and audience,
    ``session_id`` the login; without them the token names none of them, as the
    tokens of earlier versions.
    """
    payload = {
        **(scope.claims() if scope else {}),
        "sub": public_id,
        "admin": bool(admin),
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": new_jti(),
        "ver": version,
    }
    if session_id is not None:
        payload[SESSION_CLAIM] = session_id
    return _sign(payload, keys)


def decode_access_token(token, keys, scope=None):
    """Return the claims of a valid access token, or raise TokenError.

    The key is the one the ``kid`` header names (none: the HS256 secrets), with its
    own algorithm only, and all five claims are required, ``iss``, ``aud`` and
    ``sid`` too (``scope``'s; without a scope none of them is: scripts and tests). Every
    other failure (malformed, unknown kid, bad signature, wrong algorithm, wrong
    issuer or audience, wrong claim types) reads as invalid. A client sends the same
    token for its whole lifetime, so verified tokens are remembered (per process,
    the latest VERIFIED_CACHE_SIZE, keyed by token, KeySet and Scope); expiry is
    checked against the clock on every call.
    """
    claims = _verified_access_claims(token, _keyset(keys), scope)
    if claims["exp"] <= time.time():
        raise TokenError(EXPIRED)
    return dict(claims)


VERIFIED_CACHE_SIZE = 4096


@lru_cache(maxsize=VERIFIED_CACHE_SIZE)
def _verified_access_claims(token, keys, scope):
    """Verify signature, algorithm and claims once per (token, KeySet, Scope); not the expiry.

    Only successes are cached (a raised TokenError is not), so invalid tokens
    cannot fill the cache; the claims come back read-only.
    """
    claims = _decode(token, keys, REQUIRED_CLAIMS, ACCESS_UPGRADE_CLAIMS, scope, verify_exp=False)
    if not isinstance(claims.get("ver", 0), int) or not isinstance(claims["exp"], int):
        raise TokenError(INVALID)
    return MappingProxyType(claims)


def encode_refresh_token(public_id, family, version, jti, keys, lifetime, now, scope=None):
    """Return a refresh token signed by the refresh KeySet's signer (HS256, derived key)."""
    payload = {
        **(scope.claims() if scope else {}),
        "sub": public_id,
        "typ": REFRESH_TYPE,
        "fam": family,
        "ver": version,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": jti,
    }
    return _sign(payload, keys, headers={"typ": "refresh+jwt"})


def decode_refresh_token(token, keys, scope=None, verify_exp=True):
    """Return the claims of a refresh token (of ``scope``, if given), or raise TokenError."""
    claims = _decode(
        token, _keyset(keys), REFRESH_CLAIMS, REFRESH_UPGRADE_CLAIMS, scope, verify_exp=verify_exp
    )
    if claims["typ"] != REFRESH_TYPE or not isinstance(claims["ver"], int):
        raise TokenError(INVALID)
    return claims


def _decode(token, keys, required, upgrade, scope, verify_exp=True):
    # A JWT is ASCII; anything else (a lone surrogate would not even encode) is invalid.
    if not isinstance(token, str) or not token.isascii():
        raise TokenError(INVALID)
    claims = None
    for key, algorithm in _candidate_keys(token, keys):
        try:
            claims = _verify(token, key, algorithm, (required, upgrade), scope, verify_exp)
            break
        except jwt.InvalidSignatureError:
            continue  # a token without kid: the next secret may have signed it
        except jwt.ExpiredSignatureError:
            raise TokenError(EXPIRED) from None
        except jwt.InvalidTokenError:
            raise TokenError(INVALID) from None
    if claims is None:
        raise TokenError(INVALID)
    # Signed is not sane: a key holder's bug (or a leaked key) must still get a 401,
    # never a 5xx from a datetime or a database that refuses the value.
    for name, max_length in TEXT_CLAIMS.items():
        if name in claims and not _is_text(claims[name], max_length):
            raise TokenError(INVALID)
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not 0 < exp <= MAX_TIMESTAMP:
        raise TokenError(INVALID)
    return claims


def _verify(token, key, algorithm, claims_required, scope, verify_exp):
    """Return the claims of ``token`` as PyJWT verifies them, for ``scope`` if given.

    ``claims_required`` is (required, upgrade): the claims every token carries, and
    those added since that every token of this version carries too. A token that
    lacks one of the latter is accepted only while ``scope`` allows tokens issued
    before the upgrade (unscoped_before), and only when its ``iat`` says it was; the
    issuer and audience it does name are checked all the same.
    """
    required, upgrade = claims_required
    if scope is None:
        options = {"require": list(required), "verify_exp": verify_exp}
        return jwt.decode(token, key, algorithms=[algorithm], options=options)
    options = {"require": [*required, *upgrade], "verify_exp": verify_exp}
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            options=options,
            issuer=scope.issuer,
            audience=list(scope.audience),
        )
    except jwt.MissingRequiredClaimError as error:
        if error.claim not in upgrade or scope.unscoped_before is None:
            raise
    # Issued (it says) before the upgrade: verified again, requiring only the claims
    # of that version. Which of iss and aud it names is read unverified, only to
    # decide what PyJWT checks; the signature is verified with them.
    named = jwt.decode(token, options={"verify_signature": False})
    if ("iss" in named) != ("aud" in named):  # no version issued one without the other
        raise jwt.InvalidTokenError("iss and aud come together")
    options = {"require": list(required), "verify_exp": verify_exp}
    claims = jwt.decode(
        token,
        key,
        algorithms=[algorithm],
        options=options,
        issuer=scope.issuer if "iss" in named else None,
        audience=list(scope.audience) if "aud" in named else None,
    )
    issued = claims["iat"]
    valid_iat = isinstance(issued, int | float) and not isinstance(issued, bool)
    if not valid_iat or issued >= scope.unscoped_before:
        raise jwt.InvalidTokenError("not a token issued before the upgrade")
    return claims


def _candidate_keys(token, keys):
    """Return the (key, algorithm) pairs that may verify ``token``: chosen by its header.

    The kid is looked up among the configured keys, nothing else: it is never a
    path or a URL, and headers that locate keys elsewhere (jku, jwk, x5u, x5c)
    refuse the token. Without kid, the legacy secrets (HS256 only).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise TokenError(INVALID) from None
    if KEY_LOCATING_HEADERS & header.keys():
        raise TokenError(INVALID)
    if "kid" not in header:
        return [(secret, HS256) for secret in keys.legacy]
    key = keys.keys.get(header["kid"]) if isinstance(header["kid"], str) else None
    if key is None:
        raise TokenError(INVALID)
    return [(key.verifying_key, key.algorithm)]


def _is_text(value, max_length):
    """Return True for a non-empty string without NUL of at most ``max_length`` characters."""
    return isinstance(value, str) and 0 < len(value) <= max_length and "\x00" not in value
