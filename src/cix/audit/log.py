"""The audit log: numbered entries in an RFC 9162 tree over a pluggable append-only storage.

`Log` holds no database code: it drives a `Storage` (SQLite or PostgreSQL, in
`cix.audit.storage`) through a small interface. Every write is one exclusive transaction that
adds the entries, the tree nodes they complete and, when a signer is attached, the signed
checkpoint of the new tree: a crash leaves either all of it or none of it.

Concurrent `append` calls share commits (group commit): while one thread commits, the others
queue their events, and the next committer takes the whole queue in one transaction.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from cix.audit import merkle
from cix.audit.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    Signer,
    Verifier,
    open_checkpoint,
    sign_checkpoint,
    verifier_from_vkey,
)
from cix.audit.entry import Entry, Event, entry_from_bytes
from cix.audit.errors import AuditInputError, LogTruncated, RootMismatch, TreeTampered
from cix.audit.merkle import Node
from cix.audit.proofs import ConsistencyProof, InclusionProof
from cix.audit.verify import (
    BLOCK_SIZE,
    PARALLEL_FROM,
    BlockReader,
    BlockResult,
    BlockTask,
    Runner,
    run_here,
    verify_tree,
)


class Writer(Protocol):
    """What `Log` may do inside one exclusive write transaction."""

    def size(self) -> int:
        """The committed size, read under the write lock."""

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        """Stored subtree hashes (level 0: leaf hashes) as seen by this transaction."""

    def add(
        self,
        entries: Sequence[tuple[int, bytes, bytes]],
        nodes: Sequence[tuple[int, bytes]],
        new_size: int,
    ) -> None:
        """Insert (seq, leaf hash, body) rows and (storage id, hash) nodes; set the size."""

    def add_checkpoint(self, size: int, note: str) -> None:
        """Store a signed checkpoint of the tree at `size`."""

    def set_meta(self, key: str, value: str) -> None:
        """Record a log property (its verifier key)."""


class Storage(BlockReader, Protocol):
    """The append-only store behind a log; implementations live in `cix.audit.storage`.
    Verification reads it through the `BlockReader` half (`cix.audit.verify`)."""

    def size(self) -> int:
        """The committed number of entries."""

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        """Stored subtree hashes by (level, index), level 0 being leaf hashes; one round trip."""

    def read_entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """(seq, body) rows with start <= seq < end, in order."""

    def checkpoints(self) -> list[tuple[int, str]]:
        """Every stored (size, signed note), by size."""

    def meta(self, key: str) -> str | None:
        """A recorded log property, or None."""

    def write(self) -> AbstractContextManager[Writer]:
        """An exclusive, durable write transaction (commits on normal exit)."""

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What a full verification checked: every entry up to `size`, its root, the checkpoints."""

    size: int
    root: bytes
    checkpoints: int


class _Pending:
    __slots__ = ("done", "entry", "error", "event")

    def __init__(self, event: Event) -> None:
        self.event = event
        self.entry: Entry | None = None
        self.error: BaseException | None = None
        self.done = False


def _leaf_reader(read: Callable[[Sequence[Node]], dict[Node, bytes]]) -> merkle.NodeReader:
    def reader(nodes: Sequence[Node]) -> dict[Node, bytes]:
        got = read(nodes)
        missing = [n for n in nodes if n not in got]
        if missing:
            level, index = missing[0]
            raise TreeTampered(f"stored tree node (level {level}, index {index}) is missing")
        return got

    return reader


