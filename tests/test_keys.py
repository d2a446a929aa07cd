"""Token keys: kid lookup and its refusals, rotation, the JWKS, key settings, `flask keys`.

Attack tokens are built by hand (``_forge``): PyJWT refuses to make most of them (a
kid that is not a string, an HMAC keyed with a public key's PEM), and a refusal
proves something only if the attack is really attempted. A refused token is signed
with the real key and names the real kid unless the test is about the key or the
kid, and ``test_a_hand_built_token_is_accepted`` shows that such a token, without
the one fault each test adds, passes.
"""

import base64
import errno
import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from flask_api_tutorial import create_app
from flask_api_tutorial import db as _db
from flask_api_tutorial.cli import keys_cli
from flask_api_tutorial.config import DEV_SECRET_KEY, ConfigError, check_environment
from flask_api_tutorial.database import dispose_engines
from flask_api_tutorial.models import BlacklistedToken, RefreshToken, User
from flask_api_tutorial.util import key_util
from flask_api_tutorial.util.key_util import public_kid, refresh_key, secret_kid
from tests.support.databases import NO_DATABASE
from tests.support.paths import AUTH_LOGIN, AUTH_REFRESH, AUTH_REGISTER, AUTH_USER
from tests.support.servers import ROOT, GunicornServer
from tests.util import (
    AUDIENCE,
    EMAIL,
    ISSUER,
    PASSWORD,
    REFRESH_INVALID,
    TOKEN_INVALID,
    bearer,
    challenge,
)

SECRET = "current-secret-key-of-the-key-tests-0123456789"
PUBLIC_BASE_URL = "https://api.example.com"
# Production mails through SMTP and will not start without a server to send to.
MAIL_SERVER = "smtp.example.com"
OLD_SECRET = "previous-secret-key-of-the-key-tests-0123456789"
STRANGER_SECRET = "a-secret-this-server-never-had-0123456789abcdef"
JWKS = "/.well-known/jwks.json"
# The settings these tests give; the environment's own are removed for each test.
KEY_ENV = (
    "FLASK_APP",
    "FLASK_CONFIG",
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "JWT_ALGORITHM",
    "JWT_PRIVATE_KEY_FILE",
    "JWT_PUBLIC_KEY_FILES",
    "JWT_ACCEPT_SECRET_KEY",
    "DATABASE_URL",
)
# JWK members of private keys (RFC 7518 section 6) and of secrets ("k").
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
# The key each asymmetric algorithm signs with, and another of the same kind: a
# retired key, or an attacker's.
SIGNER_KEY = {"EdDSA": "ed25519", "RS256": "rsa"}
OTHER_KEY = {"EdDSA": "ed25519_other", "RS256": "rsa_other"}
START_TIMEOUT = 60
DROP = object()  # a header entry _token leaves out


class KeyFiles:
    """Keys made once per module, each written as a private and a public PEM file."""

    def __init__(self, folder):
        self.folder = folder
        self.keys = {}

    def add(self, name, key):
        """Write ``key`` as NAME.pem (PKCS 8, unencrypted) and NAME.pub.pem (SPKI)."""
        self.keys[name] = key
        Path(self.private(name)).write_bytes(_private_pem(key))
        Path(self.public(name)).write_bytes(_public_pem(key.public_key()))

    def private(self, name):
        """Return the path of the private PEM of ``name``."""
        return str(self.folder / f"{name}.pem")

    def public(self, name):
        """Return the path of the public PEM of ``name``."""
        return str(self.folder / f"{name}.pub.pem")

    def kid(self, name):
        """Return the kid of the key ``name``, computed here (RFC 7638)."""
        return _thumbprint(self.keys[name].public_key())

    def paths(self):
        """Return the placeholders of the settings tables: every file, and a missing one."""
        paths = {"missing": str(self.folder / "missing.pem"), "folder": str(self.folder)}
        for name in self.keys:
            paths[name] = self.private(name)
            paths[f"{name}_pub"] = self.public(name)
        for name in ("not_a_key", "empty", "encrypted"):
            paths[name] = str(self.folder / f"{name}.pem")
        return paths


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Return the module's KeyFiles: RSA keys are slow to make, so they are made once."""
    files = KeyFiles(tmp_path_factory.mktemp("keys"))
    files.add("ed25519", ed25519.Ed25519PrivateKey.generate())
    files.add("ed25519_other", ed25519.Ed25519PrivateKey.generate())
    files.add("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    files.add("rsa_other", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    files.add("rsa_1024", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    files.add("ec", ec.generate_private_key(ec.SECP256R1()))
    (files.folder / "not_a_key.pem").write_text("-----BEGIN NOTHING-----\nabc\n")
    (files.folder / "empty.pem").write_bytes(b"")
    (files.folder / "encrypted.pem").write_bytes(
        files.keys["ed25519"].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    return files


@pytest.fixture(autouse=True)
def key_env(monkeypatch):
    """Remove the key settings from the environment: each test gives its own."""
    for name in KEY_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def make_app(database):
    """Return a factory of testing apps with other settings, all on one database.

    Several apps on one database are one server restarted with other keys: tokens
    issued by the first are presented to the next.
    """
    apps = []

    def make(**settings):
        app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database, **settings})
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            _db.session.remove()
            dispose_engines()


# Keys, kids and tokens, computed here rather than with the code under test.


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _uint(value):
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _private_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_pem(public_key):
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _thumbprint(public_key):
    """Return the RFC 7638 thumbprint of a public key, from its numbers."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        x = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members = f'{{"crv":"Ed25519","kty":"OKP","x":"{_b64(x)}"}}'
    else:
        numbers = public_key.public_numbers()
        members = f'{{"e":"{_b64(_uint(numbers.e))}","kty":"RSA","n":"{_b64(_uint(numbers.n))}"}}'
    return _b64(hashlib.sha256(members.encode()).digest())


def _jwk_thumbprint(jwk):
    """Return the RFC 7638 thumbprint of a public JWK, from its required members."""
    required = ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("e", "kty", "n")
    members = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"))
    return _b64(hashlib.sha256(members.encode()).digest())


def _hmac_signer(secret):
    secret = secret if isinstance(secret, bytes) else secret.encode()
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def _signer(key):
    """Return the function that signs a JWS signing input as ``key``'s algorithm does."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign
    if isinstance(key, rsa.RSAPrivateKey):
        return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return _hmac_signer(key)


