"""An exclusive lock between processes on one machine: `flock` on a lock file.

SQLite lets one writer in at a time and makes the others wait in its busy handler, which
polls with sleeps that grow to 100 ms: under load from several processes (the workers of
one `cix serve`) that turns a wait of a millisecond into tens. Writers that first queue
on a `FileLock` are woken by the kernel the moment the holder lets go, and only then ask
SQLite, which is free.
"""

from __future__ import annotations

import fcntl
import os
import stat
import threading
from pathlib import Path


def open_private(path: Path, *, create: bool = True) -> int:
    """A read-write descriptor of the regular file `path`, mode 0600 (created if asked).

    A symbolic link there is refused (`O_NOFOLLOW`), not followed: a link planted in the
    data directory must not make a lock or counters file of the node's database (which the
    counters file's creation truncates). `OSError` if it is not a regular file.
    """
    flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
    fd = os.open(path, flags, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


class FileLock:
    """Held by one thread of one process at a time while inside `with` (reentrant: no).

    The lock file (mode 0600) is created on first use and left in place: removing it would
    let two processes lock two different files of the same name.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._threads = threading.Lock()  # flock is per open file: threads queue here first
        self._fd = -1

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._fd < 0:
                self._fd = open_private(self.path)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        """Close the lock file's descriptor (not while held)."""
        with self._threads:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
