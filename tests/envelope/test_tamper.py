"""Single-byte changes at every offset of a small sealed object: every one is refused.

Issue 10 #16: flipping a byte of the ZIP local header (version, flags, method, time, CRC,
sizes) used to leave the object opening. Now every byte is either authenticated (the
manifest's key access objects, policy, label and tags; the payload's segments) or a ZIP
field the strict reader checks against its other copy or the cix writer's profile, so any
change is refused with the one opaque refusal, its reason in the audit record only.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from cix.envelope import ObjectRefused, RefusalReason
from cix.errors import Refused
from cix.keys import KemPrivateKey, SigningKey
from tests.envelope.helpers import (
    LABEL_JSON,
    Audit,
    manifest_bytes,
    open_bytes,
    payload_bytes,
    rezip,
    seal_bytes,
)

DATA = bytes(range(50))


@pytest.fixture(scope="module")
def blob(alice: KemPrivateKey, signer: SigningKey) -> bytes:
    return seal_bytes(DATA, [alice.public], signer, segment_size=16)


def _refusal(candidate: bytes, alice: KemPrivateKey, signer: SigningKey) -> RefusalReason:
    """The reason `candidate` was refused for; fails the test if it opened."""
    audit = Audit()
    with pytest.raises(ObjectRefused) as refused:
        open_bytes(candidate, alice, [signer.public], audit)
    assert str(refused.value) == str(Refused())  # opaque: nothing of the reason shown
    return audit.only


def test_the_unchanged_object_opens(blob: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    plain, opened = open_bytes(blob, alice, [signer.public])
    assert (plain, opened.label_json) == (DATA, LABEL_JSON)


def test_every_single_byte_change_is_refused(
    blob: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    # The whole object, ZIP headers, data descriptor, central directory and end record
    # included: each offset flipped in its low bit, and in its high bit.
    reasons: Counter[RefusalReason] = Counter()
    for i in range(len(blob)):
        for bit in (0x01, 0x80):
            changed = bytearray(blob)
            changed[i] ^= bit
            reasons[_refusal(bytes(changed), alice, signer)] += 1
    # ZIP bookkeeping is malformed; member data reaches the cryptographic checks.
    assert reasons[RefusalReason.MALFORMED_OBJECT] > 0
    assert reasons[RefusalReason.SEGMENT_DECRYPT_FAILED] > 0


def _regions(manifest: bytes) -> dict[str, range]:
    """Byte ranges of the key access objects, policy and assertion inside the manifest."""
    doc = json.loads(manifest)
    text = manifest.decode()

    def span(fragment: str) -> range:
        start = text.index(fragment)
        return range(start, start + len(fragment))

    def dumped(obj: object) -> str:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    enc = doc["encryptionInformation"]
    return {
        "keyAccess": span(dumped(enc["keyAccess"])),
        "policy": span(dumped(enc["policy"])),
        "assertion": span(dumped(doc["assertions"])),
        "segments": span(dumped(enc["integrityInformation"]["segments"])),
    }


def test_every_manifest_byte_change_is_refused_by_its_guard(
    blob: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = manifest_bytes(blob), payload_bytes(blob)
    regions = _regions(manifest)
    seen: dict[str, Counter[RefusalReason]] = {name: Counter() for name in regions}
    for i in range(len(manifest)):
        changed = bytearray(manifest)
        changed[i] ^= 0x01
        reason = _refusal(rezip(bytes(changed), payload), alice, signer)
        for name, where in regions.items():
            if i in where:
                seen[name][reason] += 1
    # Each region is guarded by the check that covers it.
    assert RefusalReason.KEY_UNWRAP_FAILED in seen["keyAccess"]
    assert RefusalReason.POLICY_BINDING_MISMATCH in seen["keyAccess"]
    assert RefusalReason.POLICY_BINDING_MISMATCH in seen["policy"]
    assert set(seen["assertion"]) & {
        RefusalReason.ASSERTION_BINDING_MISMATCH,
        RefusalReason.ASSERTION_SIGNATURE_INVALID,
    }
    assert RefusalReason.ROOT_SIGNATURE_MISMATCH in seen["segments"]


def test_every_payload_byte_change_is_refused_by_its_segment(
    blob: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = manifest_bytes(blob), payload_bytes(blob)
    reasons: Counter[RefusalReason] = Counter()
    for i in range(len(payload)):
        changed = bytearray(payload)
        changed[i] ^= 0x01
        reasons[_refusal(rezip(manifest, bytes(changed)), alice, signer)] += 1
    # 4 segments: 16-byte tags are compared with the manifest; IV and ciphertext fail GCM.
    assert reasons == {
        RefusalReason.SEGMENT_HASH_MISMATCH: 4 * 16,
        RefusalReason.SEGMENT_DECRYPT_FAILED: len(payload) - 64,
    }