def _forge(header, claims, sign):
    """Return a JWS built by hand from any header, whatever PyJWT would allow."""
    encoded = (_b64(json.dumps(part).encode()) for part in (header, claims))
    signing_input = ".".join(encoded)
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def _claims(server):
    """Return the claims of a token of ``server``'s user, in the login of its access token."""
    now = int(time.time())
    return {
        "sub": server.public_id,
        "admin": False,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "ver": 0,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sid": _unverified(server.access)["sid"],
    }


def _unverified(token):
    return jwt.decode(token, options={"verify_signature": False})


# Requests and what they may change.


def _register(app, email=EMAIL):
    """Register a user on ``app``; return (access token, refresh token)."""
    response = app.test_client().post(AUTH_REGISTER, json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return body["access_token"], body["refresh_token"]


def _login(app, email=EMAIL):
    response = app.test_client().post(AUTH_LOGIN, json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return body["access_token"], body["refresh_token"]


def _get_user(app, token):
    return app.test_client().get(AUTH_USER, headers=bearer(token))


def _refresh(app, token):
    return app.test_client().post(AUTH_REFRESH, json={"refresh_token": token})


def _state(app):
    """Return what a request could change: users, revoked and refresh tokens."""
    with app.app_context():
        session = _db.session
        return (
            session.execute(
                _db.select(User.public_id, User.token_version, User.admin).order_by(User.id)
            ).all(),
            session.scalars(_db.select(BlacklistedToken.jti).order_by(BlacklistedToken.jti)).all(),
            session.execute(
                _db.select(
                    RefreshToken.jti, RefreshToken.used_at, RefreshToken.revoked_at
                ).order_by(RefreshToken.jti)
            ).all(),
        )


def _assert_401(response, message=TOKEN_INVALID):
    assert response.status_code == 401
    assert response.content_type == "application/json"
    assert response.get_json() == {"message": message}
    assert response.headers["WWW-Authenticate"] == challenge(message)


def _assert_refused(server, token, message=TOKEN_INVALID, refresh=False):
    """Check that ``token`` gets the 401 ``message`` and changes nothing."""
    before = _state(server.app)
    if refresh:
        _assert_401(_refresh(server.app, token), message)
    else:
        _assert_401(_get_user(server.app, token), message)
    assert _state(server.app) == before
    assert _get_user(server.app, server.access).status_code == 200


# Servers: an app signing with one algorithm, a registered user, and its real key.


def _server(make_app, keys, algorithm, **settings):
    """Return an app signing with ``algorithm``, its user's tokens and its real key."""
    settings.setdefault("SECRET_KEY", SECRET)
    if algorithm == "HS256":
        app = make_app(**settings)
        signing_key, kid = settings["SECRET_KEY"], secret_kid(settings["SECRET_KEY"])
    else:
        name = SIGNER_KEY[algorithm]
        app = make_app(
            JWT_ALGORITHM=algorithm, JWT_PRIVATE_KEY_FILE=keys.private(name), **settings
        )
        signing_key, kid = keys.keys[name], keys.kid(name)
    access, refresh = _register(app)
    return SimpleNamespace(
        app=app,
        algorithm=algorithm,
        kid=kid,
        sign=_signer(signing_key),
        access=access,
        refresh=refresh,
        public_id=_unverified(access)["sub"],
    )


def _token(server, sign=None, **header):
    """Return a token of ``server``'s user built by hand: its key and kid, unless changed.

    ``header`` entries replace or add to alg and kid; DROP leaves one out.
    """
    fields = {"alg": server.algorithm, "kid": server.kid, **header}
    fields = {name: value for name, value in fields.items() if value is not DROP}
    return _forge(fields, _claims(server), sign or server.sign)


@pytest.fixture(params=["HS256", "EdDSA", "RS256"])
def server(request, make_app, keys):
    """Return a server of each algorithm."""
    return _server(make_app, keys, request.param)


@pytest.fixture(params=["EdDSA", "RS256"])
def algorithm(request):
    """Return each asymmetric algorithm."""
    return request.param


# The baseline of the refusals.


def test_a_hand_built_token_is_accepted(server):
    """The control of the refusals below: only what each one changes makes it fail."""
    assert jwt.get_unverified_header(server.access) == {
        "alg": server.algorithm,
        "kid": server.kid,
        "typ": "JWT",
    }
    response = _get_user(server.app, _token(server))
    assert response.status_code == 200
    assert response.get_json()["public_id"] == server.public_id


# Refusals: the kid.


def test_a_kid_that_names_no_configured_key_is_refused(server):
    """Signed with the real key: only the kid, exactly looked up, makes each one fail."""
    for kid in (
        "no-such-key",
        "../../etc/passwd",
        "https://attacker.example/.well-known/jwks.json",
        "",
        f"{server.kid}\x00",
        server.kid.swapcase(),
        f" {server.kid}",
        server.kid[:-1],
    ):
        _assert_refused(server, _token(server, kid=kid))


def test_a_kid_that_is_not_a_string_is_refused(server):
    """Built by hand: PyJWT makes no such token. A list or object is never a 5xx."""
    for kid in (7, 1.5, True, None, [server.kid], {"kid": server.kid}):
        _assert_refused(server, _token(server, kid=kid))


def test_a_kid_never_loads_the_attackers_key(server, keys, tmp_path):
    """Tokens of a key the attacker holds, named by a path, a URL or its own kid.

    Were the kid ever read as a file, each of these would pass: the file holds the
    key that signed the token (for /dev/null: HS256 with an empty key).
    """
    if server.algorithm == "HS256":
        key_file = tmp_path / "attacker.key"
        key_file.write_text(STRANGER_SECRET)
        sign, own_kid = _hmac_signer(STRANGER_SECRET), secret_kid(STRANGER_SECRET)
    else:
        name = OTHER_KEY[server.algorithm]
        key_file = Path(keys.public(name))
        sign, own_kid = _signer(keys.keys[name]), keys.kid(name)
    up_to_root = "../" * (len(Path.cwd().parts) + 2)
    for kid in (
        str(key_file),
        up_to_root + str(key_file).lstrip("/"),
        key_file.as_uri(),
        own_kid,
    ):
        _assert_refused(server, _token(server, sign=sign, kid=kid))
    null_device = _token(server, sign=_hmac_signer(b""), alg="HS256", kid=up_to_root + "dev/null")
    _assert_refused(server, null_device)


def _served_jwks(app):
    response = app.test_client().get(JWKS)
    assert response.status_code == 200
    return response.get_json()["keys"]


@pytest.mark.parametrize("name", ["jku", "jwk", "x5u", "x5c"])
def test_a_header_that_locates_a_key_elsewhere_is_refused(server, name):
    """Signed with the real key under the real kid: only the header makes it fail.

    The jwk is even the server's own published key (HS256: a stranger's secret).
    """
    if server.algorithm == "HS256":
        jwk = {"kty": "oct", "k": _b64(STRANGER_SECRET.encode())}
    else:
        [jwk] = [key for key in _served_jwks(server.app) if key["kid"] == server.kid]
    value = {
        "jku": "https://attacker.example/.well-known/jwks.json",
        "jwk": jwk,
        "x5u": "https://attacker.example/signer.pem",
        "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    }[name]
    _assert_refused(server, _token(server, **{name: value}))


# Refusals: the algorithm.


@pytest.mark.parametrize("with_kid", [True, False], ids=["kid", "no kid"])
def test_an_unsigned_token_is_refused(server, with_kid):
    kid = server.kid if with_kid else DROP
    for alg in ("none", "None", "NONE"):
        _assert_refused(server, _token(server, sign=lambda data: b"", alg=alg, kid=kid))
    _assert_refused(server, _token(server, alg=DROP, kid=kid))  # no alg at all


@pytest.mark.parametrize("accept_secret_key", [False, True], ids=["default", "accepting secrets"])
@pytest.mark.parametrize("with_kid", [True, False], ids=["signer kid", "no kid"])
def test_hs256_keyed_with_the_public_key_is_refused(
    make_app, keys, algorithm, with_kid, accept_secret_key
):
    """Algorithm confusion: the public key, which anyone may fetch, as an HMAC secret.

    In each form it is published or written: the PEM file, without its final
    newline, DER, and the JWK the JWKS serves.
    """
    server = _server(make_app, keys, algorithm, JWT_ACCEPT_SECRET_KEY=accept_secret_key)
    pem = Path(keys.public(SIGNER_KEY[algorithm])).read_bytes()
    der = (
        keys.keys[SIGNER_KEY[algorithm]]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    [jwk] = _served_jwks(server.app)
    kid = server.kid if with_kid else DROP
    for hmac_key in (pem, pem.strip(), der, json.dumps(jwk).encode()):
        token = _token(server, sign=_hmac_signer(hmac_key), alg="HS256", kid=kid)
        _assert_refused(server, token)


def test_hs256_keyed_with_a_retired_public_key_is_refused(make_app, keys):
    """An HS256 server that still accepts a retired EdDSA key never uses it as a secret."""
    server = _server(make_app, keys, "HS256", JWT_PUBLIC_KEY_FILES=[keys.public("ed25519")])
    pem = Path(keys.public("ed25519")).read_bytes()
    kid = keys.kid("ed25519")
    _assert_refused(server, _token(server, sign=_hmac_signer(pem), alg="HS256", kid=kid))
    # The control: the retired key verifies its own tokens.
    accepted = _token(server, sign=_signer(keys.keys["ed25519"]), alg="EdDSA", kid=kid)
    assert _get_user(server.app, accepted).status_code == 200


@pytest.mark.parametrize("accept_secret_key", [False, True], ids=["default", "accepting secrets"])
def test_hs256_under_the_signers_kid_is_refused(make_app, keys, algorithm, accept_secret_key):
    """The real SECRET_KEY, under the private key's kid: a kid allows one algorithm only."""
    server = _server(make_app, keys, algorithm, JWT_ACCEPT_SECRET_KEY=accept_secret_key)
    _assert_refused(server, _token(server, sign=_hmac_signer(SECRET), alg="HS256"))
    # The control: under its own kid, the secret is accepted exactly when configured so.
    own = _token(server, sign=_hmac_signer(SECRET), alg="HS256", kid=secret_kid(SECRET))
    assert _get_user(server.app, own).status_code == (200 if accept_secret_key else 401)


def test_the_signers_algorithm_under_the_secrets_kid_is_refused(make_app, keys, algorithm):
    server = _server(make_app, keys, algorithm, JWT_ACCEPT_SECRET_KEY=True)
    _assert_refused(server, _token(server, kid=secret_kid(SECRET)))


@pytest.mark.parametrize("alg", ["RS512", "PS256"])
def test_another_algorithm_of_the_rsa_key_is_refused(make_app, keys, alg):
    """The real RSA key under its real kid, with another RSA algorithm than RS256."""
    server = _server(make_app, keys, "RS256")
    key = keys.keys["rsa"]
    pad, digest = {
        "RS512": (padding.PKCS1v15(), hashes.SHA512()),
        "PS256": (padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()),
    }[alg]
    _assert_refused(server, _token(server, sign=lambda data: key.sign(data, pad, digest), alg=alg))


@pytest.mark.parametrize("accept_secret_key", [False, True], ids=["default", "accepting secrets"])
def test_a_token_of_the_private_key_without_kid_is_refused(
    make_app, keys, algorithm, accept_secret_key
):
    """Tokens without kid are from before kids: HS256 with a secret, or nothing."""
    server = _server(make_app, keys, algorithm, JWT_ACCEPT_SECRET_KEY=accept_secret_key)
    _assert_refused(server, _token(server, kid=DROP))


# Refusals: one kind of token where the other is expected.


def test_a_refresh_token_is_not_an_access_token(server):
    _assert_refused(server, server.refresh)


def test_an_access_token_is_not_a_refresh_token(server):
    _assert_refused(server, server.access, REFRESH_INVALID, refresh=True)
    assert _refresh(server.app, server.refresh).status_code == 200  # the control


# Acceptance: rotation and the upgrade from tokens without kid.


@pytest.mark.parametrize(
    ("secret", "accepted"),
    [(SECRET, True), (OLD_SECRET, True), (STRANGER_SECRET, False)],
    ids=["SECRET_KEY", "fallback", "unknown secret"],
)
def test_tokens_without_kid_from_before_the_upgrade(make_app, keys, secret, accepted):
    """HS256: a token issued before tokens named their key is checked with each secret."""
    server = _server(make_app, keys, "HS256", SECRET_KEY_FALLBACKS=[OLD_SECRET])
    token = jwt.encode(_claims(server), secret, algorithm="HS256")
    assert "kid" not in jwt.get_unverified_header(token)
    if accepted:
        assert _get_user(server.app, token).status_code == 200
    else:
        _assert_refused(server, token)


@pytest.mark.parametrize("with_kid", [False, True], ids=["no kid", "kid"])
@pytest.mark.parametrize("secret", [SECRET, OLD_SECRET], ids=["SECRET_KEY", "fallback"])
@pytest.mark.parametrize("accept_secret_key", [False, True], ids=["default", "accepting"])
def test_secret_tokens_after_a_switch_to_eddsa(
    make_app, keys, accept_secret_key, secret, with_kid
):
    """EdDSA refuses HS256 tokens of SECRET_KEY and its fallbacks unless told to accept them."""
    server = _server(
        make_app,
        keys,
        "EdDSA",
        SECRET_KEY_FALLBACKS=[OLD_SECRET],
        JWT_ACCEPT_SECRET_KEY=accept_secret_key,
    )
    headers = {"kid": secret_kid(secret)} if with_kid else None
    token = jwt.encode(_claims(server), secret, algorithm="HS256", headers=headers)
    if accept_secret_key:
        assert _get_user(server.app, token).status_code == 200
    else:
        _assert_refused(server, token)


def test_tokens_of_a_fallback_secret_are_accepted_until_it_is_retired(make_app):
    """A restart with a new SECRET_KEY keeps the old one's tokens while it is a fallback."""
    before = make_app(SECRET_KEY=OLD_SECRET)
    access, _ = _register(before)
    assert jwt.get_unverified_header(access)["kid"] == secret_kid(OLD_SECRET)

    during = make_app(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=[OLD_SECRET])
    assert _get_user(during, access).status_code == 200
    issued, _ = _login(during)
    assert jwt.get_unverified_header(issued)["kid"] == secret_kid(SECRET)

    after = make_app(SECRET_KEY=SECRET)
    retired = SimpleNamespace(app=after, access=issued)
    _assert_refused(retired, access)


@pytest.mark.parametrize(
    ("before", "after"),
    [("EdDSA", "EdDSA"), ("RS256", "RS256"), ("RS256", "EdDSA")],
    ids=["EdDSA", "RS256", "RS256 to EdDSA"],
)
def test_tokens_of_a_retired_private_key_are_accepted_until_it_is_removed(
    make_app, keys, before, after
):
    old, new = OTHER_KEY[before], SIGNER_KEY[after]
    old_app = make_app(JWT_ALGORITHM=before, JWT_PRIVATE_KEY_FILE=keys.private(old))
    access, _ = _register(old_app)
    assert jwt.get_unverified_header(access) == {"alg": before, "kid": keys.kid(old), "typ": "JWT"}

    settings = {"JWT_ALGORITHM": after, "JWT_PRIVATE_KEY_FILE": keys.private(new)}
    during = make_app(**settings, JWT_PUBLIC_KEY_FILES=[keys.public(old)])
    assert _get_user(during, access).status_code == 200

    after_app = make_app(**settings)
    issued, _ = _login(after_app)
    _assert_refused(SimpleNamespace(app=after_app, access=issued), access)


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
def test_end_to_end(make_app, keys, algorithm):
    """Register, log in, refresh: each access token opens /auth/user; kid is the thumbprint."""
    key_file = keys.private(SIGNER_KEY[algorithm])
    app = make_app(JWT_ALGORITHM=algorithm, JWT_PRIVATE_KEY_FILE=key_file)
    private_key = serialization.load_pem_private_key(Path(key_file).read_bytes(), None)
    kid = _thumbprint(private_key.public_key())
    registered, _ = _register(app)
    logged_in, refresh = _login(app)
    refreshed = _refresh(app, refresh).get_json()["access_token"]
    for token in (registered, logged_in, refreshed):
        assert jwt.get_unverified_header(token) == {"alg": algorithm, "kid": kid, "typ": "JWT"}
        response = _get_user(app, token)
        assert response.status_code == 200
        assert response.get_json()["email"] == EMAIL


@pytest.mark.parametrize("algorithm", ["HS256", "EdDSA"])
def test_refresh_tokens_follow_the_secret_through_a_rotation(make_app, keys, algorithm):
    """Refresh tokens of an old SECRET_KEY refresh while it is a fallback, whatever signs."""
    before = make_app(SECRET_KEY=OLD_SECRET)
    _, first = _register(before)
    _, second = _login(before)

    settings = {"SECRET_KEY": SECRET}
    if algorithm == "EdDSA":
        settings.update(JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=keys.private("ed25519"))
    during = make_app(**settings, SECRET_KEY_FALLBACKS=[OLD_SECRET])
    response = _refresh(during, first)
    assert response.status_code == 200
    assert _get_user(during, response.get_json()["access_token"]).status_code == 200
    fresh = response.get_json()["refresh_token"]

    after = make_app(**settings)
    issued, _ = _login(after)
    _assert_refused(
        SimpleNamespace(app=after, access=issued), second, REFRESH_INVALID, refresh=True
    )
    assert _refresh(after, fresh).status_code == 200  # signed with the new SECRET_KEY


# Kids: RFC 7638 thumbprints for public keys, a keyed hash for secrets.


@pytest.mark.parametrize("name", ["ed25519", "rsa", "rsa_other"])
def test_public_kid_is_the_rfc_7638_thumbprint(keys, name):
    public = keys.keys[name].public_key()
    assert public_kid(public) == _thumbprint(public)


def test_public_kid_of_the_rfc_7638_example_key():
    """RFC 7638 section 3.1: the RSA key of RFC 7517 appendix A.1 and its thumbprint."""
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
        "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4v"
        "MQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    numbers = rsa.RSAPublicNumbers(e=65537, n=int.from_bytes(_b64decode(n), "big"))
    assert public_kid(numbers.public_key()) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_public_kid_of_the_rfc_8037_example_key():
    """RFC 8037 appendix A.3: the Ed25519 key of appendix A.2 and its thumbprint."""
    x = _b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    public = ed25519.Ed25519PublicKey.from_public_bytes(x)
    assert public_kid(public) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize("secret", [SECRET, OLD_SECRET, "x" * 32, "é" * 40])
def test_secret_kid_reveals_nothing_of_the_secret(secret):
    kid = secret_kid(secret)
    assert 0 < len(kid) <= 22
    assert kid == secret_kid(secret)  # the same on every instance and after a restart
    for length in range(4, len(secret) + 1):
        assert secret[:length] not in kid
    assert _b64(secret.encode())[:6] not in kid


def test_secret_kids_differ_between_secrets():
    secrets = [SECRET, OLD_SECRET, STRANGER_SECRET, SECRET + "x", SECRET[:-1]]
    assert len({secret_kid(secret) for secret in secrets}) == len(secrets)


def test_an_hs256_token_names_its_secret_by_secret_kid(make_app, keys):
    server = _server(make_app, keys, "HS256")
    header, payload, _ = server.access.split(".")
    assert json.loads(_b64decode(header)) == {
        "alg": "HS256",
        "kid": secret_kid(SECRET),
        "typ": "JWT",
    }
    for part in (header, payload):
        assert SECRET not in _b64decode(part).decode()


# The JWKS.


def _assert_public_jwks(response, kids):
    """Check a JWKS response: cacheable, exactly ``kids``, public members only."""
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    jwks = response.get_json()
    assert set(jwks) == {"keys"}
    assert sorted(jwk["kid"] for jwk in jwks["keys"]) == sorted(kids)
    for jwk in jwks["keys"]:
        assert jwk["use"] == "sig"
        assert (jwk["kty"], jwk["alg"]) in {("OKP", "EdDSA"), ("RSA", "RS256")}
        assert not PRIVATE_MEMBERS & set(jwk), jwk
        assert jwk["kid"] == _jwk_thumbprint(jwk)
    return jwks


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
def test_jwks_publishes_the_signer_and_the_retired_keys(make_app, keys, algorithm):
    """Public parts only, even of a retired key given as its private PEM, each key once.

    Another service verifies the API's tokens with it, as the README shows.
    """
    signer, retired = SIGNER_KEY[algorithm], OTHER_KEY[algorithm]
    cross = "ed25519_other" if algorithm == "RS256" else "rsa_other"
    app = make_app(
        JWT_ALGORITHM=algorithm,
        JWT_PRIVATE_KEY_FILE=keys.private(signer),
        JWT_PUBLIC_KEY_FILES=[keys.private(retired), keys.public(cross), keys.public(signer)],
    )
    response = app.test_client().get(JWKS)
    jwks = _assert_public_jwks(response, [keys.kid(signer), keys.kid(retired), keys.kid(cross)])
    for name in (signer, retired):
        private_pem = Path(keys.private(name)).read_text()
        assert private_pem.splitlines()[1] not in response.get_data(as_text=True)

    access, _ = _register(app)
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(access)["kid"]]
    claims = jwt.decode(access, key.key, algorithms=[algorithm], issuer=ISSUER, audience=AUDIENCE)
    assert claims["sub"] == _unverified(access)["sub"]


def test_jwks_never_publishes_a_secret(make_app, keys):
    app = make_app(
        SECRET_KEY=SECRET,
        SECRET_KEY_FALLBACKS=[OLD_SECRET],
        JWT_ALGORITHM="EdDSA",
        JWT_PRIVATE_KEY_FILE=keys.private("ed25519"),
        JWT_ACCEPT_SECRET_KEY=True,
    )
    response = app.test_client().get(JWKS)
    _assert_public_jwks(response, [keys.kid("ed25519")])
    text = response.get_data(as_text=True)
    assert '"oct"' not in text
    for secret in (SECRET, OLD_SECRET):
        for value in (secret, _b64(secret.encode()), secret_kid(secret)):
            assert value not in text


def test_jwks_is_not_found_with_hs256(make_app, keys):
    """Nothing to publish, and a secret never is: the ordinary 404, retired keys or not."""
    app = make_app(
        SECRET_KEY=SECRET,
        SECRET_KEY_FALLBACKS=[OLD_SECRET],
        JWT_PUBLIC_KEY_FILES=[keys.public("ed25519")],
    )
    client = app.test_client()
    response = client.get(JWKS)
    not_found = client.get("/.well-known/no-such-document")
    assert response.status_code == not_found.status_code == 404
    assert response.content_type == "application/json"
    assert response.get_json() == not_found.get_json()
    assert "public" not in response.headers.get("Cache-Control", "")
    text = response.get_data(as_text=True)
    for value in (SECRET, OLD_SECRET, keys.kid("ed25519"), "keys"):
        assert value not in text


# Key settings that stop start-up. Each case is environment values ({name}: a file of
# KeyFiles.paths()) and the fragments the message must hold.

BAD_KEY_SETTINGS = [
    pytest.param(
        {"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "{missing}"},
        ["JWT_PRIVATE_KEY_FILE={missing} cannot be read: No such file or directory"],
        id="missing file",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "{folder}"},
        ["JWT_PRIVATE_KEY_FILE={folder} cannot be read: Is a directory"],
        id="a folder",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "{not_a_key}"},
        ["JWT_PRIVATE_KEY_FILE={not_a_key} is not a PEM private or public key"],
        id="not a PEM",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "RS256", "JWT_PRIVATE_KEY_FILE": "{empty}"},
        ["JWT_PRIVATE_KEY_FILE={empty} is not a PEM private or public key"],
        id="empty file",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "{encrypted}"},
        ["JWT_PRIVATE_KEY_FILE={encrypted} is encrypted"],
        id="encrypted PEM",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "{ed25519_pub}"},
        ["JWT_PRIVATE_KEY_FILE={ed25519_pub} holds a public key", "must be a private key"],
        id="Ed25519 public key as signer",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "RS256", "JWT_PRIVATE_KEY_FILE": "{rsa_pub}"},
        ["JWT_PRIVATE_KEY_FILE={rsa_pub} holds a public key", "must be a private key"],
        id="RSA public key as signer",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "{rsa}"},
        ["JWT_ALGORITHM=EdDSA but JWT_PRIVATE_KEY_FILE={rsa} holds a key for RS256"],
        id="RSA key for EdDSA",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "RS256", "JWT_PRIVATE_KEY_FILE": "{ed25519}"},
        ["JWT_ALGORITHM=RS256 but JWT_PRIVATE_KEY_FILE={ed25519} holds a key for EdDSA"],
        id="Ed25519 key for RS256",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "RS256", "JWT_PRIVATE_KEY_FILE": "{rsa_1024}"},
        ["JWT_PRIVATE_KEY_FILE", "the RSA key has 1024 bits; at least 2048 are needed"],
        id="RSA 1024",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "{ec}"},
        ["JWT_PRIVATE_KEY_FILE", "only Ed25519 (EdDSA) and RSA (RS256) keys are supported"],
        id="EC P-256 key",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "HS512"},
        ["JWT_ALGORITHM='HS512' is not one of: HS256, EdDSA, RS256"],
        id="HS512",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "none"},
        ["JWT_ALGORITHM='none' is not one of: HS256, EdDSA, RS256"],
        id="none",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "ES256", "JWT_PRIVATE_KEY_FILE": "{ec}"},
        ["JWT_ALGORITHM='ES256' is not one of: HS256, EdDSA, RS256"],
        id="ES256",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "eddsa", "JWT_PRIVATE_KEY_FILE": "{ed25519}"},
        ["JWT_ALGORITHM='eddsa' is not one of: HS256, EdDSA, RS256"],
        id="eddsa in lower case",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "EdDSA"},
        ["JWT_ALGORITHM=EdDSA needs JWT_PRIVATE_KEY_FILE"],
        id="EdDSA without a key",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "RS256", "JWT_PUBLIC_KEY_FILES": "{rsa_pub}"},
        ["JWT_ALGORITHM=RS256 needs JWT_PRIVATE_KEY_FILE"],
        id="RS256 with retired keys only",
    ),
    pytest.param(
        {"JWT_PRIVATE_KEY_FILE": "{ed25519}"},
        ["JWT_PRIVATE_KEY_FILE is set but JWT_ALGORITHM=HS256 signs with SECRET_KEY"],
        id="HS256 by default with a key",
    ),
    pytest.param(
        {"JWT_ALGORITHM": "HS256", "JWT_PRIVATE_KEY_FILE": "{rsa}"},
        ["JWT_PRIVATE_KEY_FILE is set but JWT_ALGORITHM=HS256 signs with SECRET_KEY"],
        id="HS256 with a key",
    ),
    pytest.param(
        {"JWT_PUBLIC_KEY_FILES": "{not_a_key}"},
        ["JWT_PUBLIC_KEY_FILES={not_a_key} is not a PEM private or public key"],
        id="retired: not a PEM",
    ),
    pytest.param(
        {
            "JWT_ALGORITHM": "EdDSA",
            "JWT_PRIVATE_KEY_FILE": "{ed25519}",
            "JWT_PUBLIC_KEY_FILES": "{ed25519_other_pub},{missing}",
        },
        ["JWT_PUBLIC_KEY_FILES={missing} cannot be read: No such file or directory"],
        id="retired: second missing",
    ),
    pytest.param(
        {"JWT_PUBLIC_KEY_FILES": "{rsa_1024_pub}"},
        ["{rsa_1024_pub}", "the RSA key has 1024 bits; at least 2048 are needed"],
        id="retired: RSA 1024",
    ),
    pytest.param(
        {
            "JWT_ALGORITHM": "RS256",
            "JWT_PRIVATE_KEY_FILE": "{rsa}",
            "JWT_PUBLIC_KEY_FILES": "{ec_pub}",
        },
        ["{ec_pub}", "only Ed25519 (EdDSA) and RSA (RS256) keys are supported"],
        id="retired: EC P-256",
    ),
]


