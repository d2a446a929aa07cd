"""Key rotation under gunicorn: instances mid-rotation accept each other's tokens.

Each test serves one database with instances configured as the steps of README's
"Rotating keys" leave them, logs in on each, and sends every token to every
instance: a token is checked with the key its ``kid`` names, a retired key's tokens
are refused, and refresh tokens follow SECRET_KEY whatever signs access tokens.
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from flask_api_tutorial.util import key_util
from tests.support.paths import AUTH_LOGIN, AUTH_REFRESH, AUTH_USER
from tests.support.servers import TEST_SECRET_KEY, GunicornServer
from tests.util import EMAIL, PASSWORD, REFRESH_INVALID, TOKEN_INVALID, challenge

pytestmark = [pytest.mark.served]

TIMEOUT = 30
JWKS = "/.well-known/jwks.json"
OLD_SECRET = "old-rotation-secret-key-0123456789abcdef"
NEW_SECRET = "new-rotation-secret-key-0123456789abcdef"
UNKNOWN_SECRET = "a-secret-no-instance-is-given-0123456789"
# Members that only a private (or secret) JWK has: none may ever be published.
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
# Every key setting, set: nothing leaks in from the environment running the tests.
KEY_SETTINGS = {
    "SECRET_KEY": TEST_SECRET_KEY,
    "SECRET_KEY_FALLBACKS": "",
    "JWT_ALGORITHM": "",
    "JWT_PRIVATE_KEY_FILE": "",
    "JWT_PUBLIC_KEY_FILES": "",
    "JWT_ACCEPT_SECRET_KEY": "",
}
# Another service: the README's example (PyJWT alone), run against a live server.
README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_verifier(server):
    """Return the README's verifying-service example, aimed at ``server``, as a script.

    The script prints the ``sub`` of the token in its first argument, or fails.
    """
    section = README.read_text().split("## Verifying tokens in another service", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    assert "https://api.example.com/.well-known/jwks.json" in example
    aimed = example.replace("https://api.example.com/.well-known", f"{server.url}/.well-known")
    aimed = aimed.replace("https://api.example.com", server.env["PUBLIC_BASE_URL"])
    return f"{aimed}\nimport sys\n\nprint(verify(sys.argv[1])['sub'])\n"


def _hs256(secret, *fallbacks):
    """Return the settings of an HS256 instance: ``secret`` signs, ``fallbacks`` verify."""
    return {**KEY_SETTINGS, "SECRET_KEY": secret, "SECRET_KEY_FALLBACKS": ",".join(fallbacks)}


def _eddsa(private_key_file, *public_key_files, accept_secret_key=""):
    """Return the settings of an EdDSA instance signing with ``private_key_file``."""
    return {
        **KEY_SETTINGS,
        "JWT_ALGORITHM": "EdDSA",
        "JWT_PRIVATE_KEY_FILE": str(private_key_file),
        "JWT_PUBLIC_KEY_FILES": ",".join(str(path) for path in public_key_files),
        "JWT_ACCEPT_SECRET_KEY": accept_secret_key,
    }


@contextmanager
def _serving(database_url, *settings):
    """Serve ``database_url`` with one instance per settings, started and stopped together."""
    servers = [GunicornServer(database_url, workers=1, threads=4, **env) for env in settings]
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(GunicornServer.start, servers))
        yield servers
    finally:
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(GunicornServer.stop, servers))


def _request(method, server, path, token=None, json=None):
    # Without keep-alive, stopping an instance does not wait for idle connections.
    headers = {"Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = server.url + path
    return requests.request(method, url, json=json, headers=headers, timeout=TIMEOUT)


def _login(server):
    response = _request("POST", server, AUTH_LOGIN, json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["access_token"], body["refresh_token"]


def _refreshed(server, refresh_token):
    """Refresh on ``server``, which must accept ``refresh_token``; return the new pair."""
    response = _request("POST", server, AUTH_REFRESH, json={"refresh_token": refresh_token})
    assert response.status_code == 200, (server.url, response.text)
    body = response.json()
    assert body["message"] == "successfully refreshed"
    assert response.headers["Cache-Control"] == "no-store"
    return body["access_token"], body["refresh_token"]


def _assert_accepted(servers, token):
    """Check that every one of ``servers`` answers GET /auth/user with ``token``."""
    for server in servers:
        response = _request("GET", server, AUTH_USER, token)
        assert response.status_code == 200, (server.url, response.text)
        assert response.json()["email"] == EMAIL


def _assert_refused(response, message):
    assert response.status_code == 401, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"message": message}
    assert response.headers["WWW-Authenticate"] == challenge(message)


def _assert_invalid(servers, token):
    """Check that every one of ``servers`` refuses ``token`` as invalid."""
    for server in servers:
        _assert_refused(_request("GET", server, AUTH_USER, token), TOKEN_INVALID)


def _signed_by(token):
    """Return (alg, kid) of the token's header: which key signed it, with what."""
    header = jwt.get_unverified_header(token)
    return header["alg"], header.get("kid")


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def _refresh_kid(secret):
    """Return the kid of the refresh key derived from ``secret``."""
    return key_util.secret_kid(key_util.refresh_key(secret))


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _thumbprint(jwk):
    """Return the RFC 7638 thumbprint of an Ed25519 JWK (RFC 8037): crv, kty, x in order."""
    members = json.dumps({name: jwk[name] for name in ("crv", "kty", "x")}, separators=(",", ":"))
    return _b64(hashlib.sha256(members.encode()).digest())


