"""Signing keys: the KeySet of each kind of token, kids, key files, new keys, the JWKS.

Keys come in a KeySet per kind of token, built once at start-up (config.py): the
key that signs and every key that still verifies, each named by its ``kid``.
Access tokens are signed with SECRET_KEY (HS256) or a private key (EdDSA, RS256)
whose public keys other services may fetch as a JWKS; refresh tokens always with a
key derived from SECRET_KEY, so that only this server can check them.
SECRET_KEY_FALLBACKS (and retired public keys) keep older tokens valid through a
rotation. The tokens themselves are util/jwt_util.py's.
"""

import base64
import hashlib
import hmac
import json
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

HS256 = "HS256"
EDDSA = "EdDSA"
RS256 = "RS256"
ALGORITHMS = (HS256, EDDSA, RS256)
ASYMMETRIC_ALGORITHMS = (EDDSA, RS256)
RSA_MIN_BITS = 2048
RSA_DEFAULT_BITS = 3072
SIGNER = "signer"
ACCEPTED = "accepted"


class KeyConfigError(ValueError):
    """A key cannot be used as configured (config.py turns it into a ConfigError)."""


class Key(NamedTuple):
    """One key: its ``kid``, the one algorithm it works with, and what it is for.

    ``verifying_key`` is an HS256 secret or a public key; ``signing_key`` the
    secret or the private key, on the signer only. ``source`` names the setting it
    came from (for ``flask keys list``), never its value.
    """

    kid: str
    algorithm: str
    role: str
    source: str
    verifying_key: object
    signing_key: object = None

    def __repr__(self):
        """Name the key without its material: a secret must not reach a log or a traceback."""
        return f"Key(kid={self.kid!r}, algorithm={self.algorithm!r}, role={self.role!r})"

    def public_jwk(self):
        """Return the public key as a JWK (RFC 7517), or None for a secret."""
        if self.algorithm == HS256:
            return None
        return {**_jwk(self.verifying_key), "kid": self.kid, "alg": self.algorithm, "use": "sig"}


class KeySet:
    """The keys of one kind of token: the one that signs, and every one that verifies.

    ``legacy`` holds the HS256 secrets tried, in order, for tokens without ``kid``
    (issued before tokens carried one). Compared and hashed by identity: the
    verified-token cache is keyed by it.
    """

    def __init__(self, signer, accepted=(), legacy=()):
        """Index the keys by kid; a kid listed twice keeps its first (the signer's) role."""
        keys = {}
        for key in (signer, *accepted):
            keys.setdefault(key.kid, key)
        self.signer = signer
        self.keys = MappingProxyType(keys)
        self.legacy = tuple(dict.fromkeys(legacy))

    def __iter__(self):
        """Iterate over the keys, the signer first."""
        return iter(self.keys.values())

    @property
    def jwks(self):
        """Return the public keys that verify, as a JWK Set; secrets are never in it."""
        return {"keys": [jwk for jwk in (key.public_jwk() for key in self) if jwk]}


def secret_kid(secret):
    """Return the kid of an HS256 secret: a short keyed hash that reveals nothing of it."""
    digest = hmac.new(_bytes(secret), b"flask_api_tutorial kid", hashlib.sha256).digest()
    return _b64(digest[:12])


def public_kid(public_key):
    """Return the RFC 7638 thumbprint of a public key: SHA-256 of its required members."""
    jwk = _jwk(public_key)
    required = ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("e", "kty", "n")
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode()).digest())


def secret_key(secret, role, source):
    """Return the Key of an HS256 secret."""
    return Key(secret_kid(secret), HS256, role, source, secret, secret if role == SIGNER else None)


def public_key(key, role, source):
    """Return the verifying Key of a public key (or of a private key's public part)."""
    algorithm = key_algorithm(key, source)
    if hasattr(key, "private_bytes"):
        key = key.public_key()
    return Key(public_kid(key), algorithm, role, source, key)


def private_key(key, source):
    """Return the signing Key of a private key."""
    algorithm = key_algorithm(key, source)
    verifying = key.public_key()
    return Key(public_kid(verifying), algorithm, SIGNER, source, verifying, key)


def key_algorithm(key, source):
    """Return the algorithm a key works with (Ed25519: EdDSA; RSA: RS256), or refuse it."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return EDDSA
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < RSA_MIN_BITS:
            raise KeyConfigError(
                f"{source}: the RSA key has {key.key_size} bits; "
                f"at least {RSA_MIN_BITS} are needed"
            )
        return RS256
    raise KeyConfigError(f"{source}: only Ed25519 (EdDSA) and RSA (RS256) keys are supported")


def load_pem(path, source):
    """Return the key in the PEM file ``path``: a private key if it holds one, else public."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise KeyConfigError(f"{source}={path} cannot be read: {error.strerror}") from None
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyConfigError(f"{source}={path} is encrypted; give an unencrypted PEM") from None
    except ValueError:
        pass
    try:
        return serialization.load_pem_public_key(data)
    except ValueError:
        raise KeyConfigError(f"{source}={path} is not a PEM private or public key") from None


