"""Federation messages: known answers, every check of the receiver, and a fuzzed parser."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from cix.audit.checkpoint import signer_from_seed
from cix.federation import (
    MessageRefusal,
    MessageRefused,
    NodeIdentity,
    PinnedPeer,
    canonical_json,
    new_message_id,
    read_identity,
    sign_identity,
    sign_message,
    verify_message,
)
from cix.keys import (
    KemAlgorithm,
    SignatureAlgorithm,
    SigningKey,
    generate_kem,
    generate_signing,
    kem_private_from_raw,
    signing_from_raw,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "federation" / "v1.json").read_text()
)
URL = "/federation/v1/messages"
NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
SKEW = timedelta(seconds=300)


def _identity(signer: SigningKey, node_id: str = "cix-kor", party: str = "KOR") -> NodeIdentity:
    return NodeIdentity(
        party=party,
        node_id=node_id,
        url=f"http://{node_id}.example",
        agreements=("kor-can",),
        signing_key=signer.public,
        kem_key=generate_kem(KemAlgorithm.X25519).public,
        audit_key=signer_from_seed(f"{node_id}/audit", bytes(32)).verifier,
        tls_fingerprint=None,
    )


KOR_KEY = generate_signing()
KOR = PinnedPeer(_identity(KOR_KEY), frozenset({"kor-can"}))


def _sign(signer: SigningKey = KOR_KEY, **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "sender": "cix-kor",
        "audience": "cix-can",
        "url": URL,
        "agreement": "kor-can",
        "kind": "transmission",
        "body": {"document": "d1"},
        "message_id": new_message_id(),
        "issued_at": NOW,
    }
    claims.update(overrides)
    return sign_message(signer, **claims)


def _verify(token: str, **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "peer": lambda node: KOR if node == "cix-kor" else None,
        "audience": "cix-can",
        "url": URL,
        "held_agreements": {"kor-can"},
        "now": NOW,
        "max_skew": SKEW,
    }
    args.update(overrides)
    return verify_message(token, **args)


def pad(text: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refusal(token: str, **overrides: Any) -> MessageRefusal:
    with pytest.raises(MessageRefused) as caught:
        _verify(token, **overrides)
    return caught.value.reason


def test_message_known_answer_is_exact_and_verifies_without_joserfc() -> None:
    """The token for fixed keys and claims is byte-exact, and a plain Ed25519 check (not
    joserfc) of its signing input agrees: another implementation can verify it."""
    seed = bytes.fromhex(VECTORS["signing_seed_hex"])
    signer = signing_from_raw(SignatureAlgorithm.ED25519, seed)
    m = dict(VECTORS["message"])
    issued = datetime.fromtimestamp(m.pop("issued_at"), UTC)
    assert sign_message(signer, issued_at=issued, **m) == VECTORS["message_token"]
    h64, p64, s64 = VECTORS["message_token"].split(".")
    Ed25519PrivateKey.from_private_bytes(seed).public_key().verify(
        pad(s64), f"{h64}.{p64}".encode()
    )
    assert json.loads(pad(h64)) == {
        "alg": "Ed25519",
        "kid": signer.kid,
        "typ": "cix-federation+jws",
    }
    claims = json.loads(pad(p64))
    assert claims["iat"] == VECTORS["message"]["issued_at"]
    assert pad(p64) == canonical_json(claims)


def test_identity_known_answer_is_exact() -> None:
    signer = signing_from_raw(
        SignatureAlgorithm.ED25519, bytes.fromhex(VECTORS["signing_seed_hex"])
    )
    kem = kem_private_from_raw(KemAlgorithm.X25519, bytes.fromhex(VECTORS["kem_scalar_hex"]))
    audit = signer_from_seed(VECTORS["audit_key_name"], bytes.fromhex(VECTORS["audit_seed_hex"]))
    v = VECTORS["identity"]
    identity = NodeIdentity(
        v["party"], v["node_id"], v["url"], tuple(v["agreements"]), signer.public,
        kem.public, audit.verifier, v["tls_fingerprint"],
    )  # fmt: skip
    assert sign_identity(identity, signer) == VECTORS["identity_document"]
    assert (
        read_identity(VECTORS["identity_document"]).identity.fingerprint
        == (VECTORS["identity_fingerprint"])
    )


def test_canonical_json_known_answers() -> None:
    for example in VECTORS["canonical_examples"]:
        assert canonical_json(example["input"]).decode() == example["output"]


def test_a_good_message_verifies_with_its_claims() -> None:
    message = _verify(_sign(message_id="m-1"))
    assert (message.sender, message.message_id, message.kind) == ("cix-kor", "m-1", "transmission")
    assert message.body == {"document": "d1"}
    assert message.issued_at == NOW


def test_message_signed_by_unknown_key_is_refused() -> None:
    assert _refusal(_sign(generate_signing())) is MessageRefusal.SIGNATURE_INVALID


def test_message_from_unpinned_node_is_refused() -> None:
    assert _refusal(_sign(sender="cix-deu")) is MessageRefusal.UNKNOWN_SENDER


def test_message_for_another_audience_is_refused() -> None:
    assert _refusal(_sign(audience="cix-deu")) is MessageRefusal.WRONG_AUDIENCE


def test_message_replayed_at_another_route_is_refused() -> None:
    assert _refusal(_sign(url="/federation/v1/documents")) is MessageRefusal.WRONG_TARGET


def test_message_under_agreement_not_held_is_refused() -> None:
    token = _sign(agreement="can-deu")
    assert _refusal(token) is MessageRefusal.AGREEMENT_NOT_HELD
    held = {"kor-can", "can-deu"}
    assert _refusal(token, held_agreements=held) is MessageRefusal.NOT_PEERED_UNDER_AGREEMENT


@pytest.mark.parametrize("offset", [SKEW + timedelta(seconds=1), -SKEW - timedelta(seconds=1)])
def test_clock_skew_beyond_bound_is_refused(offset: timedelta) -> None:
    assert _refusal(_sign(issued_at=NOW + offset)) is MessageRefusal.CLOCK_SKEW
    assert _verify(_sign(issued_at=NOW + offset - offset / abs(offset.total_seconds())))


def test_claims_swapped_under_a_valid_signature_are_refused() -> None:
    """The payload of one signed message under the header and signature of another."""
    a, b = _sign(body={"document": "d1"}).split("."), _sign(body={"document": "d2"}).split(".")
    assert _refusal(".".join([a[0], b[1], a[2]])) is MessageRefusal.SIGNATURE_INVALID


def test_non_canonical_payload_is_refused_even_when_signed() -> None:
    """A payload with the same JSON meaning but other bytes: one set of bytes, one meaning."""
    from cix.federation.jws import sign_compact

    token = sign_compact({"x": 1}, KOR_KEY, "cix-federation+jws")
    h64, _, _ = token.split(".")
    payload = json.dumps(
        {"iss": "cix-kor", "aud": "cix-can", "url": URL, "iat": int(NOW.timestamp()),
         "jti": "m", "agreement": "kor-can", "kind": "transmission", "body": {}},
        indent=1,
    ).encode()  # fmt: skip
    p64 = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    signature = KOR_KEY.sign(f"{h64}.{p64}".encode())
    s64 = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    assert _refusal(f"{h64}.{p64}.{s64}") is MessageRefusal.SIGNATURE_INVALID


def test_header_with_other_algorithm_is_refused() -> None:
    token = _sign()
    _h64, p64, s64 = token.split(".")
    header = {"alg": "none", "kid": KOR_KEY.kid, "typ": "cix-federation+jws"}
    forged_h = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    assert _refusal(f"{forged_h}.{p64}.") is MessageRefusal.SIGNATURE_INVALID
    assert _refusal(f"{forged_h}.{p64}.{s64}") is MessageRefusal.SIGNATURE_INVALID


@given(st.text(max_size=300))
def test_arbitrary_text_is_refused_as_a_message_never_crashes(text: str) -> None:
    with pytest.raises(MessageRefused):
        _verify(text)


@given(st.binary(min_size=1, max_size=40), st.integers(min_value=0))
def test_any_byte_change_of_a_token_is_refused(junk: bytes, where: int) -> None:
    token = _sign()
    i = where % len(token)
    changed = token[:i] + junk.decode("latin-1") + token[i + 1 :]
    if changed == token:
        return
    with pytest.raises(MessageRefused):
        _verify(changed)
