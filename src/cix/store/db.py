"""Connections to the node database: one writer, separate readers (datasette's model).

SQLite: the database runs in WAL mode with `synchronous=FULL` (a commit that returned is on
disk); every write transaction starts with `BEGIN IMMEDIATE` on the single writer connection,
so writers queue instead of failing with "database is locked" half-way through, and before
that on a `FileLock` beside the database, so that writers of other processes (the workers of
one `cix serve`) are woken the moment it is free instead of polling; readers use their own
`query_only` connections and never block the writer.

PostgreSQL: one engine for both; the server provides the concurrency.

`generation` counts the write transactions that have ended (for each database URL,
whichever `Database` object wrote): it moves after every commit or rollback, so a read
cache whose entries carry the generation they were read at (read *before* the rows) never
serves a row older than the last write. By default it counts this process's writes; the
workers of `cix serve --workers N` share one count through a mapped file
(`share_counters`, `cix.store.counters`), so each sees every worker's writes. A process
outside the server (a script) writing to the database is not counted (`docs/node.md`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from cix.errors import StorageError
from cix.filelock import FileLock
from cix.settings import SettingsError
from cix.store.counters import DESTRUCTIONS, WRITES, Counters, LocalCounters

SUPPORTED = ("sqlite", "postgresql")
#: Threads that may hold a reader connection at once without queueing on the pool: anyio's
#: default worker thread limit (40) plus the event loop's own thread and some headroom.
DEFAULT_READERS = 48


_counters: dict[str, Counters] = {}
_counters_lock = threading.Lock()


def _counters_of(url: str) -> Counters:
    with _counters_lock:
        return _counters.setdefault(url, LocalCounters())


def share_counters(url: str, counters: Counters) -> None:
    """Make every `Database` of `url` in this process count its writes in `counters`.

    A worker of `cix serve --workers N` calls this with the node's `SharedCounters` before
    it opens the node, so that each worker's caches see every other worker's writes.
    """
    with _counters_lock:
        _counters[_url_key(url)] = counters


def _url_key(url: str) -> str:
    return _with_psycopg(make_url(url)).render_as_string(hide_password=True)


def _with_psycopg(parsed: URL) -> URL:
    """`parsed` with PostgreSQL's driver made psycopg 3 (the one cix installs)."""
    if parsed.get_backend_name() == "postgresql" and parsed.drivername != "postgresql+psycopg":
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_setup(engine: Engine, *, writer: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Manage transactions ourselves: pysqlite's implicit BEGIN is deferred.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 10000")
        cursor.execute("PRAGMA foreign_keys = ON")
        if writer:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
        else:
            cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


class Database:
    """The node database: `write()` for the one writer, `read()` for concurrent readers."""

    def __init__(self, url: str, *, readers: int = DEFAULT_READERS) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise SettingsError("database_url: not a valid SQLAlchemy URL") from None
        if parsed.get_backend_name() not in SUPPORTED:
            raise SettingsError(
                f"database_url: backend {parsed.get_backend_name()!r} is not supported "
                f"(use sqlite or postgresql+psycopg)"
            )
        parsed = _with_psycopg(parsed)
        self.url = parsed
        self._counters = _counters_of(parsed.render_as_string(hide_password=True))
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self.writer = create_engine(
                parsed,
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                connect_args={"check_same_thread": False},
            )
            _sqlite_setup(self.writer, writer=True)
            # Every thread that may read gets a connection without waiting (SQLite readers
            # are cheap); a short overflow absorbs bursts beyond that.
            self.reader = create_engine(
                parsed,
                poolclass=QueuePool,
                pool_size=readers,
                max_overflow=8,
                connect_args={"check_same_thread": False},
            )
            _sqlite_setup(self.reader, writer=False)
            self._write_lock: AbstractContextManager[Any] = (
                FileLock(
                    Path(parsed.database).resolve().with_name(Path(parsed.database).name + ".lock")
                )
                if parsed.database and parsed.database != ":memory:"
                else nullcontext()
            )
        else:
            # PostgreSQL connections cost server memory: a smaller pool, the overflow for
            # bursts.
            pooled = min(16, readers)
            self.writer = create_engine(parsed, pool_size=pooled, max_overflow=readers - pooled)
            self.reader = self.writer
            self._write_lock = nullcontext()  # the server queues writers on its row locks
        self._write_sessions = sessionmaker(self.writer, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.reader, expire_on_commit=False)

    @property
    def generation(self) -> int:
        """The number of write transactions ended so far (see the module docstring)."""
        return self._counters.get(WRITES)

    @property
    def destructions(self) -> int:
        """The number of documents destroyed so far (`count_destruction`)."""
        return self._counters.get(DESTRUCTIONS)

    def count_destruction(self) -> None:
        """Record that a document was destroyed: every process serving this database then
        drops what it holds of destroyed documents (their cached wrapped keys)."""
        self._counters.bump(DESTRUCTIONS)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed durably on normal exit, rolled back on any error.

        The generation moves once the transaction has ended, committed or not.
        """
        try:
            with self._write_lock, self._write_sessions() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise StorageError(f"database write failed: {exc.orig.__class__.__name__}") from exc
        finally:
            self._counters.bump(WRITES)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session on a reader connection (a consistent snapshot per transaction)."""
        try:
            with self._read_sessions() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise StorageError(f"database read failed: {exc.orig.__class__.__name__}") from exc

    def dispose(self) -> None:
        """Close every pooled connection (at shutdown, and in tests)."""
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
        if isinstance(self._write_lock, FileLock):
            self._write_lock.close()  # reopened by the next write, if any
