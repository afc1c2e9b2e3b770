"""File to file: a mapped sealed object opens as the stream does, refusals through the
mapping leave it closable, and the write-behind thread keeps the order of the bytes, stops
on a failed write and raises that error in the caller."""

from __future__ import annotations

import errno
import io
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cix import envelope
from cix.envelope import (
    RefusalReason,
    _fileio,
)
from cix.errors import Refused
from cix.keys import KemPrivateKey, SigningKey
from tests.envelope.helpers import LABEL_JSON, LABEL_XML, Audit, members, rezip

SEGMENT = 65536


@pytest.fixture(autouse=True)
def _two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large file outputs take the write-behind path here, also on a one-CPU machine."""
    monkeypatch.setattr(_fileio, "_usable_cpus", lambda: 2)


def _seal_file(
    src: Path, dst: Path, alice: KemPrivateKey, signer: SigningKey, segment: int = SEGMENT
) -> None:
    with src.open("rb") as handle, dst.open("wb") as out, envelope.mapped_input(handle) as source:
        envelope.seal(
            source,
            out,
            label_xml=LABEL_XML,
            label_json=LABEL_JSON,
            recipients=[alice.public],
            signer=signer,
            segment_size=segment,
        )


def _open_file(
    src: Path, dst: Path, alice: KemPrivateKey, signer: SigningKey, audit: Audit | None = None
) -> None:
    with src.open("rb") as handle, dst.open("wb") as out, envelope.mapped_input(handle) as source:
        assert source is not handle
        envelope.open(
            source,
            out,
            private_key=alice,
            trusted_signers={"KOR": [signer.public]},
            audit_hook=audit,
        )


def _no_writer_threads() -> bool:
    return not any(t.name == "cix-write-behind" for t in threading.enumerate())


@pytest.mark.parametrize("size", [1, SEGMENT, 300_000, 1_000_003])
def test_mapped_open_gives_the_streamed_plaintext(
    size: int, tmp_path: Path, alice: KemPrivateKey, signer: SigningKey
) -> None:
    data = os.urandom(size)
    (tmp_path / "in").write_bytes(data)
    _seal_file(tmp_path / "in", tmp_path / "sealed", alice, signer)
    results = []
    for mapped in (False, True):
        for to_file in (False, True):
            out: Any = (tmp_path / "out").open("wb") if to_file else io.BytesIO()
            with (
                out,
                (tmp_path / "sealed").open("rb") as handle,
                envelope.mapped_input(handle) as source,
            ):
                opened = envelope.open(
                    source if mapped else handle,
                    out,
                    private_key=alice,
                    trusted_signers={"KOR": [signer.public]},
                )
                if not to_file:
                    results.append(out.getvalue())
            if to_file:
                results.append((tmp_path / "out").read_bytes())
            assert opened.written == size
    assert results == [data] * 4


def test_mapped_open_range(tmp_path: Path, alice: KemPrivateKey, signer: SigningKey) -> None:
    data = os.urandom(5 * SEGMENT + 123)
    (tmp_path / "in").write_bytes(data)
    _seal_file(tmp_path / "in", tmp_path / "sealed", alice, signer)
    for start, length in ((0, 10), (SEGMENT - 5, 3 * SEGMENT), (4 * SEGMENT, 10 * SEGMENT)):
        with (
            (tmp_path / "sealed").open("rb") as handle,
            envelope.mapped_input(handle) as source,
            (tmp_path / "part").open("wb") as out,
        ):
            envelope.open_range(
                source,
                out,
                start=start,
                length=length,
                private_key=alice,
                trusted_signers={"KOR": [signer.public]},
            )
        assert (tmp_path / "part").read_bytes() == data[start : start + length]


@pytest.mark.parametrize("segment", [1000, 4097, 3 * 4096])
def test_segments_that_are_not_page_aligned_seal_and_open_through_mappings(
    segment: int, tmp_path: Path, alice: KemPrivateKey, signer: SigningKey
) -> None:
    # The pages behind are released page by page (MADV_DONTNEED takes page-aligned ranges);
    # a segment size that is not a multiple of the page used to fail with EINVAL.
    data = os.urandom(20 * segment + 7)
    (tmp_path / "in").write_bytes(data)
    _seal_file(tmp_path / "in", tmp_path / "sealed", alice, signer, segment)
    _open_file(tmp_path / "sealed", tmp_path / "out", alice, signer)
    assert (tmp_path / "out").read_bytes() == data


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("part", ["iv", "ciphertext", "tag"])
def test_tampered_segment_is_refused_through_the_mapping(
    where: str, part: str, tmp_path: Path, alice: KemPrivateKey, signer: SigningKey
) -> None:
    data = os.urandom(8 * SEGMENT)
    (tmp_path / "in").write_bytes(data)
    _seal_file(tmp_path / "in", tmp_path / "sealed", alice, signer)
    manifest, payload = members((tmp_path / "sealed").read_bytes())
    encrypted = SEGMENT + 28
    segment = {"first": 0, "middle": 4, "last": 7}[where]
    at = segment * encrypted + {"iv": 3, "ciphertext": 5000, "tag": encrypted - 1}[part]
    changed = bytearray(payload)
    changed[at] ^= 0x01
    (tmp_path / "bad").write_bytes(rezip(manifest, bytes(changed)))
    audit = Audit()
    # Leaving `mapped_input` closes the mapping: it would raise BufferError if a view of it
    # outlived the refusal.
    with pytest.raises(Refused):
        _open_file(tmp_path / "bad", tmp_path / "out", alice, signer, audit)
    assert audit.only is (
        RefusalReason.SEGMENT_HASH_MISMATCH
        if part == "tag"
        else RefusalReason.SEGMENT_DECRYPT_FAILED
    )
    assert _no_writer_threads()
    # At most the segments before the damaged one were written (authenticated plaintext;
    # those still queued when the refusal came are dropped).
    written = (tmp_path / "out").read_bytes()
    assert len(written) % SEGMENT == 0
    assert len(written) <= segment * SEGMENT
    assert written == data[: len(written)]


def test_truncated_payload_is_refused_through_the_mapping(
    tmp_path: Path, alice: KemPrivateKey, signer: SigningKey
) -> None:
    (tmp_path / "in").write_bytes(os.urandom(3 * SEGMENT))
    _seal_file(tmp_path / "in", tmp_path / "sealed", alice, signer)
    manifest, payload = members((tmp_path / "sealed").read_bytes())
    (tmp_path / "bad").write_bytes(rezip(manifest, payload[:-3]))
    audit = Audit()
    with pytest.raises(Refused):
        _open_file(tmp_path / "bad", tmp_path / "out", alice, signer, audit)
    assert audit.only is RefusalReason.PAYLOAD_LENGTH_MISMATCH
    assert (tmp_path / "out").read_bytes() == b""


def test_a_large_output_to_a_regular_file_is_written_behind(tmp_path: Path) -> None:
    with (tmp_path / "f").open("wb") as f:
        with _fileio.output_for(f, 16, large=True) as out:
            assert isinstance(out, _fileio.WriteBehind)
        with _fileio.output_for(f, 16, large=False) as out:
            assert not isinstance(out, _fileio.WriteBehind)
    with _fileio.output_for(io.BytesIO(), 16, large=True) as out:
        assert not isinstance(out, _fileio.WriteBehind)
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as pipe, _fileio.output_for(pipe, 16, large=True) as out:
        assert not isinstance(out, _fileio.WriteBehind)
    os.close(read_end)


def test_one_usable_cpu_writes_inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fileio, "_usable_cpus", lambda: 1)
    with (tmp_path / "f").open("wb") as f, _fileio.output_for(f, 16, large=True) as out:
        assert not isinstance(out, _fileio.WriteBehind)


def test_write_behind_keeps_the_order_and_copies_what_it_does_not_own() -> None:
    sink = io.BytesIO()
    behind = _fileio.WriteBehind(sink, 4, depth=2)
    expected = b""
    for i in range(50):
        buf = behind.take()
        buf[:] = bytes([i]) * 4
        behind.write(b"<")  # bytes: queued as they are
        behind.write(buf[: 1 + i % 4])  # the buffer taken: handed back without a copy
        mine = bytearray(b">")
        behind.write(mine)  # the caller's mutable buffer: copied
        mine[0] = ord("!")
        expected += b"<" + bytes([i]) * (1 + i % 4) + b">"
    behind.close()
    assert sink.getvalue() == expected


class _FailingFile(io.FileIO):
    """A regular file whose writes fail with ENOSPC once `ok_writes` have succeeded."""

    def __init__(self, path: Path, ok_writes: int) -> None:
        super().__init__(path, "wb")
        self.ok_writes = ok_writes
        self.calls = 0

    def write(self, data: Any) -> int:
        self.calls += 1
        if self.calls > self.ok_writes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


@pytest.mark.parametrize("ok_writes", [0, 1, 5])
def test_a_failed_write_stops_seal_with_that_error(
    ok_writes: int, tmp_path: Path, alice: KemPrivateKey, signer: SigningKey
) -> None:
    data = os.urandom(40 * SEGMENT)
    (tmp_path / "in").write_bytes(data)
    with (
        (tmp_path / "in").open("rb") as handle,
        envelope.mapped_input(handle) as source,
        _FailingFile(tmp_path / "sealed", ok_writes) as out,
    ):
        with pytest.raises(OSError) as caught:
            envelope.seal(
                source,
                out,
                label_xml=LABEL_XML,
                label_json=LABEL_JSON,
                recipients=[alice.public],
                signer=signer,
                segment_size=SEGMENT,
            )
        assert caught.value.errno == errno.ENOSPC
        assert _no_writer_threads()
        calls = out.calls
        time.sleep(0.05)
        assert out.calls == calls  # nothing is written after seal returned
        # The writer stopped at the first failure: the rest of the 40 segments never came.
        assert calls <= ok_writes + 1
    assert (tmp_path / "sealed").stat().st_size < len(data)


def test_a_failed_write_stops_open_with_that_error(
    tmp_path: Path, alice: KemPrivateKey, signer: SigningKey
) -> None:
    data = os.urandom(40 * SEGMENT)
    (tmp_path / "in").write_bytes(data)
    _seal_file(tmp_path / "in", tmp_path / "sealed", alice, signer)
    audit = Audit()
    with (
        (tmp_path / "sealed").open("rb") as handle,
        envelope.mapped_input(handle) as source,
        _FailingFile(tmp_path / "out", 3) as out,
    ):
        with pytest.raises(OSError) as caught:
            envelope.open(
                source,
                out,
                private_key=alice,
                trusted_signers={"KOR": [signer.public]},
                audit_hook=audit,
            )
        assert caught.value.errno == errno.ENOSPC
        assert not audit.reasons  # a storage failure, not a refusal
        assert _no_writer_threads()
        assert out.calls == 4
    assert (tmp_path / "out").read_bytes() == data[: 3 * SEGMENT]


class _Trickle(io.RawIOBase):
    """A raw sink that takes at most `most` bytes per write (0: none at all)."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.data = bytearray()
        self.sizes: list[int] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.sizes.append(len(b))
        taken = bytes(b[: self.most])
        self.data += taken
        return len(taken)


def test_write_all_finishes_short_writes_and_hands_out_at_most_a_piece() -> None:
    data = os.urandom(3 * _fileio._PIECE + 5)
    sink = _Trickle(300_001)
    _fileio.write_all(sink, memoryview(data))
    assert bytes(sink.data) == data
    assert max(sink.sizes) == _fileio._PIECE
    with pytest.raises(OSError, match="took 0 of"):
        _fileio.write_all(_Trickle(0), b"x")
