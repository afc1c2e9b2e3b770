"""One server per node: the claim `cix serve` holds while it serves.

The node's read caches (`cix.node.cache`) see exactly the writes of this server's processes
(its one process, or its workers through shared counters), and start-up recovery
(`Documents.recover`) deletes blobs no row names: both are only sound while no other server
serves the same node. `ServeClaim` makes that a rule instead of a hope: an
exclusive `flock` on `serve.lock` in the data directory and on `<database>.serve.lock` beside
a SQLite database, and on PostgreSQL a session advisory lock on the database itself, so that two
data directories pointed at one database cannot both serve it. The kernel and the server
release them when the process ends, however it ends (the lock files only once every
worker process that inherited them has ended too).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from cix.node.errors import NodeBusy
from cix.store.db import Database

LOCK_FILE = "serve.lock"
# pg_advisory_lock takes a bigint; this one spells "cixserve" in ASCII.
_ADVISORY_KEY = int.from_bytes(b"cixserve", "big") - (1 << 63)
_DATABASE_WAIT_SECONDS = 5.0
_FILE_WAIT_SECONDS = 2.0


class ServeClaim:
    """Held for the life of `cix serve`; `release()` (or the process's end) gives it up."""

    def __init__(self, data_dir: Path, db: Database) -> None:
        self._files: list[int] = []
        self._connection: Any = None
        try:
            paths = [data_dir / LOCK_FILE]
            if db.dialect == "sqlite" and db.url.database:
                # Also beside the database file, wherever it is: the database is the node.
                paths.append(Path(db.url.database).resolve().with_suffix(".serve.lock"))
            for path in paths:
                self._lock_file(path)
            if db.dialect == "postgresql":
                self._lock_database(db)
        except BaseException:
            self.release()
            raise

    def _lock_file(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        # The workers of a server killed a moment ago hold the lock (they inherit it) until
        # they have noticed and exited: wait a little before calling the node busy.
        deadline = time.monotonic() + _FILE_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise NodeBusy(
                        f"{path}: another `cix serve` is serving this node; "
                        "one server serves a node"
                    ) from None
                time.sleep(0.05)
        self._files.append(fd)

    @property
    def file_descriptors(self) -> tuple[int, ...]:
        """The locked files' descriptors: a worker process that inherits them holds the
        claim with this one, so no other server can start until every worker has ended."""
        return tuple(self._files)

    def _lock_database(self, db: Database) -> None:
        connection = db.writer.connect().execution_options(isolation_level="AUTOCOMMIT")
        connection.detach()
        # A server killed a moment ago holds the lock until PostgreSQL notices its session
        # has gone (soon after the socket closes): wait a little before calling it busy.
        deadline = time.monotonic() + _DATABASE_WAIT_SECONDS
        while (
            not (
                got := connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY}
                ).scalar()
            )
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        if not got:
            connection.close()
            raise NodeBusy(
                "database: another `cix serve` is serving a node on this database; "
                "one server serves a node"
            )
        self._connection = connection

    def release(self) -> None:
        """Give the claim up (idempotent)."""
        if self._connection is not None:
            # Detached from the pool, closing ends the session, and the advisory lock with it
            # (a pooled connection would carry the lock on to its next user).
            self._connection.close()
            self._connection = None
        for fd in self._files:
            os.close(fd)  # closing the descriptor drops its flock
        self._files.clear()


def tune_collector() -> None:
    """Keep the garbage collector's pauses short under load (call once the node is open).

    Everything alive once the node is open (modules, the app, the policies) lives as long as
    the process: frozen out of the collector's view, a full collection scans only what
    requests allocate, not ~130,000 startup objects (pauses of ~100 ms at ~1,000 requests/s
    otherwise). A larger first-generation threshold lets the objects of requests in flight
    die young instead of being promoted and scanned again.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 10)


def configure_logging(level: str) -> None:
    """Give cix's own loggers (`cix.*`: failed authentications, blocked clients) a handler
    on standard error at `level`, in the format of uvicorn's, in a serving process.

    uvicorn configures only its own loggers; without this, Python's last-resort handler
    would drop everything below warning, and the access log (off by default) would be the
    only trace of a client probing tokens.
    """
    import logging

    logger = logging.getLogger("cix")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
