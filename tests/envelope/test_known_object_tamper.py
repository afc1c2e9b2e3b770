"""Regression (security review): a known object's bytes outside its payload went unchecked.

A reader that opened an object once gives its `Opened.known` back to later opens, which
skip the ZIP parse. They used to check only the manifest's bytes where it lay, so a byte
changed in a ZIP local header, the data descriptor, the central directory or the end
record, or bytes appended, went unnoticed on the known path although a first open (a node:
the blob's hash) refuses them. Now the object's size and the SHA-256 of every byte outside
the payload data are pinned (object-digest-mismatch, before the key is unwrapped), and the
payload data authenticates segment by segment against the tags of the manifest so pinned.
One test per attack, for an object read from memory (as a node reads a small document) and
from a stream.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from typing import Any

import pytest

from cix import envelope
from cix.envelope import (
    Known,
    Opened,
    RefusalReason,
    _open,
)
from cix.errors import Refused
from cix.keys import KemPrivateKey, SigningKey
from tests.envelope.helpers import Audit, seal_bytes

DATA = bytes(range(50))
SOURCES = ["memory", "stream"]


@pytest.fixture(scope="module")
def blob(alice: KemPrivateKey, signer: SigningKey) -> bytes:
    return seal_bytes(DATA, [alice.public], signer, segment_size=16)


@pytest.fixture(scope="module")
def known(blob: bytes, alice: KemPrivateKey, signer: SigningKey) -> Known:
    """What the first (fully parsed) open of `blob` learnt."""
    return _open_known(blob, alice, signer, None, "memory")[1].known


def _open_known(
    candidate: bytes, alice: KemPrivateKey, signer: SigningKey, known: Known | None, source: str
) -> tuple[bytes, Opened]:
    out = io.BytesIO()
    src: bytes | io.BytesIO = candidate if source == "memory" else io.BytesIO(candidate)
    opened = envelope.open(
        src, out, private_key=alice, trusted_signers={"KOR": [signer.public]}, known=known
    )
    return out.getvalue(), opened


def _refusal(
    candidate: bytes,
    alice: KemPrivateKey,
    signer: SigningKey,
    known: Known,
    source: str,
    *,
    segment: int = 0,
) -> RefusalReason:
    """The reason `candidate`, opened as the known object, is refused for; nothing written
    but the plaintext of the segments before `segment` (the first one refused)."""
    audit = Audit()
    out = io.BytesIO()
    src: bytes | io.BytesIO = candidate if source == "memory" else io.BytesIO(candidate)
    with pytest.raises(Refused):
        envelope.open(
            src,
            out,
            private_key=alice,
            trusted_signers={"KOR": [signer.public]},
            audit_hook=audit,
            known=known,
        )
    assert out.getvalue() == DATA[: 16 * segment]
    return audit.only


@pytest.fixture
def no_unwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the data key is unwrapped: the refusal must come before it."""

    def unwrap(*_: Any) -> Any:
        raise AssertionError("the key was unwrapped before the object's bytes were checked")

    monkeypatch.setattr(_open, "_unwrap", unwrap)


def _outside_payload(blob: bytes, known: Known) -> list[int]:
    start, size = known.payload.data_offset, known.payload.size
    return [*range(start), *range(start + size, len(blob))]


@pytest.mark.parametrize("source", SOURCES)
def test_the_unchanged_known_object_opens(
    blob: bytes, known: Known, alice: KemPrivateKey, signer: SigningKey, source: str
) -> None:
    start, end = known.payload.data_offset, known.payload.data_offset + known.payload.size
    assert known.size == len(blob)
    assert known.outside_payload_sha256 == hashlib.sha256(blob[:start] + blob[end:]).digest()
    plain, opened = _open_known(blob, alice, signer, known, source)
    assert plain == DATA
    assert opened.known == known
    _, fresh = _open_known(blob, alice, signer, None, source)
    assert fresh.known == known  # a stream's first open learns the same


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.usefixtures("no_unwrap")
def test_every_byte_change_outside_the_payload_of_a_known_object_is_refused(
    blob: bytes, known: Known, alice: KemPrivateKey, signer: SigningKey, source: str
) -> None:
    # ZIP local headers, data descriptor, manifest, central directory, end record.
    offsets = _outside_payload(blob, known)
    assert len(offsets) == len(blob) - known.payload.size > 2000
    for i in offsets:
        changed = bytearray(blob)
        changed[i] ^= 0x01
        reason = _refusal(bytes(changed), alice, signer, known, source)
        assert reason is RefusalReason.OBJECT_DIGEST_MISMATCH, f"offset {i}: {reason.value}"
    assert RefusalReason.OBJECT_DIGEST_MISMATCH.value == "object-digest-mismatch"


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    "appended",
    [b"\0", b"junk" * 1000, b"PK\x05\x06" + bytes(18)],
    ids=["a-byte", "4-KiB", "another-end-record"],
)
@pytest.mark.usefixtures("no_unwrap")
def test_bytes_appended_to_a_known_object_are_refused(
    blob: bytes,
    known: Known,
    alice: KemPrivateKey,
    signer: SigningKey,
    source: str,
    appended: bytes,
) -> None:
    assert (
        _refusal(blob + appended, alice, signer, known, source)
        is RefusalReason.OBJECT_DIGEST_MISMATCH
    )


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.usefixtures("no_unwrap")
def test_a_known_object_cut_short_anywhere_is_refused(
    blob: bytes, known: Known, alice: KemPrivateKey, signer: SigningKey, source: str
) -> None:
    for n in range(len(blob)):
        reason = _refusal(blob[:n], alice, signer, known, source)
        assert reason is RefusalReason.OBJECT_DIGEST_MISMATCH, f"cut to {n} bytes: {reason.value}"


@pytest.mark.parametrize("source", SOURCES)
def test_every_payload_byte_change_of_a_known_object_is_refused(
    blob: bytes, known: Known, alice: KemPrivateKey, signer: SigningKey, source: str
) -> None:
    start, size = known.payload.data_offset, known.payload.size
    reasons: Counter[RefusalReason] = Counter()
    for i in range(start, start + size):
        changed = bytearray(blob)
        changed[i] ^= 0x01
        segment = (i - start) // (16 + 28)
        reason = _refusal(bytes(changed), alice, signer, known, source, segment=segment)
        reasons[reason] += 1
    # 4 segments: their 16-byte tags are compared with the (pinned) manifest's; IV and
    # ciphertext fail GCM.
    assert reasons == {
        RefusalReason.SEGMENT_HASH_MISMATCH: 4 * 16,
        RefusalReason.SEGMENT_DECRYPT_FAILED: size - 64,
    }