def _filled(settings, keys):
    return {name: value.format(**keys.paths()) for name, value in settings.items()}


def _overrides(environ):
    """Return environment values as app.config values: lists and booleans."""
    overrides = dict(environ)
    for name in ("SECRET_KEY_FALLBACKS", "JWT_PUBLIC_KEY_FILES"):
        if name in overrides:
            overrides[name] = overrides[name].split(",")
    if "JWT_ACCEPT_SECRET_KEY" in overrides:
        overrides["JWT_ACCEPT_SECRET_KEY"] = overrides["JWT_ACCEPT_SECRET_KEY"] == "true"
    return overrides


def _assert_message(error, fragments, keys):
    message = str(error.value)
    for fragment in fragments:
        assert fragment.format(**keys.paths()) in message, message


@pytest.mark.parametrize(("settings", "fragments"), BAD_KEY_SETTINGS)
def test_create_app_refuses_bad_key_settings(keys, settings, fragments):
    overrides = _overrides(_filled(settings, keys))
    with pytest.raises(ConfigError) as error:
        create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://", **overrides})
    _assert_message(error, fragments, keys)


@pytest.mark.parametrize(("settings", "fragments"), BAD_KEY_SETTINGS)
def test_check_environment_refuses_bad_key_settings(keys, settings, fragments):
    """What gunicorn's master checks before it forks: the production environment."""
    environ = {
        "FLASK_CONFIG": "production",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "MAIL_SERVER": MAIL_SERVER,
        "SECRET_KEY": SECRET,
        **_filled(settings, keys),
    }
    with pytest.raises(ConfigError) as error:
        check_environment(environ)
    _assert_message(error, fragments, keys)


