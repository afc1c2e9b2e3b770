"""Byte-range reads decrypt only the segments the range touches."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cix import envelope
from cix.envelope import RefusalReason
from cix.errors import InputError, Refused
from cix.keys import KemPrivateKey, SigningKey
from tests.envelope.helpers import Audit, members, rezip, seal_bytes


def read_range(
    blob: bytes,
    key: KemPrivateKey,
    signer: SigningKey,
    start: int,
    length: int,
    audit: Audit | None = None,
) -> bytes:
    out = io.BytesIO()
    opened = envelope.open_range(
        io.BytesIO(blob),
        out,
        start=start,
        length=length,
        private_key=key,
        trusted_signers={"KOR": [signer.public]},
        audit_hook=audit,
    )
    assert opened.written == len(out.getvalue())
    return out.getvalue()


@settings(max_examples=150, deadline=None)
@given(data=st.data(), size=st.integers(0, 400), segment=st.integers(1, 64))
def test_any_range_matches_the_plaintext(
    data: st.DataObject, size: int, segment: int, alice: KemPrivateKey, signer: SigningKey
) -> None:
    plain = bytes(i % 251 for i in range(size))
    blob = seal_bytes(plain, [alice.public], signer, segment_size=segment)
    start = data.draw(st.integers(0, size), label="start")
    length = data.draw(st.integers(0, size + 10), label="length")
    assert read_range(blob, alice, signer, start, length) == plain[start : start + length]


def _corrupt_segment(blob: bytes, index: int, enc: int) -> bytes:
    manifest, payload = members(blob)
    spoiled = bytearray(payload)
    spoiled[index * enc + 14] ^= 0xFF  # inside the ciphertext of that segment
    return rezip(manifest, bytes(spoiled))


def test_range_does_not_decrypt_untouched_segments(
    alice: KemPrivateKey, signer: SigningKey
) -> None:
    plain = bytes(range(160))
    blob = seal_bytes(plain, [alice.public], signer, segment_size=16)
    spoiled = _corrupt_segment(blob, 7, 16 + 28)  # bytes 112..127
    assert read_range(spoiled, alice, signer, 20, 40) == plain[20:60]
    audit = Audit()
    with pytest.raises(Refused):
        read_range(spoiled, alice, signer, 100, 20, audit)
    assert audit.only is RefusalReason.SEGMENT_DECRYPT_FAILED


def test_range_past_the_end_is_named(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(b"0123456789", [alice.public], signer)
    assert read_range(blob, alice, signer, 10, 5) == b""
    with pytest.raises(InputError, match="past the payload's 10 bytes"):
        read_range(blob, alice, signer, 11, 1)
    with pytest.raises(InputError, match="non-negative"):
        read_range(blob, alice, signer, -1, 1)