def build_keys(
    algorithm,
    secret,
    fallbacks=(),
    private_key_file=None,
    public_key_files=(),
    accept_secret_key=False,
):
    """Return (access KeySet, refresh KeySet) for the settings, or raise KeyConfigError.

    HS256: SECRET_KEY signs; its fallbacks and any retired public keys verify.
    EdDSA/RS256: the private key signs; its public key and the retired ones verify;
    SECRET_KEY and its fallbacks only while ``accept_secret_key`` (a switch from
    HS256). Tokens without kid are checked against the secrets, HS256 only, when
    secrets are accepted. Refresh tokens: keys derived from the secrets, HS256.
    """
    secrets = [
        secret_key(value, SIGNER if n == 0 else ACCEPTED, _secret_source(n))
        for n, value in enumerate((secret, *fallbacks))
    ]
    retired = [
        public_key(
            load_pem(path, "JWT_PUBLIC_KEY_FILES"), ACCEPTED, f"JWT_PUBLIC_KEY_FILES={path}"
        )
        for path in public_key_files
    ]
    if algorithm == HS256:
        access = KeySet(secrets[0], secrets[1:] + retired, [key.verifying_key for key in secrets])
    else:
        signing = load_pem(private_key_file, "JWT_PRIVATE_KEY_FILE")
        if not hasattr(signing, "private_bytes"):
            raise KeyConfigError(
                f"JWT_PRIVATE_KEY_FILE={private_key_file} holds a public key; "
                "the signer must be a private key"
            )
        signer = private_key(signing, f"JWT_PRIVATE_KEY_FILE={private_key_file}")
        if signer.algorithm != algorithm:
            raise KeyConfigError(
                f"JWT_ALGORITHM={algorithm} but JWT_PRIVATE_KEY_FILE={private_key_file} "
                f"holds a key for {signer.algorithm}"
            )
        accepted = retired + ([_as_accepted(key) for key in secrets] if accept_secret_key else [])
        legacy = [key.verifying_key for key in secrets] if accept_secret_key else []
        access = KeySet(signer, accepted, legacy)
    derived = [
        secret_key(refresh_key(key.verifying_key), key.role, f"refresh key of {key.source}")
        for key in secrets
    ]
    refresh = KeySet(derived[0], derived[1:], [key.verifying_key for key in derived])
    return access, refresh


@lru_cache(maxsize=64)
def secret_keys(secret):
    """Return the KeySet of one HS256 secret (what a bare string key stands for)."""
    return KeySet(secret_key(secret, SIGNER, "SECRET_KEY"), legacy=[secret])


def generate_private_key(algorithm, bits=RSA_DEFAULT_BITS):
    """Return (PEM bytes, kid) of a new private key for ``algorithm`` (EdDSA or RS256)."""
    if algorithm == EDDSA:
        key = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == RS256:
        if bits < RSA_MIN_BITS:
            raise KeyConfigError(f"RSA keys need at least {RSA_MIN_BITS} bits")
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        raise KeyConfigError(f"cannot generate keys for {algorithm}")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, public_kid(key.public_key())


def _as_accepted(key):
    return key._replace(role=ACCEPTED, signing_key=None)


def _secret_source(n):
    return "SECRET_KEY" if n == 0 else f"SECRET_KEY_FALLBACKS #{n}"


def _jwk(public_key):
    """Return the key's public members only (kty and crv/x or n/e).

    PyJWT adds key_ops to RSA keys; RFC 7517 advises against key_ops beside use.
    """
    algorithm = OKPAlgorithm if isinstance(public_key, ed25519.Ed25519PublicKey) else RSAAlgorithm
    jwk = algorithm.to_jwk(public_key, as_dict=True)
    return {name: jwk[name] for name in ("kty", "crv", "x", "n", "e") if name in jwk}


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _bytes(secret):
    return secret if isinstance(secret, bytes) else secret.encode()


def refresh_key(secret_key):
    """Derive the refresh-token signing key from SECRET_KEY (once, at start-up)."""
    return hmac.new(secret_key.encode(), b"refresh-token", hashlib.sha256).hexdigest()


def derived_key(secret_key, purpose):
    """Return a key for ``purpose`` (bytes) derived from SECRET_KEY: one key, one use."""
    return hmac.new(secret_key.encode(), purpose, hashlib.sha256).digest()