def test_an_unreadable_key_file_stops_start_up(keys, tmp_path, monkeypatch):
    """A file the server may not read (tests run as root, so chmod cannot show it)."""
    key_file = tmp_path / "unreadable.pem"
    key_file.write_bytes(Path(keys.private("ed25519")).read_bytes())

    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(key_util, "open", refuse, raising=False)
    settings = {"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": str(key_file)}
    message = f"JWT_PRIVATE_KEY_FILE={key_file} cannot be read: Permission denied"
    with pytest.raises(ConfigError, match=message):
        create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://", **settings})
    with pytest.raises(ConfigError, match=message):
        check_environment({"FLASK_CONFIG": "development", **settings})


def test_jwt_accept_secret_key_must_be_a_boolean():
    with pytest.raises(ConfigError, match="JWT_ACCEPT_SECRET_KEY='maybe' is not true or false"):
        check_environment({"FLASK_CONFIG": "development", "JWT_ACCEPT_SECRET_KEY": "maybe"})


@pytest.mark.parametrize(
    ("fallbacks", "message"),
    [
        (["short-fallback"], "SECRET_KEY_FALLBACKS #1 must be at least 32 bytes in production"),
        (
            [OLD_SECRET, "changeme"],
            "SECRET_KEY_FALLBACKS #2 is a published placeholder; generate a new one",
        ),
        ([DEV_SECRET_KEY], "SECRET_KEY_FALLBACKS #1 is a published placeholder"),
        (
            ["replace-me-with-the-output-of-python-secrets-token-hex-32"],
            "SECRET_KEY_FALLBACKS #1 is a published placeholder",
        ),
    ],
    ids=["short", "placeholder second", "development key", "example key"],
)
def test_production_refuses_a_weak_fallback(tmp_path, fallbacks, message):
    """SECRET_KEY's rules apply to each fallback; the message never shows the value."""
    settings = {
        "SQLALCHEMY_DATABASE_URI": NO_DATABASE,
        "SECRET_KEY": SECRET,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "MAIL_SERVER": MAIL_SERVER,
    }
    with pytest.raises(ConfigError, match=message) as error:
        create_app("production", {**settings, "SECRET_KEY_FALLBACKS": fallbacks})
    environ = {
        "FLASK_CONFIG": "production",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "MAIL_SERVER": MAIL_SERVER,
        "SECRET_KEY": SECRET,
        "SECRET_KEY_FALLBACKS": " , ".join(fallbacks),
    }
    with pytest.raises(ConfigError, match=message) as from_environ:
        check_environment(environ)
    for value in fallbacks:
        assert value not in str(error.value)
        assert value not in str(from_environ.value)
    # The development configuration takes any fallback.
    assert check_environment({**environ, "FLASK_CONFIG": "development"})


