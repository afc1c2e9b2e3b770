"""A payload past 4 GiB is written as ZIP64 that standard readers and cix both read.

Slow (writes ~4.1 GiB to a temporary file), so marked `slow`; CI runs it.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from cix import envelope
from cix.keys import KemPrivateKey, SigningKey
from tests.envelope.helpers import LABEL_JSON, LABEL_XML

SIZE = (4 << 30) + 12345


class Zeros(io.RawIOBase):
    """A non-seekable stream of SIZE zero bytes (so the writer cannot know the size)."""

    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self._left)
        b[:n] = bytes(n)
        self._left -= n
        return n


@pytest.mark.slow
def test_payload_over_4_gib_is_zip64(
    tmp_path: Path, alice: KemPrivateKey, signer: SigningKey
) -> None:
    path = tmp_path / "big.tdf"
    with path.open("wb") as dst:
        result = envelope.seal(
            Zeros(SIZE),  # type: ignore[arg-type]
            dst,
            label_xml=LABEL_XML,
            label_json=LABEL_JSON,
            recipients=[alice.public],
            signer=signer,
            segment_size=8 << 20,
        )
    assert result.plaintext_size == SIZE
    with zipfile.ZipFile(path) as z:
        info = {i.filename: i for i in z.infolist()}
        assert info["0.payload"].file_size == SIZE + 28 * result.segments
        assert info["0.manifest.json"].header_offset > 0xFFFFFFFF
        assert b"cix-label" in z.read("0.manifest.json")
    with path.open("rb") as src:
        tail = io.BytesIO()
        envelope.open_range(
            src,
            tail,
            start=SIZE - 100,
            length=1000,
            private_key=alice,
            trusted_signers={"KOR": [signer.public]},
        )
    assert tail.getvalue() == bytes(100)
    path.unlink()
