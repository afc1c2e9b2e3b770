"""File input and output for sealing and opening, as fast as the page cache allows.

Input: `mapped_input` maps a regular file read-only, so that the cipher reads it in place
instead of copying it into the process first; `MappedWindows` hands out views of the
mapping in increasing order and drops every page behind the consumed point from the
process (`MADV_DONTNEED`: the page cache keeps them), so that the resident set does not
grow with the file.

Output: AES-GCM holds the GIL (measured: two threads encrypt no faster than one), but
`write()` to a file does not, and on a page-cache-warm machine copying into the page cache
costs as much as the cipher. `output_for` therefore writes a large payload bound for a
regular file from a second thread (`WriteBehind`), one buffer behind the cipher, in
order, through a small pool of buffers so that memory stays flat. Other sinks (memory,
the node's blob writer, pipes) are written inline, in the caller's thread, exactly as
before.
"""

from __future__ import annotations

import mmap
import os
import queue
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Protocol

_PAGE = mmap.PAGESIZE
#: Buffers in flight between the cipher and the writer thread: one being filled, one being
#: written, one spare to absorb jitter. 2, 3, 4 and 8 measured the same within noise
#: (sealing 1 GiB on 2 cores); 3 keeps the slack at 6 MiB for 2 MiB segments.
_DEPTH = 3
#: The most handed to one write(). A whole 2 MiB-aligned 2 MiB write (an opened segment)
#: lets ext4 put it in one 2 MiB page-cache folio, taken from the free 2 MiB blocks; on a VM
#: with free page reporting (virtio-balloon; this one's Firecracker) those are the blocks
#: handed back to the host, and the copy into them stalls on host faults. Measured: opening
#: 1 GiB file to file took a median 1.0 s writing whole segments, 0.55 s in 1 MiB pieces
#: (256 KiB: the same; `cp`'s in-kernel copy moves 64 KiB at a time). Sealed segments
#: (2 MiB + 28 bytes, unaligned) never filled a whole 2 MiB folio.
_PIECE = 1 << 20


class Sink(Protocol):
    """Where sealed or opened bytes go, in order: a binary stream or a `WriteBehind`."""

    def write(self, data: bytes | bytearray | memoryview, /) -> object:
        """Write all of `data`."""
        ...  # pragma: no cover - a protocol


class Output(Sink, Protocol):
    """A sink that also lends output buffers: `take()` one, fill it, `write()` a view of it."""

    def take(self) -> memoryview:
        """A buffer to fill; writing a view of it hands it back."""
        ...  # pragma: no cover - a protocol


@contextmanager
def mapped_input(handle: BinaryIO) -> Iterator[BinaryIO | mmap.mmap]:
    """`handle`'s file mapped read-only when it is a non-empty regular file, else `handle`.

    `seal` and `open` read a mapping without copying it into the process (as fast as the
    page cache), releasing each window once it is done with. The mapping is closed on
    leaving the block; `seal` and `open` have released every view of it by then."""
    try:
        info = os.fstat(handle.fileno())
    except (OSError, AttributeError, ValueError):
        yield handle
        return
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        yield handle
        return
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapping:
        # Read once, front to back: aggressive read-ahead, and pages behind may go.
        mapping.madvise(mmap.MADV_SEQUENTIAL)
        yield mapping


class MappedWindows:
    """Views of `mapping`, taken front to back, with the pages behind released.

    `release_before(offset)` drops from the process every whole page before `offset`
    (`MADV_DONTNEED` needs page-aligned ranges; segments are not page-aligned, so the page
    a segment boundary falls in stays until the next call). `close()` releases the view
    this object holds, which `mmap.close` requires."""

    def __init__(self, mapping: mmap.mmap) -> None:
        """Hold a view of `mapping`; nothing is released yet."""
        self.mapping = mapping
        self.view = memoryview(mapping)
        self._released = 0

    def window(self, start: int, end: int) -> memoryview:
        """The bytes [start, end) in place (cut at the mapping's end); release it after use."""
        return self.view[start:end]

    def release_before(self, offset: int) -> None:
        """Drop the whole pages before `offset` not dropped yet from this process."""
        aligned = min(offset, len(self.view)) // _PAGE * _PAGE
        if aligned > self._released:
            self.mapping.madvise(mmap.MADV_DONTNEED, self._released, aligned - self._released)
            self._released = aligned

    def close(self) -> None:
        """Release the held view (the mapping itself belongs to the caller)."""
        self.view.release()