def _ed25519_key(directory, name):
    """Write a new Ed25519 private key and its public key as PEM files.

    Return (private key file, public key file, kid, the raw public key as JWK "x").
    """
    pem, kid = key_util.generate_private_key("EdDSA")
    public = serialization.load_pem_private_key(pem, password=None).public_key()
    assert kid == key_util.public_kid(public)
    private_file, public_file = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    private_file.write_bytes(pem)
    public_file.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private_file, public_file, kid, _b64(raw)


def _assert_jwks(server, expected):
    """Check the JWKS of ``server``: exactly the public keys ``expected`` ({kid: x})."""
    response = _request("GET", server, JWKS)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert {jwk["kid"]: jwk["x"] for jwk in keys} == expected
    assert len(keys) == len(expected)
    for jwk in keys:
        assert not PRIVATE_JWK_MEMBERS & jwk.keys(), jwk
        assert jwk == {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": jwk["x"],
            "kid": _thumbprint(jwk),
            "alg": "EdDSA",
            "use": "sig",
        }


def test_hs256_rotation_across_two_instances(served_database):
    old_kid, new_kid = key_util.secret_kid(OLD_SECRET), key_util.secret_kid(NEW_SECRET)
    assert old_kid != new_kid
    # Before the rotation: the old secret alone signs.
    with _serving(served_database, _hs256(OLD_SECRET)) as (before,):
        access_before, refresh_before = _login(before)
    assert _signed_by(access_before) == ("HS256", old_kid)
    assert _signed_by(refresh_before) == ("HS256", _refresh_kid(OLD_SECRET))

    # Mid-rotation: A signs with the new secret, B still with the old; each accepts both.
    with _serving(
        served_database, _hs256(NEW_SECRET, OLD_SECRET), _hs256(OLD_SECRET, NEW_SECRET)
    ) as (a, b):
        access_a, refresh_a = _login(a)
        access_b, refresh_b = _login(b)
        assert _signed_by(access_a) == ("HS256", new_kid)
        assert _signed_by(access_b) == ("HS256", old_kid)
        assert _signed_by(refresh_a) == ("HS256", _refresh_kid(NEW_SECRET))
        assert _signed_by(refresh_b) == ("HS256", _refresh_kid(OLD_SECRET))
        for token in (access_before, access_a, access_b):
            _assert_accepted((a, b), token)
        # The kid chooses the key: signed with the old secret but naming the new one's
        # kid, or naming no configured key, a token is refused by A, which knows both.
        claims = _claims(access_b)
        for kid in (new_kid, key_util.secret_kid(UNKNOWN_SECRET)):
            forged = jwt.encode(claims, OLD_SECRET, algorithm="HS256", headers={"kid": kid})
            _assert_invalid((a,), forged)
        # A refresh token from before the rotation refreshes on A, into new-signed tokens;
        # one from A refreshes on B, where the new secret is the fallback.
        access_refreshed, refresh_refreshed = _refreshed(a, refresh_before)
        assert _signed_by(access_refreshed) == ("HS256", new_kid)
        assert _signed_by(refresh_refreshed) == ("HS256", _refresh_kid(NEW_SECRET))
        assert _signed_by(_refreshed(b, refresh_a)[0]) == ("HS256", old_kid)
        # A secret is never published.
        response = _request("GET", a, JWKS)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/json"
        assert set(response.json()) == {"message"}

    # Retired: both instances sign with and accept the new secret only.
    with _serving(served_database, _hs256(NEW_SECRET), _hs256(NEW_SECRET)) as retired:
        for token in (access_before, access_b):
            _assert_invalid(retired, token)
        for token in (access_a, access_refreshed):
            _assert_accepted(retired, token)
        # refresh_b, never used, was signed with the old secret's refresh key.
        response = _request("POST", retired[0], AUTH_REFRESH, json={"refresh_token": refresh_b})
        _assert_refused(response, REFRESH_INVALID)
        _refreshed(retired[1], refresh_refreshed)


