"""A content-addressed blob store under the data directory.

A blob is named by the SHA-256 of its bytes and lives at `<root>/<2 hex>/<2 hex>/<64 hex>`.
Writing goes to a temporary file in `<root>/tmp`, is fsynced, then renamed into place and
the directory fsynced: after a crash a blob is either whole under its name or absent (a
leftover temporary file is removed by `sweep_temporary`). Writing the same bytes twice
stores them once.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cix.errors import InputError, StorageError

CHUNK = 1 << 20
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class BlobTooLarge(InputError):
    """The blob being written is larger than the limit given to `put`."""


class BlobNotFound(StorageError):
    """No blob is stored under the requested hash: nothing there (`reason` "blob-missing"),
    or something that is not a regular file ("blob-not-a-file"). For a blob a row names,
    an integrity failure of the store (the caller audits it as such)."""

    def __init__(self, message: str, *, reason: str = "blob-missing") -> None:
        super().__init__(message)
        self.reason = reason


def _regular(fd: int, sha256: str) -> int:
    """The size of the open file `fd`; `BlobNotFound` (closing `fd`) if it is not a regular
    file (a directory or a device where a blob should be)."""
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        raise BlobNotFound(f"blob {sha256} is not a regular file", reason="blob-not-a-file")
    return status.st_size


@dataclass(frozen=True)
class BlobRef:
    """A stored blob: its SHA-256 (hex) and its size in bytes."""

    sha256: str
    size: int


@contextmanager
def _storage_errors(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StorageError(f"blob store {what} failed: {exc.strerror}") from exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Blobs under `root`, written atomically and durably, read as streams."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = os.fspath(root)
        self._tmp = root / "tmp"

    def create(self) -> None:
        """Create the store's directories (idempotent)."""
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the blob `sha256` lives (whether or not it exists); refuses a malformed hash."""
        if not _HEX64.match(sha256):
            raise InputError(f"blob hash {sha256!r} is not 64 lower-case hex digits")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, chunks: Iterable[bytes], *, limit: int | None = None) -> BlobRef:
        """Store the concatenated `chunks`; return their hash and size.

        Raises `BlobTooLarge` (and stores nothing) once more than `limit` bytes arrived; an
        error raised by the source of `chunks` propagates unchanged, nothing stored.
        """
        self.create()
        tmp = self._tmp / secrets.token_hex(16)
        digest = hashlib.sha256()
        size = 0
        try:
            with _storage_errors("write"):
                handle = tmp.open("xb")
            with handle:
                for chunk in chunks:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise BlobTooLarge(f"blob is larger than the limit of {limit} bytes")
                    digest.update(chunk)
                    with _storage_errors("write"):
                        handle.write(chunk)
                with _storage_errors("write"):
                    handle.flush()
                    os.fsync(handle.fileno())
            ref = BlobRef(digest.hexdigest(), size)
            final = self.path(ref.sha256)
            with _storage_errors("write"):
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
                _fsync_dir(final.parent)
            return ref
        finally:
            tmp.unlink(missing_ok=True)

    def writer(self, *, limit: int | None = None) -> BlobWriter:
        """A file-like sink whose bytes become a blob on `commit()` (nothing on `abort()`)."""
        self.create()
        return BlobWriter(self, limit)

    def _install(self, tmp: Path, sha256: str) -> None:
        final = self.path(sha256)
        with _storage_errors("write"):
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            _fsync_dir(final.parent)

    def open(self, sha256: str) -> BinaryIO:
        """Open the blob for reading; raises `BlobNotFound` if it is not stored."""
        try:
            fd = os.open(self.path(sha256), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {sha256}") from None
        _regular(fd, sha256)
        return os.fdopen(fd, "rb")

    def read(self, sha256: str, *, limit: int | None = None) -> bytes:
        """The whole blob (for small ones); raises `BlobNotFound` if it is not stored and
        `BlobTooLarge` (reading nothing) if it is larger than `limit` bytes."""
        if not _HEX64.match(sha256):
            raise InputError(f"blob hash {sha256!r} is not 64 lower-case hex digits")
        # os-level calls: this runs on every open of a small document.
        name = os.path.join(self._root, sha256[:2], sha256[2:4], sha256)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {sha256}") from None
        size = _regular(fd, sha256)
        try:
            if limit is not None and size > limit:
                raise BlobTooLarge(f"blob {sha256} is {size} bytes, more than {limit}")
            parts = [os.read(fd, size)]
            while chunk := os.read(fd, CHUNK):
                parts.append(chunk)
        finally:
            os.close(fd)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_chunks(self, sha256: str, chunk: int = CHUNK) -> Iterator[bytes]:
        """The blob's bytes as a stream of chunks."""
        with self.open(sha256) as handle:
            while data := handle.read(chunk):
                yield data

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        """Remove the blob (idempotent) and make the removal durable."""
        path = self.path(sha256)
        try:
            path.unlink(missing_ok=True)
            if path.parent.is_dir():
                _fsync_dir(path.parent)
        except OSError as exc:
            raise StorageError(f"blob store delete failed: {exc.strerror}") from exc

    def hashes(self) -> Iterator[str]:
        """Every stored blob's hash (for consistency checks between rows and blobs)."""
        for path in self.root.glob("??/??/*"):
            if _HEX64.match(path.name):
                yield path.name

    def sweep_temporary(self) -> int:
        """Remove temporary files left by writes that a crash interrupted; return how many."""
        removed = 0
        if self._tmp.is_dir():
            for path in self._tmp.iterdir():
                path.unlink(missing_ok=True)
                removed += 1
        return removed


class BlobWriter:
    """Bytes written here are hashed as they arrive and become a blob on `commit()`.

    Until then they sit in a temporary file of the store, removed by `abort()` (or by
    `sweep_temporary` after a crash), so a half-written blob is never visible.
    """

    def __init__(self, store: BlobStore, limit: int | None) -> None:
        self._store = store
        self._limit = limit
        self._tmp = store.root / "tmp" / secrets.token_hex(16)
        self._digest = hashlib.sha256()
        self._size = 0
        with _storage_errors("write"):
            self._handle = self._tmp.open("xb")

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append `data`; raises BlobTooLarge past the limit."""
        self._size += len(data)
        if self._limit is not None and self._size > self._limit:
            raise BlobTooLarge(f"blob is larger than the limit of {self._limit} bytes")
        self._digest.update(data)
        with _storage_errors("write"):
            return self._handle.write(data)

    def flush(self) -> None:
        """Flush buffered bytes to the temporary file."""
        with _storage_errors("write"):
            self._handle.flush()

    def commit(self) -> BlobRef:
        """Make the bytes durable and visible under their hash; return the reference."""
        try:
            with _storage_errors("write"):
                self._handle.flush()
                os.fsync(self._handle.fileno())
                self._handle.close()
            ref = BlobRef(self._digest.hexdigest(), self._size)
            self._store._install(self._tmp, ref.sha256)
            return ref
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop the bytes written so far (idempotent)."""
        self._handle.close()
        self._tmp.unlink(missing_ok=True)