def write_all(dst: Sink, data: bytes | bytearray | memoryview) -> None:
    """Write all of `data` (a raw file may take less than it is given), `_PIECE` at a time."""
    if len(data) <= _PIECE:  # a header, a small document: no views to make
        _write_piece(dst, data)
        return
    with memoryview(data) as view:
        for at in range(0, len(view), _PIECE):
            _write_piece(dst, view[at : at + _PIECE])


def _write_piece(dst: Sink, piece: bytes | bytearray | memoryview) -> None:
    done = dst.write(piece)
    while isinstance(done, int) and 0 <= done < len(piece):
        more = dst.write(memoryview(piece)[done:])
        if not isinstance(more, int):
            break
        if more <= 0:
            raise OSError(f"the output took {more} of {len(piece) - done} bytes")
        done += more


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _is_regular_file(dst: object) -> bool:
    try:
        fd = dst.fileno()  # type: ignore[attr-defined]
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except (OSError, AttributeError, ValueError):
        return False


class _Inline:
    """Writes in the caller's thread, into one reused buffer."""

    def __init__(self, dst: Sink, size: int) -> None:
        self._dst = dst
        self._buffer = memoryview(bytearray(size))

    def take(self) -> memoryview:
        """The one buffer, again."""
        return self._buffer

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write `data` now."""
        if len(data) > _PIECE:
            write_all(self._dst, data)
            return
        # One piece (a small document's segment): write_all without its calls, the common
        # case of every open by a node.
        done = self._dst.write(data)
        if isinstance(done, int) and 0 <= done < len(data):
            write_all(self._dst, memoryview(data)[done:])

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class WriteBehind:
    """Writes to `dst` from a second thread, in order, while the caller fills the next buffer.

    `take()` gives a buffer of `size` bytes from a pool of `depth` (waiting until the
    writer has finished with one); `write(view)` of a view of the buffer last taken hands
    that buffer back without a copy: the caller must not touch it again. Any other data
    is queued as it is if immutable (`bytes`), else copied. A failed write is raised,
    as the same exception, by the next `take()` or `write()` or by `close()`; the writer
    thread then writes nothing more. `close()` waits for every queued write; `abort()`
    drops what is queued and waits for the write in progress, so that nothing is written
    to `dst` after either returns.
    """

    def __init__(self, dst: Sink, size: int, depth: int = _DEPTH) -> None:
        """Start the writer thread with `depth` buffers of `size` bytes."""
        self._dst = dst
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(depth):
            self._free.put(bytearray(size))
        self._work: queue.SimpleQueue[tuple[bytes | memoryview, bytearray | None] | None] = (
            queue.SimpleQueue()
        )
        self._taken: bytearray | None = None
        self._error: BaseException | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="cix-write-behind", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            data, owner = item
            try:
                if self._error is None and not self._stop:
                    write_all(self._dst, data)
            except BaseException as exc:  # handed to the caller's thread, raised there
                self._error = exc
            finally:
                if owner is not None:
                    self._free.put(owner)

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def take(self) -> memoryview:
        """A free buffer; waits for the writer if every buffer is queued or being written."""
        self._check()
        assert self._taken is None, "write the buffer taken before taking another"
        self._taken = self._free.get()
        self._check()
        return memoryview(self._taken)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue `data`, in order after everything queued before."""
        self._check()
        owner = None
        if isinstance(data, memoryview) and self._taken is not None and data.obj is self._taken:
            owner, self._taken = self._taken, None
            item: bytes | memoryview = data
        elif isinstance(data, bytes):
            item = data
        else:
            item = bytes(data)
        self._work.put((item, owner))

    def close(self) -> None:
        """Wait until everything queued is written; raise the writer's error, if any."""
        self._work.put(None)
        self._thread.join()
        self._check()

    def abort(self) -> None:
        """Write nothing more: drop what is queued and wait for the write in progress."""
        self._stop = True
        self._work.put(None)
        self._thread.join()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        """`close()` after the block, `abort()` after an exception (which goes on)."""
        if kind is None:
            self.close()
        else:
            self.abort()


def output_for(dst: Sink, size: int, *, large: bool) -> _Inline | WriteBehind:
    """A sink for `dst`, to use as a context manager, offering `take()` (a buffer of `size`
    bytes) and `write()`.

    A `large` output (at least two segments, or of unknown length) bound for a regular file
    is written behind by a second thread when this process may run on two CPUs or more (on
    one, the thread could only add its cost); anything else is written inline. On leaving
    the block everything is written (or, on an exception, nothing more is)."""
    if large and _is_regular_file(dst) and _usable_cpus() > 1:
        return WriteBehind(dst, size)
    return _Inline(dst, size)
