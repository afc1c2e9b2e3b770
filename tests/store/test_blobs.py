"""The content-addressed blob store: atomic, durable, deduplicated, bounded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cix.errors import InputError
from cix.store.blobs import BlobNotFound, BlobStore, BlobTooLarge


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    blobs = BlobStore(tmp_path / "blobs")
    blobs.create()
    return blobs


def test_put_names_the_blob_by_its_sha256(store: BlobStore) -> None:
    ref = store.put([b"hello ", b"world"])
    assert ref.sha256 == hashlib.sha256(b"hello world").hexdigest()
    assert ref.size == 11
    assert b"".join(store.read_chunks(ref.sha256)) == b"hello world"
    assert store.path(ref.sha256).relative_to(store.root).parts[:2] == (
        ref.sha256[:2],
        ref.sha256[2:4],
    )


def test_same_bytes_are_stored_once(store: BlobStore) -> None:
    first = store.put([b"x" * 1000])
    second = store.put([b"x" * 500, b"x" * 500])
    assert first == second
    assert list(store.hashes()) == [first.sha256]


def test_oversized_blob_is_refused_and_nothing_is_left(store: BlobStore) -> None:
    with pytest.raises(BlobTooLarge, match="limit of 10 bytes"):
        store.put([b"12345", b"678901"], limit=10)
    assert list(store.hashes()) == []
    assert list((store.root / "tmp").iterdir()) == []


def test_failed_stream_leaves_nothing(store: BlobStore) -> None:
    def generator() -> Iterator[bytes]:
        yield b"partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.put(generator())
    assert list(store.hashes()) == []
    assert list((store.root / "tmp").iterdir()) == []


def test_leftover_temporary_files_are_swept(store: BlobStore) -> None:
    (store.root / "tmp" / "crashed-write").write_bytes(b"half")
    assert store.sweep_temporary() == 1
    assert list((store.root / "tmp").iterdir()) == []


def test_delete_is_idempotent(store: BlobStore) -> None:
    ref = store.put([b"secret"])
    store.delete(ref.sha256)
    store.delete(ref.sha256)
    assert not store.exists(ref.sha256)
    with pytest.raises(BlobNotFound):
        store.open(ref.sha256)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABCDEF", "a" * 63, "g" * 64])
def test_path_traversal_hash_is_refused(store: BlobStore, bad: str) -> None:
    with pytest.raises(InputError, match="64 lower-case hex"):
        store.path(bad)