def test_production_accepts_strong_fallbacks(tmp_path):
    app = create_app(
        "production",
        {
            "SQLALCHEMY_DATABASE_URI": NO_DATABASE,
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "MAIL_SERVER": MAIL_SERVER,
            "SECRET_KEY": SECRET,
            "SECRET_KEY_FALLBACKS": [OLD_SECRET, STRANGER_SECRET],
        },
    )
    kids = [key.kid for key in app.config["ACCESS_TOKEN_KEYS"]]
    assert kids == [secret_kid(SECRET), secret_kid(OLD_SECRET), secret_kid(STRANGER_SECRET)]
    _, config = check_environment(
        {
            "FLASK_CONFIG": "production",
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "MAIL_SERVER": MAIL_SERVER,
            "SECRET_KEY": SECRET,
            "SECRET_KEY_FALLBACKS": f" {OLD_SECRET}, {STRANGER_SECRET} ,",
        }
    )
    assert config["SECRET_KEY_FALLBACKS"] == [OLD_SECRET, STRANGER_SECRET]
    assert [key.kid for key in config["ACCESS_TOKEN_KEYS"]] == kids


# The same refusals stop the processes: flask and gunicorn.

# A fresh production set-up whose key file is not there yet.
MISSING_KEY = {"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "{missing}"}
MISSING_KEY_MESSAGE = "JWT_PRIVATE_KEY_FILE={missing} cannot be read: No such file or directory"


@pytest.mark.served
def test_a_missing_key_file_stops_flask(keys, tmp_path):
    environ = {
        **os.environ,
        "FLASK_CONFIG": "production",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "MAIL_SERVER": MAIL_SERVER,
        "SECRET_KEY": SECRET,
        "DATABASE_URL": NO_DATABASE,
        **_filled(MISSING_KEY, keys),
    }
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "run.py", "routes"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert result.returncode != 0
    assert f"Configuration error: {MISSING_KEY_MESSAGE.format(**keys.paths())}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.served
def test_a_missing_key_file_stops_gunicorn(keys, tmp_path):
    """Before any worker forks, as for every refused configuration."""
    server = GunicornServer(NO_DATABASE, SECRET_KEY=SECRET, **_filled(MISSING_KEY, keys))
    finished = server.run_refused()
    assert finished.returncode != 0
    assert f"Configuration error: {MISSING_KEY_MESSAGE.format(**keys.paths())}" in finished.stderr
    assert "Booting worker" not in finished.stderr


# flask keys generate: a plugin command, run without loading the app.


def _flask(args, cwd, environ, umask=-1):
    return subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        umask=umask,
    )