class Log:
    """An append-only audit log over `storage`.

    With `signer`, each committed batch carries a signed checkpoint, or only the first batch
    whose last event is at least `checkpoint_interval` after the previous checkpoint's.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        signer: Signer | None = None,
        checkpoint_interval: timedelta | None = None,
    ) -> None:
        self._storage = storage
        self._signer = signer
        self._interval = checkpoint_interval
        self._last_checkpoint_time: datetime | None = None
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()
        self._leading = False
        self._write_lock = threading.Lock()
        self.on_checkpoint: Callable[[SignedCheckpoint], None] | None = None
        """Called with each checkpoint this log signs, once it is committed: where its owner
        keeps evidence of the log's size outside the log (the node, in its database), so a
        cut tail is caught. An error it raises fails the append that signed it."""
        if signer is not None:
            self._pin(signer.verifier)

    @property
    def storage(self) -> Storage:
        """The storage this log writes to."""
        return self._storage

    def close(self) -> None:
        """Close the storage."""
        self._storage.close()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- keys ----------------------------------------------------------------------------

    @property
    def verifier(self) -> Verifier | None:
        """The key this log's checkpoints are signed with (pinned by the first checkpoint)."""
        vkey = self._storage.meta("vkey")
        return verifier_from_vkey(vkey) if vkey else None

    def _pin(self, verifier: Verifier) -> None:
        current = self.verifier
        if current is None:
            with self._storage.write() as tx:
                tx.set_meta("vkey", verifier.vkey())
        elif current != verifier:
            raise AuditInputError(
                f"this log is signed by {current.vkey()}; refusing the key {verifier.vkey()}"
            )

    # -- appending -----------------------------------------------------------------------

    def append(self, event: Event) -> Entry:
        """Append one event durably; return it as recorded. Safe to call from many threads.

        Group commit: while one caller (the leader) commits, later callers queue; when it
        finishes, one of them commits the whole queue in one transaction for all.
        """
        mine = _Pending(event)
        with self._cond:
            self._queue.append(mine)
            while not mine.done and self._leading:
                self._cond.wait()
            if not mine.done:
                self._leading = True
                batch, self._queue = self._queue, []
        if not mine.done:
            try:
                with self._write_lock:
                    entries = self._commit([p.event for p in batch], None)
            except BaseException as exc:
                for p in batch:
                    p.error, p.done = exc, True
            else:
                for p, e in zip(batch, entries, strict=True):
                    p.entry, p.done = e, True
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        assert mine.entry is not None
        return mine.entry

    def append_batch(
        self, events: Sequence[Event], *, seqs: Sequence[int | None] | None = None
    ) -> list[Entry]:
        """Append events in one durable transaction (all or none); return the entries.

        `seqs`, when given, are the sequence numbers the caller expects (None: any); a
        mismatch raises `AuditInputError` and appends nothing.
        """
        with self._write_lock:
            return self._commit(events, seqs)

    def _commit(self, events: Sequence[Event], seqs: Sequence[int | None] | None) -> list[Entry]:
        if not events:
            return []
        sha = hashlib.sha256
        with self._storage.write() as tx:
            size = tx.size()
            frontier = merkle.Frontier.load(size, _leaf_reader(tx.read_nodes))
            if seqs is not None:
                if len(seqs) != len(events):
                    raise AuditInputError("seqs: one expected number (or None) per event")
                for i, want in enumerate(seqs):
                    if want is not None and want != size + i:
                        raise AuditInputError(
                            f"line {i + 1}: seq {want} given, but the next entry is {size + i}"
                        )
            # The append hot path: Frontier.push and storage_id written inline.
            stack = frontier.hashes
            rows: list[tuple[int, bytes, bytes]] = []
            nodes: list[tuple[int, bytes]] = []
            entries: list[Entry] = []
            for seq, event in enumerate(events, start=size):
                entry = Entry(seq, event, event.canonical(seq))
                h = sha(b"\x00" + entry.body).digest()
                rows.append((seq, h, entry.body))
                entries.append(entry)
                if seq & 1:
                    base = 2 * seq - seq.bit_count()
                    level = 0
                    while seq >> level & 1:
                        h = sha(b"\x01" + stack.pop() + h).digest()
                        level += 1
                        nodes.append((base + level, h))
                stack.append(h)
            frontier.size = size + len(events)
            new_size = size + len(events)
            tx.add(rows, nodes, new_size)
            signed: SignedCheckpoint | None = None
            if self._signer is not None and self._checkpoint_due(events[-1].time):
                head = Checkpoint(self._signer.name, new_size, frontier.root())
                signed = sign_checkpoint(head, self._signer)
                tx.add_checkpoint(new_size, signed.note)
                self._last_checkpoint_time = events[-1].time
        if signed is not None and self.on_checkpoint is not None:
            self.on_checkpoint(signed)
        return entries

    def _checkpoint_due(self, now: datetime) -> bool:
        if self._interval is None or self._last_checkpoint_time is None:
            return True
        return now - self._last_checkpoint_time >= self._interval

    # -- reading -------------------------------------------------------------------------

    def size(self) -> int:
        """The number of committed entries."""
        return self._storage.size()

    def root(self, size: int | None = None) -> bytes:
        """The tree root at `size` (default: now), from O(log n) stored hashes."""
        size = self._size_arg(size)
        return merkle.root_at(size, _leaf_reader(self._storage.read_nodes))

    def entries(self, start: int, end: int) -> list[Entry]:
        """The entries with start <= seq < end, parsed and checked to be canonical."""
        return [entry_from_bytes(body) for _, body in self._storage.read_entries(start, end)]

    def tail(self, n: int) -> list[Entry]:
        """The last `n` entries."""
        size = self.size()
        return self.entries(max(0, size - n), size)

    def _size_arg(self, size: int | None) -> int:
        current = self.size()
        if size is None:
            return current
        if not 0 <= size <= current:
            raise AuditInputError(f"size {size} is outside the log's 0..{current}")
        return size

    # -- checkpoints and proofs ----------------------------------------------------------

    def checkpoint(self, signer: Signer) -> SignedCheckpoint:
        """Sign the current tree head with `signer` (the log's pinned key), store it, return it."""
        self._pin(signer.verifier)
        with self._write_lock, self._storage.write() as tx:
            size = tx.size()
            root = merkle.root_at(size, _leaf_reader(tx.read_nodes))
            signed = sign_checkpoint(Checkpoint(signer.name, size, root), signer)
            tx.add_checkpoint(size, signed.note)
        if self.on_checkpoint is not None:
            self.on_checkpoint(signed)
        return signed

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        """The newest stored checkpoint, signature-checked against the pinned key."""
        stored = self._storage.checkpoints()
        verifier = self.verifier
        if not stored or verifier is None:
            return None
        return open_checkpoint(stored[-1][1], verifier)

    def prove_inclusion(self, index: int, size: int | None = None) -> InclusionProof:
        """The inclusion proof of entry `index` in the tree of `size` entries (default: now)."""
        size = self._size_arg(size)
        path = merkle.inclusion_path(index, size, _leaf_reader(self._storage.read_nodes))
        return InclusionProof(index, size, tuple(path))

    def prove_consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """The proof that the tree of `new_size` (default: now) extends that of `old_size`."""
        new_size = self._size_arg(new_size)
        if old_size > new_size:
            raise AuditInputError(f"old size {old_size} is larger than new size {new_size}")
        path = merkle.consistency_path(old_size, new_size, _leaf_reader(self._storage.read_nodes))
        return ConsistencyProof(old_size, new_size, tuple(path))

    # -- full verification ---------------------------------------------------------------

    def verify(
        self,
        *,
        log_key: Verifier | None = None,
        deep: bool = True,
        workers: int | None = None,
        block_size: int = BLOCK_SIZE,
        parallel_from: int = PARALLEL_FROM,
    ) -> VerifyReport:
        """Recompute the whole log and raise at the first thing that is broken.

        Checks every sequence number present (`EntryMissing`), each entry at its own position
        (`EntryOutOfOrder`), each body matching its leaf hash and, with `deep`, parsing as a
        canonical entry (`EntryTampered`), every stored node equal to the recomputed one
        (`TreeTampered`), every checkpoint signed by `log_key` (default: the pinned key;
        `WrongKey`/`CheckpointSignatureInvalid`), no checkpoint beyond the log's size
        (`LogTruncated`) and
        each checkpoint's root equal to the recomputed root (`RootMismatch`, naming the range
        of entries between it and the previous good one).

        The log is checked in aligned blocks of `block_size` entries (a power of two), by
        this process and `workers - 1` others (default: one per CPU; 1 = this process only)
        when it has at least `parallel_from` entries. The result, and the first finding
        raised, are the same whatever the blocks and workers (see `cix.audit.verify`).
        """
        storage = self._storage
        size = storage.size()
        key = log_key or self.verifier
        heads: list[Checkpoint] = []
        for cp_size, note in storage.checkpoints():
            if key is None:
                raise AuditInputError("the log has checkpoints but no key to check them with")
            head = open_checkpoint(note, key).checkpoint
            if head.size != cp_size:
                raise RootMismatch(f"checkpoint stored at size {cp_size} says size {head.size}")
            heads.append(head)
        if heads and heads[-1].size > size:
            raise LogTruncated(
                f"the log has {size} entries but a checkpoint was signed at {heads[-1].size}"
            )
        for head in heads:
            if head.size == 0 and head.root != merkle.EMPTY_ROOT:
                raise RootMismatch("the checkpoint of the empty log has a wrong root")
        workers = (os.cpu_count() or 1) if workers is None else workers
        if workers < 1:
            raise AuditInputError(f"workers must be at least 1, not {workers}")
        runner: Runner = run_here
        if workers > 1 and size >= parallel_from:
            from cix.audit.storage.parallel import run_in_processes  # the process glue

            def runner(
                storage: BlockReader, tasks: Sequence[BlockTask], deep: bool
            ) -> Iterator[BlockResult]:
                return run_in_processes(storage, tasks, deep, workers - 1)

        root = verify_tree(
            storage,
            size,
            [(h.size, h.root) for h in heads if h.size > 0],
            deep=deep,
            block_size=block_size,
            runner=runner,
        )
        return VerifyReport(size, root, len(heads))
