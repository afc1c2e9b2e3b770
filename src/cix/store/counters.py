"""Write counters of one node database, seen by every process that serves it.

The node's read caches (`cix.node.cache`) trust an entry only while the database's write
count is the one read before the entry's rows were read. With one serving process an
in-process counter is enough (`LocalCounters`). With `cix serve --workers N`, N processes
write to and cache from one database: each must see the others' writes at its very next
request. `SharedCounters` keeps the counts in a small file that every worker maps into
memory: reading one is a load from shared memory (no system call, so it stays cheap on the
hot path), and moving one takes an exclusive `flock` on the file for the read-add-store, so
that no two processes' increments collapse into one.

Each count is an unsigned 64-bit integer in native byte order at an 8-byte-aligned offset
(every user is a process of one `cix serve` on one machine); `struct` moves a native
integer with one 8-byte copy, which on an aligned address is a single load or store, never
seen half-done. Counts only ever grow, so any change is seen as a difference.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from pathlib import Path
from typing import Protocol

from cix.filelock import FileLock, open_private

WRITES = 0
"""Slot of the count of write transactions ended (the caches' generation)."""
DESTRUCTIONS = 1
"""Slot of the count of documents destroyed (after which no cached wrapped key may stay)."""
_SLOTS = 8  # room for later counts without changing the file's size
_SIZE = 8 * _SLOTS
_COUNT = struct.Struct("=Q")  # native order, no padding: one 8-byte copy


class Counters(Protocol):
    """Monotonic counts in numbered slots (`WRITES`, `DESTRUCTIONS`)."""

    def get(self, slot: int) -> int:
        """The current count in `slot`."""
        ...

    def bump(self, slot: int) -> None:
        """Add one to `slot`, atomically with respect to every other user of these counts."""
        ...


class LocalCounters:
    """Counts seen by this process only (one serving process, the CLI, tests)."""

    def __init__(self) -> None:
        self._values = [0] * _SLOTS
        self._lock = threading.Lock()

    def get(self, slot: int) -> int:
        """The current count in `slot`."""
        return self._values[slot]

    def bump(self, slot: int) -> None:
        """Add one to `slot`."""
        with self._lock:
            self._values[slot] += 1


class SharedCounters:
    """Counts in a file mapped by every process serving one node (see the module docstring).

    `create=True` (the supervisor, before any worker starts) starts every count at zero;
    workers open the existing file.
    """

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        self._fd = open_private(path, create=create)
        try:
            if create:
                os.ftruncate(self._fd, 0)
                os.ftruncate(self._fd, _SIZE)
            elif os.fstat(self._fd).st_size != _SIZE:
                raise ValueError(f"{path}: not a counters file of {_SIZE} bytes")
            self._map = mmap.mmap(self._fd, _SIZE)
        except BaseException:
            os.close(self._fd)
            raise
        self._lock = FileLock(path)

    def get(self, slot: int) -> int:
        """The current count in `slot`."""
        value: int = _COUNT.unpack_from(self._map, slot * 8)[0]
        return value

    def bump(self, slot: int) -> None:
        """Add one to `slot` under an exclusive lock on the file."""
        with self._lock:
            _COUNT.pack_into(self._map, slot * 8, self.get(slot) + 1)

    def close(self) -> None:
        """Unmap and close the file (the counts stay in it for the other processes)."""
        self._map.close()
        self._lock.close()
        os.close(self._fd)
