"""Known-answer vectors: the stored sealed objects open to the stored plaintext and label, and
sealing again with the stored key, IVs, policy uuid and HPKE outputs gives the same bytes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from cix import envelope
from cix.keys import (
    KemAlgorithm,
    KemPublicKey,
    SignatureAlgorithm,
    kem_private_from_raw,
    signing_from_raw,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "envelope"
NAMES = sorted(p.stem for p in VECTORS.glob("*.json"))


def test_there_are_vectors() -> None:
    assert len(NAMES) >= 3


def _load(name: str) -> tuple[dict[str, Any], bytes]:
    doc: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    sealed = (VECTORS / doc["sealed_file"]).read_bytes()
    assert hashlib.sha256(sealed).hexdigest() == doc["sealed_sha256"]
    return doc, sealed


@pytest.mark.parametrize("name", NAMES)
def test_vector_opens_for_every_recipient(name: str) -> None:
    doc, sealed = _load(name)
    signer = signing_from_raw(
        SignatureAlgorithm.ED25519, bytes.fromhex(doc["signer"]["private_raw"])
    )
    assert signer.kid == doc["signer"]["kid"]
    for r in doc["recipients"]:
        key = kem_private_from_raw(KemAlgorithm(r["algorithm"]), bytes.fromhex(r["private_raw"]))
        assert key.kid == r["kid"]
        out = io.BytesIO()
        opened = envelope.open(
            io.BytesIO(sealed), out, private_key=key, trusted_signers=[signer.public]
        )
        assert out.getvalue() == bytes.fromhex(doc["plaintext"])
        assert opened.label_json == doc["label_json"]
        assert opened.label_xml == doc["label_xml"].encode()


@pytest.mark.parametrize("name", NAMES)
def test_vector_is_reproduced_byte_for_byte(name: str) -> None:
    doc, sealed = _load(name)
    signer = signing_from_raw(
        SignatureAlgorithm.ED25519, bytes.fromhex(doc["signer"]["private_raw"])
    )
    keys = [
        kem_private_from_raw(KemAlgorithm(r["algorithm"]), bytes.fromhex(r["private_raw"]))
        for r in doc["recipients"]
    ]
    stored = iter(base64.b64decode(w) for w in doc["wrapped_keys"])
    payload_key = bytes.fromhex(doc["payload_key"])

    def replay(recipient: KemPublicKey, key: bytes, info: bytes) -> bytes:
        wrapped = next(stored)
        private = next(k for k in keys if k.kid == recipient.kid)
        assert private.unwrap(wrapped, info) == key == payload_key  # a genuine encapsulation
        return wrapped

    out = io.BytesIO()
    envelope.seal(
        io.BytesIO(bytes.fromhex(doc["plaintext"])),
        out,
        label_xml=doc["label_xml"].encode(),
        label_json=doc["label_json"],
        recipients=[k.public for k in keys],
        signer=signer,
        segment_size=doc["segment_size"],
        _key=payload_key,
        _ivs=iter(bytes.fromhex(iv) for iv in doc["ivs"]),
        _policy_uuid=doc["policy_uuid"],
        _wrap=replay,
    )
    assert out.getvalue() == sealed