@pytest.mark.served
def test_keys_generate_on_a_fresh_setup(tmp_path):
    """The settings already name the file, so the app refuses to load until it exists.

    FLASK_APP is set, as in the README's shell: had the command loaded the app, it
    would stop with "Configuration error" before making the key.
    """
    key_file = tmp_path / "jwt-signing.pem"
    environ = {
        **os.environ,
        "FLASK_APP": str(ROOT / "run.py"),
        "FLASK_CONFIG": "production",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "MAIL_SERVER": MAIL_SERVER,
        "SECRET_KEY": SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
        "JWT_ALGORITHM": "EdDSA",
        "JWT_PRIVATE_KEY_FILE": str(key_file),
    }
    with pytest.raises(ConfigError, match="JWT_PRIVATE_KEY_FILE=.* cannot be read"):
        check_environment(environ)

    # With umask 0, a file created with the default mode would be readable by all.
    generate = ["keys", "generate", "--algorithm", "EdDSA", "--out", key_file.name]
    result = _flask(generate, tmp_path, environ, umask=0)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    pem = key_file.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    private_key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private_key, ed25519.Ed25519PrivateKey)
    kid = _thumbprint(private_key.public_key())
    assert result.stdout == f"{kid}\n"
    assert public_kid(private_key.public_key()) == kid
    assert "Configuration error" not in result.stderr

    again = _flask(generate, tmp_path, environ)
    assert again.returncode == 1
    assert f"{key_file.name} exists; refusing to overwrite it" in again.stderr
    assert again.stdout == ""
    assert key_file.read_bytes() == pem
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # The key now passes start-up's checks, and is the one that signs.
    _, config = check_environment(environ)
    assert config["ACCESS_TOKEN_KEYS"].signer.kid == kid


