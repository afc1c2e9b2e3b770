"""Bearer tokens of an external OIDC provider, verified against its JWKS served for real.

A ministry runs its own identity provider; the node is configured with `token_issuer` and
`token_jwks_url` and fetches the JWKS over HTTP. Here the provider is a real HTTP server on a
loopback port serving a JWKS of an ES256 (P-256) and an RS256 key, as Keycloak or Entra ID
publish them; the tests sign tokens with those keys (and with an attacker's) and send them
through the node's app.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio.from_thread
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cix.node.auditing import MemoryAuditSink
from tests.node_support import ENVIRON, ApiClient, Clock, assert_problem, make_node, seed_people

ISSUER = "https://idp.defence.example/realms/cix"
AUDIENCE = "cix-can"


class IdentityProvider:
    """A JWKS endpoint on a loopback port; the keys it publishes can change (rotation)."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                provider.fetches += 1
                body = json.dumps({"keys": provider.published()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def jwks_url(self) -> str:
        """Where the provider publishes its keys."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def add(self, kid: str, key: Any) -> None:
        """Publish `key`'s public half under `kid`."""
        self.keys[kid] = key

    def published(self) -> list[dict[str, Any]]:
        """The JWKS entries, public keys only."""
        out = []
        for kid, key in self.keys.items():
            if isinstance(key, ec.EllipticCurvePrivateKey):
                jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
                jwk.update(alg="ES256")
            else:
                jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
                jwk.update(alg="RS256")
            jwk.update(kid=kid, use="sig")
            out.append(jwk)
        return out

    def stop(self) -> None:
        """Stop answering."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider() -> Iterator[IdentityProvider]:
    """The external identity provider, serving on loopback."""
    idp = IdentityProvider()
    idp.add("ec-1", ec.generate_private_key(ec.SECP256R1()))
    idp.add("rsa-1", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    try:
        yield idp
    finally:
        idp.stop()


@pytest.fixture
def clock() -> Clock:
    """The node's clock."""
    return Clock()


@pytest.fixture
def cooldown() -> str:
    """`jwks_refresh_cooldown_seconds` of the node (its default unless a test overrides)."""
    return "30"


@pytest.fixture
def api(
    tmp_path: Path, provider: IdentityProvider, clock: Clock, cooldown: str
) -> Iterator[ApiClient]:
    """A CAN node that accepts only the external provider's tokens, with the cast seeded."""
    environ = {
        "CIX_JWKS_REFRESH_COOLDOWN_SECONDS": cooldown,
        **ENVIRON,
        "CIX_TOKEN_ISSUER": ISSUER,
        "CIX_TOKEN_JWKS_URL": provider.jwks_url,
        "CIX_TOKEN_AUDIENCE": AUDIENCE,
        "CIX_TOKEN_ALGORITHMS": "ES256,RS256",
    }
    node = make_node(tmp_path / "node", None, clock, MemoryAuditSink(), environ)
    seed_people(node)
    try:
        with anyio.from_thread.start_blocking_portal() as portal:
            client = ApiClient(node, portal)
            try:
                yield client
            finally:
                client.close()
    finally:
        node.close()


def token(
    key: Any,
    kid: str,
    now: Clock,
    *,
    sub: str = "alice",
    alg: str = "ES256",
    iss: str = ISSUER,
    aud: str = AUDIENCE,
    ttl: int = 300,
) -> str:
    """A token as the provider would sign it (or an attacker, given another key)."""
    issued = int(now().timestamp())
    claims = {"iss": iss, "aud": aud, "sub": sub, "iat": issued, "exp": issued + ttl}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def me(api: ApiClient, bearer: str) -> Any:
    """GET /me with `bearer`."""
    return api.get("/api/v1/me", headers={"Authorization": f"Bearer {bearer}"})


def test_node_has_no_builtin_issuer_when_an_external_one_is_configured(api: ApiClient) -> None:
    assert api.node.issuer is None


@pytest.mark.parametrize(("kid", "alg"), [("ec-1", "ES256"), ("rsa-1", "RS256")])
def test_token_of_the_external_provider_is_accepted(
    api: ApiClient, provider: IdentityProvider, clock: Clock, kid: str, alg: str
) -> None:
    response = me(api, token(provider.keys[kid], kid, clock, alg=alg))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "alice"
    assert provider.fetches >= 1


def test_token_signed_by_an_attacker_key_under_a_published_kid_is_refused(
    api: ApiClient, clock: Clock
) -> None:
    forged = token(ec.generate_private_key(ec.SECP256R1()), "ec-1", clock)
    assert_problem(me(api, forged), 401)


def test_token_with_a_kid_the_provider_never_published_is_refused(
    api: ApiClient, provider: IdentityProvider, clock: Clock
) -> None:
    assert_problem(me(api, token(provider.keys["ec-1"], "ec-unknown", clock)), 401)


def test_token_of_another_issuer_signed_with_a_trusted_key_is_refused(
    api: ApiClient, provider: IdentityProvider, clock: Clock
) -> None:
    other = token(provider.keys["ec-1"], "ec-1", clock, iss="https://idp.elsewhere.example/")
    assert_problem(me(api, other), 401)


def test_token_for_another_audience_is_refused(
    api: ApiClient, provider: IdentityProvider, clock: Clock
) -> None:
    assert_problem(me(api, token(provider.keys["ec-1"], "ec-1", clock, aud="cix-kor")), 401)


def test_hmac_token_keyed_with_the_public_key_is_refused(
    api: ApiClient, provider: IdentityProvider, clock: Clock
) -> None:
    # Algorithm confusion: an attacker signs HS256 with the provider's public RSA key as the
    # HMAC secret, hoping the verifier uses that key for whatever `alg` the header names.
    public_pem = (
        provider.keys["rsa-1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    issued = int(clock().timestamp())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": issued, "exp": issued + 60}
    header = {"kid": "rsa-1", "alg": "HS256", "typ": "JWT"}
    signing_input = b".".join(
        jwt.utils.base64url_encode(json.dumps(part, separators=(",", ":")).encode())
        for part in (header, claims)
    )
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()
    assert_problem(me(api, forged), 401)


def test_expired_external_token_is_refused(
    api: ApiClient, provider: IdentityProvider, clock: Clock
) -> None:
    bearer = token(provider.keys["ec-1"], "ec-1", clock, ttl=60)
    assert me(api, bearer).status_code == 200
    clock.advance(seconds=60 + api.node.settings.token_leeway_seconds + 1)
    assert_problem(me(api, bearer), 401)


@pytest.mark.parametrize("cooldown", ["0"])
def test_rotated_key_is_fetched_and_accepted(
    api: ApiClient, provider: IdentityProvider, clock: Clock
) -> None:
    assert me(api, token(provider.keys["ec-1"], "ec-1", clock)).status_code == 200
    fetched = provider.fetches
    provider.add("ec-2", ec.generate_private_key(ec.SECP256R1()))
    response = me(api, token(provider.keys["ec-2"], "ec-2", clock))
    assert response.status_code == 200, response.text
    assert provider.fetches == fetched + 1


def test_made_up_kids_cannot_make_the_node_hammer_the_provider(
    api: ApiClient, provider: IdentityProvider, clock: Clock
) -> None:
    assert me(api, token(provider.keys["ec-1"], "ec-1", clock)).status_code == 200
    fetched = provider.fetches
    api.reset_limiter()
    for i in range(5):
        assert_problem(me(api, token(provider.keys["ec-1"], f"made-up-{i}", clock)), 401)
    # Within the cooldown an unknown kid is refused from the cached set, without a fetch.
    assert provider.fetches == fetched


def test_token_for_a_person_not_in_the_registry_is_refused(
    api: ApiClient, provider: IdentityProvider, clock: Clock
) -> None:
    assert_problem(me(api, token(provider.keys["ec-1"], "ec-1", clock, sub="mallory")), 401)


def test_unreachable_provider_fails_closed(
    api: ApiClient, provider: IdentityProvider, clock: Clock
) -> None:
    bearer = token(provider.keys["ec-1"], "ec-unfetched", clock)
    provider.stop()
    response = me(api, bearer)
    assert_problem(response, 401)