def test_eddsa_rotation_across_two_instances(served_database, tmp_path):
    old_private, old_public, old_kid, old_x = _ed25519_key(tmp_path, "old")
    new_private, _, new_kid, new_x = _ed25519_key(tmp_path, "new")
    refresh_kid = _refresh_kid(TEST_SECRET_KEY)
    with _serving(served_database, _eddsa(old_private)) as (before,):
        access_before, refresh_before = _login(before)
    assert _signed_by(access_before) == ("EdDSA", old_kid)

    # Mid-rotation. A retired key may be given by its public PEM (A) or by its private
    # PEM (B), of which only the public part is used: neither JWKS has a private member.
    with _serving(
        served_database, _eddsa(new_private, old_public), _eddsa(old_private, new_private)
    ) as (a, b):
        for server in (a, b):
            _assert_jwks(server, {old_kid: old_x, new_kid: new_x})
        access_a, refresh_a = _login(a)
        access_b, refresh_b = _login(b)
        assert _signed_by(access_a) == ("EdDSA", new_kid)
        assert _signed_by(access_b) == ("EdDSA", old_kid)
        # Refresh tokens are HS256 with the SECRET_KEY-derived key, on every instance.
        for token in (refresh_before, refresh_a, refresh_b):
            assert _signed_by(token) == ("HS256", refresh_kid)
        for token in (access_before, access_a, access_b):
            _assert_accepted((a, b), token)
        access_refreshed, _ = _refreshed(a, refresh_before)
        assert _signed_by(access_refreshed) == ("EdDSA", new_kid)

    # Retired: the old key is neither published nor accepted; SECRET_KEY did not change,
    # so refresh tokens issued before still refresh, into new-signed tokens.
    with _serving(served_database, _eddsa(new_private), _eddsa(new_private)) as retired:
        for server in retired:
            _assert_jwks(server, {new_kid: new_x})
        for token in (access_before, access_b):
            _assert_invalid(retired, token)
        for token in (access_a, access_refreshed):
            _assert_accepted(retired, token)
        for server, refresh_token in zip(retired, (refresh_b, refresh_a), strict=True):
            assert _signed_by(_refreshed(server, refresh_token)[0]) == ("EdDSA", new_kid)