def test_keys_generate_rsa_is_3072_bits_by_default(tmp_path):
    key_file = tmp_path / "rsa.pem"
    # A umask without the owner's write bit: the mode is still set to exactly 0600.
    umask = os.umask(0o277)
    try:
        result = CliRunner().invoke(
            keys_cli, ["generate", "--algorithm", "RS256", "--out", str(key_file)]
        )
    finally:
        os.umask(umask)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    private_key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    assert private_key.key_size == 3072
    assert result.stdout == f"{_thumbprint(private_key.public_key())}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--algorithm", "RS256", "--bits", "1024"], "1024 is not in the range x>=2048"),
        (["--algorithm", "RS256", "--bits", "2047"], "2047 is not in the range x>=2048"),
        (["--algorithm", "HS256"], "'HS256' is not one of 'EdDSA', 'RS256'"),
        (["--algorithm", "none"], "'none' is not one of 'EdDSA', 'RS256'"),
        ([], "Missing option '--algorithm'"),
    ],
    ids=["RSA 1024", "RSA 2047", "HS256", "none", "no algorithm"],
)
def test_keys_generate_refuses_bad_options(tmp_path, args, message):
    key_file = tmp_path / "key.pem"
    result = CliRunner().invoke(keys_cli, ["generate", *args, "--out", str(key_file)])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert not key_file.exists()


