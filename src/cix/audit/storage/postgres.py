"""PostgreSQL storage for the audit log (psycopg 3), the same tables as SQLite.

Writers serialise on the `size` row (`SELECT … FOR UPDATE`) so that two nodes' processes
never interleave a batch; rows go in with COPY. Commits use the server's default
`synchronous_commit = on`: a returned append is on the server's disk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import psycopg

from cix.audit.errors import AuditStorageError, UnknownLog
from cix.audit.merkle import Node, storage_id
from cix.audit.storage.sqlite import FORMAT

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_entries (
    seq BIGINT PRIMARY KEY, leaf BYTEA NOT NULL, body BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS audit_nodes (id BIGINT PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS audit_checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL);
"""

Conn = psycopg.Connection[tuple[Any, ...]]


def _libpq_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "…@" + rest.split("@", 1)[1]  # never echo a password
    return scheme + sep + rest


def _read_nodes(conn: Conn, nodes: Sequence[Node]) -> dict[Node, bytes]:
    leaves = {index: (0, index) for level, index in nodes if level == 0}
    inner = {storage_id(level, index): (level, index) for level, index in nodes if level > 0}
    got: dict[Node, bytes] = {}
    if leaves:
        rows = conn.execute(
            "SELECT seq, leaf FROM audit_entries WHERE seq = ANY(%s)", (list(leaves),)
        )
        for seq, leaf in rows:
            got[leaves[seq]] = bytes(leaf)
    if inner:
        rows = conn.execute("SELECT id, hash FROM audit_nodes WHERE id = ANY(%s)", (list(inner),))
        for sid, h in rows:
            got[inner[sid]] = bytes(h)
    return got


class _Tx:
    """The write transaction handed to `Log` (see `cix.audit.log.Writer`)."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def size(self) -> int:
        row = self._conn.execute(
            "SELECT value FROM audit_meta WHERE key = 'size' FOR UPDATE"
        ).fetchone()
        return int(row[0]) if row else 0

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        return _read_nodes(self._conn, nodes)

    def add(
        self,
        entries: Sequence[tuple[int, bytes, bytes]],
        nodes: Sequence[tuple[int, bytes]],
        new_size: int,
    ) -> None:
        with self._conn.cursor() as cur:
            with cur.copy("COPY audit_entries (seq, leaf, body) FROM STDIN") as copy:
                for row in entries:
                    copy.write_row(row)
            if nodes:
                with cur.copy("COPY audit_nodes (id, hash) FROM STDIN") as copy:
                    for node in nodes:
                        copy.write_row(node)
        self.set_meta("size", str(new_size))

    def add_checkpoint(self, size: int, note: str) -> None:
        self._conn.execute(
            "INSERT INTO audit_checkpoints (size, note) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (size, note),
        )

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO audit_meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class PostgresStorage:
    """The audit log in a PostgreSQL database (tables `audit_*`)."""

    def __init__(self, url: str, *, create: bool) -> None:
        self._url = _libpq_url(url)
        self._shown = _redact(url)
        try:
            self._writer: Conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
            self._reader: Conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise UnknownLog(f"{self._shown}: cannot connect: {exc}".strip()) from exc
        try:
            with self._writer.transaction():
                exists = self._writer.execute(
                    "SELECT to_regclass('audit_meta') IS NOT NULL"
                ).fetchone()
                if not (exists and exists[0]):
                    if not create:
                        raise UnknownLog(f"{self._shown}: no audit log in this database")
                    self._writer.execute("SELECT pg_advisory_xact_lock(7263519)")
                    self._writer.execute(_SCHEMA)
                    self._writer.execute(
                        "INSERT INTO audit_meta (key, value) VALUES ('format', %s), ('size', '0') "
                        "ON CONFLICT DO NOTHING",
                        (FORMAT,),
                    )
                fmt = self._writer.execute(
                    "SELECT value FROM audit_meta WHERE key = 'format'"
                ).fetchone()
        except psycopg.Error as exc:
            self.close()
            raise AuditStorageError(f"{self._shown}: cannot open the log: {exc}") from exc
        except UnknownLog:
            self.close()
            raise
        if fmt is None or fmt[0] != FORMAT:
            self.close()
            raise UnknownLog(f"{self._shown}: unknown audit log format")
        self._read_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresStorage({self._shown!r})"

    def size(self) -> int:
        with self._read_lock:
            row = self._reader.execute("SELECT value FROM audit_meta WHERE key = 'size'").fetchone()
        return int(row[0]) if row else 0

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        with self._read_lock:
            return _read_nodes(self._reader, nodes)

    def read_entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT seq, body FROM audit_entries WHERE seq >= %s AND seq < %s ORDER BY seq",
                (start, end),
            ).fetchall()
        return [(seq, bytes(body)) for seq, body in rows]

    @property
    def address(self) -> str:
        """The libpq URL: what `open_storage` reopens this log from in another process."""
        return self._url

    def read_block(self, start: int, end: int) -> list[tuple[bytes, bytes]]:
        with self._read_lock, self._reader.cursor(binary=True) as cur:
            cur.execute(
                "SELECT body, leaf FROM audit_entries WHERE seq >= %s AND seq < %s ORDER BY seq",
                (start, end),
            )
            return cur.fetchall()  # bytea loads as bytes

    def read_seqs(self, start: int, end: int | None, limit: int) -> list[int]:
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT seq FROM audit_entries WHERE seq >= %s "
                "AND (%s::bigint IS NULL OR seq < %s::bigint) ORDER BY seq LIMIT %s",
                (start, end, end, limit),
            ).fetchall()
        return [int(seq) for (seq,) in rows]

    def read_node_range(self, lo: int, hi: int) -> list[tuple[int, bytes]]:
        with self._read_lock, self._reader.cursor(binary=True) as cur:
            cur.execute(
                "SELECT id, hash FROM audit_nodes WHERE id >= %s AND id < %s ORDER BY id",
                (lo, hi),
            )
            return cur.fetchall()

    def extent(self) -> tuple[int | None, int | None, int | None, int | None]:
        with self._read_lock:
            row = self._reader.execute(
                "SELECT (SELECT min(seq) FROM audit_entries), (SELECT max(seq) FROM audit_entries),"
                " (SELECT min(id) FROM audit_nodes), (SELECT max(id) FROM audit_nodes)"
            ).fetchone()
        assert row is not None
        return row[0], row[1], row[2], row[3]

    def checkpoints(self) -> list[tuple[int, str]]:
        with self._read_lock:
            return [
                (int(size), str(note))
                for size, note in self._reader.execute(
                    "SELECT size, note FROM audit_checkpoints ORDER BY size"
                )
            ]

    def meta(self, key: str) -> str | None:
        with self._read_lock:
            row = self._reader.execute(
                "SELECT value FROM audit_meta WHERE key = %s", (key,)
            ).fetchone()
        return None if row is None else str(row[0])

    @contextmanager
    def write(self) -> Iterator[_Tx]:
        try:
            with self._writer.transaction():
                yield _Tx(self._writer)
        except psycopg.Error as exc:
            raise AuditStorageError(f"{self._shown}: write failed: {exc}") from exc

    def close(self) -> None:
        for conn in (getattr(self, "_writer", None), getattr(self, "_reader", None)):
            if conn is not None:
                conn.close()
