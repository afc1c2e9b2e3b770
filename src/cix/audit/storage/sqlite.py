"""SQLite storage for the audit log: WAL, one writer with BEGIN IMMEDIATE, synchronous=FULL.

One connection writes (under `BEGIN IMMEDIATE`, so two processes never interleave a batch)
and another reads; in WAL mode readers never block the writer. `synchronous=FULL` makes
every commit durable on return, which is what the crash test relies on: an append that
returned survives a power cut, not only a process kill.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from cix.audit.errors import AuditStorageError, UnknownLog
from cix.audit.merkle import Node, storage_id
from cix.filelock import FileLock

FORMAT: Final = "cix-audit-1"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_entries (
    seq INTEGER PRIMARY KEY, leaf BLOB NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit_nodes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit_checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
"""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class _Tx:
    """The write transaction handed to `Log` (see `cix.audit.log.Writer`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def size(self) -> int:
        row = self._conn.execute("SELECT value FROM audit_meta WHERE key = 'size'").fetchone()
        return int(row[0]) if row else 0

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        return _read_nodes(self._conn, nodes)

    def add(
        self,
        entries: Sequence[tuple[int, bytes, bytes]],
        nodes: Sequence[tuple[int, bytes]],
        new_size: int,
    ) -> None:
        c = self._conn
        c.executemany("INSERT INTO audit_entries (seq, leaf, body) VALUES (?, ?, ?)", entries)
        c.executemany("INSERT INTO audit_nodes (id, hash) VALUES (?, ?)", nodes)
        self.set_meta("size", str(new_size))

    def add_checkpoint(self, size: int, note: str) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO audit_checkpoints (size, note) VALUES (?, ?)", (size, note)
        )

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO audit_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _read_nodes(conn: sqlite3.Connection, nodes: Sequence[Node]) -> dict[Node, bytes]:
    leaves = {index: (0, index) for level, index in nodes if level == 0}
    inner = {storage_id(level, index): (level, index) for level, index in nodes if level > 0}
    got: dict[Node, bytes] = {}
    if leaves:
        marks = ",".join("?" * len(leaves))
        for seq, leaf in conn.execute(
            f"SELECT seq, CAST(leaf AS BLOB) FROM audit_entries WHERE seq IN ({marks})",  # noqa: S608 (marks only)
            list(leaves),
        ):
            got[leaves[seq]] = leaf
    if inner:
        marks = ",".join("?" * len(inner))
        for sid, h in conn.execute(
            f"SELECT id, CAST(hash AS BLOB) FROM audit_nodes WHERE id IN ({marks})",  # noqa: S608 (marks only)
            list(inner),
        ):
            got[inner[sid]] = h
    return got


class SqliteStorage:
    """The audit log in a SQLite file (tables `audit_*`, so it can share the node's database)."""

    def __init__(self, path: Path, *, create: bool) -> None:
        if not path.exists():
            if not create:
                raise UnknownLog(f"{path}: no audit log here")
            if not path.parent.is_dir():
                raise UnknownLog(f"{path}: the directory {path.parent} does not exist")
        try:
            self._writer = _connect(path)
            self._reader = _connect(path)
            self._writer.executescript(_SCHEMA)
            fmt = self._writer.execute(
                "SELECT value FROM audit_meta WHERE key = 'format'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise UnknownLog(f"{path}: not an audit log database: {exc}") from exc
        if fmt is None:
            self._writer.execute(
                "INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('format', ?)", (FORMAT,)
            )
        elif fmt[0] != FORMAT:
            raise UnknownLog(f"{path}: unknown audit log format {fmt[0]!r}")
        self._path = path
        self._read_lock = threading.Lock()
        self._write_lock = FileLock(path.with_name(path.name + ".lock"))

    def __repr__(self) -> str:
        return f"SqliteStorage({str(self._path)!r})"

    def size(self) -> int:
        with self._read_lock:
            row = self._reader.execute("SELECT value FROM audit_meta WHERE key = 'size'").fetchone()
        return int(row[0]) if row else 0

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        with self._read_lock:
            return _read_nodes(self._reader, nodes)

    def read_entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        with self._read_lock:
            return self._reader.execute(
                "SELECT seq, CAST(body AS BLOB) FROM audit_entries "
                "WHERE seq >= ? AND seq < ? ORDER BY seq",
                (start, end),
            ).fetchall()

    @property
    def address(self) -> str:
        """The file's path: what `open_storage` reopens this log from in another process."""
        return str(self._path)

    def read_block(self, start: int, end: int) -> list[tuple[bytes, bytes]]:
        with self._read_lock:
            return self._reader.execute(
                "SELECT CAST(body AS BLOB), CAST(leaf AS BLOB) FROM audit_entries "
                "WHERE seq >= ? AND seq < ? ORDER BY seq",
                (start, end),
            ).fetchall()

    def read_seqs(self, start: int, end: int | None, limit: int) -> list[int]:
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT seq FROM audit_entries WHERE seq >= ? AND (? IS NULL OR seq < ?) "
                "ORDER BY seq LIMIT ?",
                (start, end, end, limit),
            ).fetchall()
        return [seq for (seq,) in rows]

    def read_node_range(self, lo: int, hi: int) -> list[tuple[int, bytes]]:
        with self._read_lock:
            return self._reader.execute(
                "SELECT id, CAST(hash AS BLOB) FROM audit_nodes WHERE id >= ? AND id < ? "
                "ORDER BY id",
                (lo, hi),
            ).fetchall()

    def extent(self) -> tuple[int | None, int | None, int | None, int | None]:
        with self._read_lock:
            row = self._reader.execute(
                "SELECT (SELECT min(seq) FROM audit_entries), (SELECT max(seq) FROM audit_entries),"
                " (SELECT min(id) FROM audit_nodes), (SELECT max(id) FROM audit_nodes)"
            ).fetchone()
        return row[0], row[1], row[2], row[3]

    def checkpoints(self) -> list[tuple[int, str]]:
        with self._read_lock:
            return self._reader.execute(
                "SELECT size, note FROM audit_checkpoints ORDER BY size"
            ).fetchall()

    def meta(self, key: str) -> str | None:
        with self._read_lock:
            row = self._reader.execute(
                "SELECT value FROM audit_meta WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else str(row[0])

    @contextmanager
    def write(self) -> Iterator[_Tx]:
        # Writers of other processes (the workers of one `cix serve`, a `cix token issue`)
        # queue on this lock, which wakes the next the moment it is free, rather than on
        # SQLite's busy handler, which polls with sleeps of up to 100 ms.
        with self._write_lock:
            yield from self._write()

    def _write(self) -> Iterator[_Tx]:
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise AuditStorageError(f"{self._path}: cannot start a write: {exc}") from exc
        try:
            yield _Tx(conn)
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise AuditStorageError(f"{self._path}: write failed: {exc}") from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise AuditStorageError(f"{self._path}: commit failed: {exc}") from exc

    def close(self) -> None:
        self._writer.close()
        self._reader.close()
        self._write_lock.close()