def test_keys_generate_into_a_missing_folder(tmp_path):
    key_file = tmp_path / "no-such-folder" / "key.pem"
    result = CliRunner().invoke(
        keys_cli, ["generate", "--algorithm", "EdDSA", "--out", str(key_file)]
    )
    assert result.exit_code == 1
    assert f"cannot create {key_file}: No such file or directory" in result.stderr
    assert result.stdout == ""


# flask keys list: every kid and role, never a secret.


def _list_keys(**environ):
    """Run `flask keys list` in-process with only ``environ``'s key settings."""
    result = CliRunner().invoke(
        keys_cli,
        ["list"],
        env={
            "FLASK_CONFIG": "production",
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "MAIL_SERVER": MAIL_SERVER,
            **environ,
        },
    )
    rows = {tuple(line.split()[:4]) for line in result.stdout.splitlines()}
    return result, rows


def _assert_no_secret(result, secrets):
    """Check that no secret, nor its derived refresh key, nor a part of either, is printed."""
    for secret in secrets:
        for value in (secret, refresh_key(secret)):
            for start in range(0, len(value) - 12):
                assert value[start : start + 12] not in result.output


def test_keys_list_hs256_with_a_fallback():
    result, rows = _list_keys(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=OLD_SECRET)
    assert result.exit_code == 0, result.output
    assert {
        ("access", "signer", "HS256", secret_kid(SECRET)),
        ("access", "accepted", "HS256", secret_kid(OLD_SECRET)),
        ("refresh", "signer", "HS256", secret_kid(refresh_key(SECRET))),
        ("refresh", "accepted", "HS256", secret_kid(refresh_key(OLD_SECRET))),
    } <= rows
    assert "SECRET_KEY_FALLBACKS #1" in result.stdout
    _assert_no_secret(result, [SECRET, OLD_SECRET])


def test_keys_list_names_issuer_and_audiences():
    result, _ = _list_keys(
        SECRET_KEY=SECRET,
        JWT_AUDIENCE="https://api.example.com/api/v1,https://reports.example.com",
        JWT_UNSCOPED_BEFORE="2026-12-06T12:00:00Z",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"access   issuer   {PUBLIC_BASE_URL}" in lines
    assert "access   audience https://api.example.com/api/v1, https://reports.example.com" in lines
    assert f"refresh  audience {PUBLIC_BASE_URL}/api/v1/auth/refresh" in lines
    assert (
        "access   tokens without iss, aud or sid: accepted if issued before "
        "2026-12-06T12:00:00+00:00" in lines
    )


def test_keys_list_eddsa_with_retired_keys_and_secrets(keys):
    result, rows = _list_keys(
        SECRET_KEY=SECRET,
        SECRET_KEY_FALLBACKS=OLD_SECRET,
        JWT_ALGORITHM="EdDSA",
        JWT_PRIVATE_KEY_FILE=keys.private("ed25519"),
        JWT_PUBLIC_KEY_FILES=f"{keys.private('ed25519_other')},{keys.public('rsa_other')}",
        JWT_ACCEPT_SECRET_KEY="true",
    )
    assert result.exit_code == 0, result.output
    access = {row for row in rows if row[0] == "access" and row[1] in {"signer", "accepted"}}
    assert access == {
        ("access", "signer", "EdDSA", keys.kid("ed25519")),
        ("access", "accepted", "EdDSA", keys.kid("ed25519_other")),
        ("access", "accepted", "RS256", keys.kid("rsa_other")),
        ("access", "accepted", "HS256", secret_kid(SECRET)),
        ("access", "accepted", "HS256", secret_kid(OLD_SECRET)),
    }
    _assert_no_secret(result, [SECRET, OLD_SECRET])
    for name in ("ed25519", "ed25519_other"):
        for line in Path(keys.private(name)).read_text().splitlines()[1:-1]:
            assert line not in result.output


def test_keys_list_with_a_refused_configuration(keys):
    result, rows = _list_keys(SECRET_KEY=SECRET, **_filled(MISSING_KEY, keys))
    assert result.exit_code == 1
    assert f"Error: Configuration error: {MISSING_KEY_MESSAGE.format(**keys.paths())}" in (
        result.stderr
    )
    assert result.stdout == ""
    _assert_no_secret(result, [SECRET])