def test_switch_from_hs256_to_eddsa(served_database, tmp_path):
    private, _, kid, x = _ed25519_key(tmp_path, "signing")
    with _serving(
        served_database,
        _hs256(TEST_SECRET_KEY),
        _eddsa(private, accept_secret_key="true"),
        _eddsa(private),  # JWT_ACCEPT_SECRET_KEY unset (empty)
        _eddsa(private, accept_secret_key="false"),
    ) as (hs256, accepting, *refusing):
        access, refresh = _login(hs256)
        assert _signed_by(access) == ("HS256", key_util.secret_kid(TEST_SECRET_KEY))
        # Issued before tokens carried a kid: checked against SECRET_KEY as well.
        without_kid = jwt.encode(_claims(access), TEST_SECRET_KEY, algorithm="HS256")
        for token in (access, without_kid):
            _assert_accepted((accepting,), token)
            _assert_invalid(refusing, token)
        # Accepting the secret does not publish it.
        _assert_jwks(accepting, {kid: x})
        # Refresh tokens keep their key through the switch, accepting the secret or not.
        access_eddsa, _ = _refreshed(refusing[0], refresh)
        assert _signed_by(access_eddsa) == ("EdDSA", kid)
        _assert_accepted((accepting, *refusing), access_eddsa)


def test_tokens_without_kid_are_checked_against_the_secrets(served_database):
    """Upgrading logs nobody out: tokens from before the kid verify with the secrets."""
    with _serving(served_database, _hs256(NEW_SECRET, OLD_SECRET), _hs256(NEW_SECRET)) as servers:
        rotating, retired = servers
        claims = _claims(_login(rotating)[0])
        signed_with = {
            secret: jwt.encode(claims, secret, algorithm="HS256")
            for secret in (NEW_SECRET, OLD_SECRET, UNKNOWN_SECRET)
        }
        for token in signed_with.values():
            assert "kid" not in jwt.get_unverified_header(token)
        # SECRET_KEY signed it: accepted by both; a fallback: by the instance that has it.
        _assert_accepted(servers, signed_with[NEW_SECRET])
        _assert_accepted((rotating,), signed_with[OLD_SECRET])
        _assert_invalid((retired,), signed_with[OLD_SECRET])
        _assert_invalid(servers, signed_with[UNKNOWN_SECRET])


def _verify_elsewhere(server, token, cwd):
    """Run the README's verifier in ``cwd``, a process without our settings; return its result."""
    return subprocess.run(
        [sys.executable, "-c", _readme_verifier(server), token],
        env={"PATH": os.defpath},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_another_service_verifies_tokens_with_the_jwks_alone(served_database, tmp_path):
    private, _, kid, _ = _ed25519_key(tmp_path, "signing")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with _serving(served_database, _eddsa(private)) as (server,):
        access, _ = _login(server)
        public_id = _request("GET", server, AUTH_USER, access).json()["public_id"]
        verified = _verify_elsewhere(server, access, elsewhere)
        assert verified.returncode == 0, verified.stderr
        assert verified.stdout == f"{public_id}\n"

        # Signed by a key the JWKS does not publish: under its own kid, no key is found;
        # under the published kid, the signature does not verify.
        stranger = ed25519.Ed25519PrivateKey.generate()
        stranger_kid = key_util.public_kid(stranger.public_key())
        for forged_kid, error in (
            (stranger_kid, "jwt.exceptions.PyJWKClientError"),
            (kid, "jwt.exceptions.InvalidSignatureError"),
        ):
            forged = jwt.encode(
                _claims(access), stranger, algorithm="EdDSA", headers={"kid": forged_kid}
            )
            refused = _verify_elsewhere(server, forged, elsewhere)
            assert refused.returncode != 0
            assert refused.stdout == ""
            assert error in refused.stderr, refused.stderr
            _assert_invalid((server,), forged)

        # Signed with the real key, for another audience or by another issuer (a
        # staging deployment sharing the key): refused there and here alike.
        signer = serialization.load_pem_private_key(private.read_bytes(), password=None)
        for changes, error in (
            ({"aud": "https://other.example.com/api/v1"}, "jwt.exceptions.InvalidAudienceError"),
            ({"iss": "https://staging.example.com"}, "jwt.exceptions.InvalidIssuerError"),
        ):
            forged = jwt.encode(
                {**_claims(access), **changes}, signer, algorithm="EdDSA", headers={"kid": kid}
            )
            refused = _verify_elsewhere(server, forged, elsewhere)
            assert refused.returncode != 0
            assert error in refused.stderr, refused.stderr
            _assert_invalid((server,), forged)
