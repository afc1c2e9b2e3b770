"""The built-in token issuer's key: encrypted at rest, and an older plaintext key upgraded."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jwt
import pytest
from jwt.algorithms import OKPAlgorithm

from cix.errors import InputError
from cix.keys import SignatureAlgorithm, generate_signing
from cix.node.auditing import MemoryAuditSink
from cix.node.service import Node, init_node
from tests.node_support import ENVIRON, PASSPHRASE, Clock

SEED = bytes(range(32))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _init(data_dir: Path) -> None:
    init_node(
        data_dir,
        party="CAN",
        agreements=("kor-can",),
        admin="root",
        environ=ENVIRON,
        audit=MemoryAuditSink(),
        clock=Clock(),
    )


def _open(data_dir: Path, environ: dict[str, str] = ENVIRON) -> Node:
    return Node.open(data_dir, environ=environ, audit=MemoryAuditSink(), clock=Clock())


def test_issuer_private_key_is_never_stored_in_clear(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    _init(data_dir)
    keys = data_dir / "keys"
    assert not (keys / "token-issuer.jwk").exists()
    private = (keys / "token-issuer.key").read_text(encoding="utf-8")
    assert "ENCRYPTED PRIVATE KEY" in private
    assert '"d"' not in private
    assert (keys / "token-issuer.key").stat().st_mode & 0o077 == 0


def test_tokens_verify_with_the_published_jwks(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    _init(data_dir)
    node = _open(data_dir)
    try:
        assert node.issuer is not None
        token = node.issuer.issue("root", ttl=300, now=node.clock())
        (jwk,) = node.verifier.jwks()["keys"]
        assert "d" not in jwk
        claims = jwt.decode(
            token,
            OKPAlgorithm.from_jwk(jwk),  # type: ignore[arg-type]
            algorithms=["EdDSA"],
            audience=node.settings.token_audience,
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
        assert claims["sub"] == "root"
        assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": jwk["kid"], "typ": "JWT"}
        assert node.verifier.verify(token, node.clock()) == "root"
    finally:
        node.close()


def test_locked_node_verifies_tokens_but_cannot_issue_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    _init(data_dir)
    unlocked = _open(data_dir)
    assert unlocked.issuer is not None
    token = unlocked.issuer.issue("root", ttl=300, now=unlocked.clock())
    unlocked.close()
    locked = Node.open(data_dir, environ={}, audit=MemoryAuditSink(), clock=Clock(), unlock=False)
    try:
        assert locked.issuer is None
        assert locked.verifier.verify(token, locked.clock()) == "root"
    finally:
        locked.close()


def test_wrong_passphrase_does_not_unlock_the_issuer(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    _init(data_dir)
    with pytest.raises(InputError):
        _open(data_dir, {"CIX_PASSPHRASE": PASSPHRASE + "x"})


def _plant_legacy_jwk(data_dir: Path) -> dict[str, str]:
    """Replace the issuer key by the plaintext JWK an older cix wrote."""
    keys = data_dir / "keys"
    (keys / "token-issuer.key").unlink()
    (keys / "token-issuer.pub").unlink()
    key = OKPAlgorithm().prepare_key(
        b"-----BEGIN PRIVATE KEY-----\n"
        + base64.encodebytes(bytes.fromhex("302e020100300506032b657004220420") + SEED)
        + b"-----END PRIVATE KEY-----\n"
    )
    public = json.loads(OKPAlgorithm.to_jwk(key.public_key()))  # type: ignore[union-attr]
    legacy = {"kty": "OKP", "crv": "Ed25519", "x": public["x"], "d": _b64url(SEED), "kid": "old"}
    (keys / "token-issuer.jwk").write_text(json.dumps(legacy), encoding="utf-8")
    return legacy


def test_plaintext_issuer_key_of_an_older_node_is_refused_until_upgraded(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    _init(data_dir)
    _plant_legacy_jwk(data_dir)
    with pytest.raises(InputError, match="cix init --dir"):
        _open(data_dir)


def test_init_upgrade_encrypts_the_older_plaintext_issuer_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    _init(data_dir)
    legacy = _plant_legacy_jwk(data_dir)
    init_node(data_dir, party=None, environ=ENVIRON, audit=MemoryAuditSink(), clock=Clock())
    keys = data_dir / "keys"
    assert not (keys / "token-issuer.jwk").exists()
    assert "ENCRYPTED PRIVATE KEY" in (keys / "token-issuer.key").read_text(encoding="utf-8")
    node = _open(data_dir)
    try:
        # The same key signs on: the public half is unchanged.
        assert node.verifier.jwks()["keys"][0]["x"] == legacy["x"]
        assert node.issuer is not None
        assert node.verifier.verify(
            node.issuer.issue("root", ttl=60, now=node.clock()), node.clock()
        )
    finally:
        node.close()


def test_issuer_refuses_a_non_ed25519_key() -> None:
    from cix.node.tokens import TokenIssuer

    with pytest.raises(InputError, match="Ed25519"):
        TokenIssuer(generate_signing(SignatureAlgorithm.ML_DSA_65), "iss", "aud", 60)
