"""The audit sink a node's services write to (every decision, grant, denial and change).

A service reports an `AuditRecord` (who did what to which object, the decision and its
reasons, as the service words them); the log stores `cix.audit.Event`s. The sink turns the
one into the other (`log_event`): it adds the node's name and bounds reasons and details to
the entry's limits, so a service knows neither, and a record too large or oddly worded is
still recorded, never refused at the service. (Why two types and not one: services build
records where they have neither the node's name nor the entry's limits, and the log's
`Event` is validated on construction; the records `MemoryAuditSink` keeps for the tests are
the reasons as services gave them.)

Services depend on the `AuditSink` protocol only. `MemoryAuditSink` keeps records in a list
(tests, the simulator); `LogAuditSink` writes to the node's tamper-evident log (`cix.audit`).
A service appends *before* it commits the change it records, so a change is never committed
unaudited; an append failure aborts the change.

`append_many` records several as one group, all or none (an open's decision and its
key access). `submit` does the same without blocking: it returns a future that completes
once the group is durable (or fails with the append's error). `record` is the event loop's
form: awaited, it returns once the group is durable, holding no thread meanwhile.
`LogAuditSink` gives every append and submission to one writer thread, which commits
whatever has queued in one transaction (group commit): under load, many requests share one
commit and one fsync, and the writer wakes each event loop once per commit, not once per
waiting request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cix.audit.entry import Event, bounded_details, bounded_reasons
from cix.errors import InputError, StorageError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cix.audit import Log, SignedCheckpoint
    from cix.store.db import Database


@dataclass(frozen=True)
class AuditRecord:
    """What a node service reports to its audit sink: who did what to which object, and the
    decision with its reasons, as the service words them. Not yet the log's `cix.audit.Event`:
    the sink makes it one (`log_event`: the node's name added, reasons and details bounded to
    the entry's limits), so a service never has to know them."""

    type: str
    actor: str
    object: str
    action: str
    decision: str
    time: datetime
    reasons: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.decision not in ("permit", "deny"):
            raise ValueError(f"audit decision must be permit or deny, not {self.decision!r}")
        if self.time.tzinfo is None:
            raise ValueError("audit time must be timezone-aware")

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object (stable keys)."""
        return {
            "type": self.type,
            "time": self.time.isoformat(),
            "actor": self.actor,
            "object": self.object,
            "action": self.action,
            "decision": self.decision,
            "reasons": list(self.reasons),
            "details": dict(self.details),
        }


#: Room an entry leaves its details once the other fields are in (MAX_ENTRY_BYTES minus the
#: bounded reasons and the bounded identifiers): what a service reports is cut to fit.
_DETAILS_BUDGET = 12 * 1024


def log_event(event: AuditRecord, node: str) -> Event:
    """The log's `Event` for a service's record `event`: reasons as bounded codes, their
    details (and the service's details) bounded, so a decision of any size is recorded,
    never refused."""
    details: dict[str, Any] = dict(event.details)
    reasons = event.reasons
    if reasons:
        codes, reason_details = bounded_reasons(reasons)
        if reason_details:
            details["reason_details"] = reason_details
        reasons = codes
    if details:
        details = bounded_details(details, _DETAILS_BUDGET)
    return Event(
        time=event.time,
        node=node,
        type=event.type,
        actor=event.actor,
        object=event.object,
        action=event.action,
        decision=event.decision,
        reasons=reasons,
        details=details,
    )


class AuditSink(Protocol):
    """Where a service records events; `append` raises StorageError when it cannot."""

    def append(self, event: AuditRecord) -> None:
        """Record `event` durably before returning."""
        ...


def append_many(sink: AuditSink, events: Sequence[AuditRecord]) -> None:
    """Record `events` durably as one group (all or none) before returning.

    Sinks with their own `append_many` make the group atomic; for a sink with `append`
    only, the events are appended in order and the first failure stops the rest.
    """
    grouped = getattr(sink, "append_many", None)
    if grouped is not None:
        grouped(events)
        return
    for event in events:
        sink.append(event)


class GroupBeforeCommit:
    """The audit group of a database write, appended as the write's last step (see
    `audited_write`)."""

    def __init__(self, sink: AuditSink) -> None:
        self.sink = sink
        self.appended: tuple[AuditRecord, ...] = ()

    def append(self, events: Sequence[AuditRecord]) -> None:
        """Record `events` durably now, as one group; the commit follows."""
        append_many(self.sink, events)
        self.appended = tuple(events)


@contextmanager
def audited_write(db: Database, sink: AuditSink) -> Iterator[tuple[Session, GroupBeforeCommit]]:
    """A database write whose audit group is appended just before its commit.

    The group goes first so that a failed append aborts the commit (nothing happens
    unaudited). Should the commit then fail, each permit of the group is followed by a
    compensating entry (the same action, `deny`, reason `not-committed`): the log never
    claims, unanswered, an effect the database does not hold. (A process killed between
    the append and the commit leaves the permit without its compensation.)
    """
    group = GroupBeforeCommit(sink)
    try:
        with db.write() as session:
            yield session, group
    except BaseException:
        if group.appended:
            undone = [
                AuditRecord(
                    type=e.type,
                    actor=e.actor,
                    object=e.object,
                    action=e.action,
                    decision="deny",
                    time=e.time,
                    reasons=("not-committed",),
                    details={"compensates": "permit"},
                )
                for e in group.appended
                if e.decision == "permit"
            ]
            with contextlib.suppress(Exception):  # the original failure is what to report
                append_many(sink, undone)
        raise


def submit(sink: AuditSink, events: Sequence[AuditRecord]) -> Future[None]:
    """Record `events` as one group; the future completes once they are durable, or fails
    with the append's error. Sinks without a `submit` of their own append right here."""
    own = getattr(sink, "submit", None)
    if own is not None:
        result: Future[None] = own(events)
        return result
    done: Future[None] = Future()
    try:
        append_many(sink, events)
    except BaseException as exc:
        done.set_exception(exc)
    else:
        done.set_result(None)
    return done


async def record(sink: AuditSink, events: Sequence[AuditRecord]) -> None:
    """Record `events` as one group; return once they are durable, or raise the append's
    error. Waiting holds no thread. A cancelled caller does not cancel the commit (which
    other requests share): its events are recorded all the same."""
    own = getattr(sink, "submit_async", None)
    if own is not None:
        # Cancelling this future does not reach the writer, which completes only those
        # still waiting: no shield needed.
        await own(events)
        return
    await asyncio.shield(asyncio.wrap_future(submit(sink, events)))


class MemoryAuditSink:
    """Keeps events in memory, in order (tests and the in-process simulator)."""

    def __init__(self) -> None:
        self.events: list[AuditRecord] = []
        self._lock = threading.Lock()

    def append(self, event: AuditRecord) -> None:
        """Record `event` in the list."""
        with self._lock:
            self.events.append(event)

    def append_many(self, events: Sequence[AuditRecord]) -> None:
        """Record `events` in the list, together."""
        with self._lock:
            self.events.extend(events)


_logger = logging.getLogger("cix.audit")
_STOP = object()
#: A waiter of the writer: a thread's future, or an event loop's future and its loop.
_Waiter = Future[None] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """On the waiters' event loop: complete them (those whose caller gave up are done)."""
    for waiter in waiters:
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)


class LogAuditSink:
    """Appends events to the node's tamper-evident log (`cix.audit`), durably, through one
    writer thread that commits whatever has queued as one transaction (group commit)."""

    def __init__(self, log: Log, node: str, *, max_batch: int = 4096) -> None:
        self.log = log
        self.node = node
        self._max_batch = max_batch
        self._queue: list[tuple[list[Any], _Waiter]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._keeper: ThreadPoolExecutor | None = None

    def _entry(self, event: AuditRecord) -> Event:
        return log_event(event, self.node)

    def append(self, event: AuditRecord) -> None:
        """Append `event` as an audit entry; StorageError if the log cannot take it."""
        self.submit((event,)).result()

    def append_many(self, events: Sequence[AuditRecord]) -> None:
        """Append `events` in one transaction (all or none); StorageError if it fails."""
        self.submit(events).result()

    def submit(self, events: Sequence[AuditRecord]) -> Future[None]:
        """Queue `events` as one group for the writer; the future completes once they are
        committed, or fails with StorageError (a bad event fails at once, queuing nothing)."""
        done: Future[None] = Future()
        error = self._queue_group(events, done)
        if error is not None:
            done.set_exception(error)
        return done

    def submit_async(self, events: Sequence[AuditRecord]) -> asyncio.Future[None]:
        """`submit` for the running event loop: its future completes on the loop, which the
        writer wakes once per commit for all of the loop's groups in it."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        error = self._queue_group(events, (loop, done))
        if error is not None:
            done.set_exception(error)
        return done

    def _queue_group(self, events: Sequence[AuditRecord], waiter: _Waiter) -> BaseException | None:
        """Queue a group for the writer, or say why it cannot be."""
        try:
            entries = [self._entry(e) for e in events]
        except InputError as exc:
            return _storage_error(exc)
        with self._cond:
            if self._closed:
                return StorageError("audit append failed: the log is closed")
            self._queue.append((entries, waiter))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._write, name="cix-audit-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return None

    def _write(self) -> None:
        # The node's only group-commit audit writer. What it saves: one log transaction and
        # one fsync per batch instead of per request, and one wake-up per event loop per
        # commit (bench/node.py's open rate: without it every open pays its own fsync).
        # The writer must outlive anything a batch throws: if it died, every later audited
        # action would wait for a commit that never comes.
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch: list[tuple[list[Any], _Waiter]] = []
                size = 0
                while self._queue and (
                    not batch or size + len(self._queue[0][0]) <= self._max_batch
                ):
                    item = self._queue.pop(0)
                    batch.append(item)
                    size += len(item[0])
            # A waiter that gave up (its request was cancelled) is not told, but its events
            # are still written: what was decided stays on the record. The others can no
            # longer be cancelled once running, so completing them below cannot fail.
            threads: list[Future[None]] = []
            loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for _, waiter in batch:
                if isinstance(waiter, tuple):
                    loops.setdefault(waiter[0], []).append(waiter[1])
                elif waiter.set_running_or_notify_cancel():
                    threads.append(waiter)
            error: BaseException | None = None
            try:
                self.log.append_batch([e for entries, _ in batch for e in entries])
            except BaseException as exc:  # every group of the failed transaction fails
                error = _storage_error(exc)
            for done in threads:
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)
            for loop, waiters in loops.items():
                # A loop that has closed has nobody waiting on it any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, waiters, error)

    def keep_checkpoints_in(self, db: Database) -> None:
        """Record each checkpoint the log signs in the node database (`keep_checkpoint`).

        Recorded by a thread of its own, shortly after: a service appends while it holds the
        database's write lock, so the audit writer must never wait for that lock itself.
        """
        keeper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cix-audit-keeper")
        self._keeper = keeper
        self.log.on_checkpoint = lambda signed: _ignore(keeper.submit(keep_checkpoint, db, signed))

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the log."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        if self._keeper is not None:
            self._keeper.shutdown(wait=True)
        self.log.close()


def _ignore(done: Future[None]) -> None:
    """A keeper's result is not awaited (the audit writer must not wait); a failure to record
    is logged, and `cix audit verify --dir` then checks against the previous row."""
    done.add_done_callback(_log_failure)


def _log_failure(done: Future[None]) -> None:
    error = done.exception()
    if error is not None:
        _logger.warning("audit checkpoint not recorded in the node database: %s", error)


def keep_checkpoint(db: Database, signed: SignedCheckpoint) -> None:
    """Record `signed` as the newest checkpoint in the node database, unless one of a larger
    size is already there: evidence of the log's size that cutting the log cannot remove."""
    from cix.store.models import LogEvidence

    head = signed.checkpoint
    with db.write() as session:
        row = session.get(LogEvidence, 1)
        if row is None:
            session.add(LogEvidence(id=1, size=head.size, root=head.root.hex(), note=signed.note))
        elif head.size >= row.size:
            row.size, row.root, row.note = head.size, head.root.hex(), signed.note


def check_log_against_database(db: Database, log: Log) -> None:
    """Raise unless the log reaches the newest checkpoint the node database recorded.

    `LogTruncated` if the log has fewer entries than that checkpoint, or if the database
    records none although the log holds signed checkpoints (the evidence was removed);
    `RootMismatch` if the log's root at that size is another (a cut tail re-grown), or if
    the recorded checkpoint is not one the log's key signed for that size and root (the
    evidence was edited). What this cannot see, an attacker holding both stores can still
    do: put back an older genuine checkpoint after cutting the log to it, and cut entries
    appended since the last checkpoint (`audit_checkpoint_seconds`). The sizes peers have
    cosigned (`check_log_against_cosignatures`, node/exchange/witnessing.py) catch the
    first; see docs/audit.md for what remains.
    """
    from sqlalchemy import select

    from cix.audit.checkpoint import open_checkpoint
    from cix.audit.errors import LogTruncated, RootMismatch
    from cix.errors import VerificationError
    from cix.store.models import LogEvidence

    with db.read() as session:
        row = session.scalars(select(LogEvidence).where(LogEvidence.id == 1)).first()
        recorded = None if row is None else (row.size, row.root, row.note)
    if recorded is None:
        if log.storage.checkpoints():
            raise LogTruncated(
                "the node database records no checkpoint although the log holds signed "
                "ones: the evidence of the log's size was removed"
            )
        return
    size, root, note = recorded
    verifier = log.verifier
    if verifier is not None:
        try:
            signed = open_checkpoint(note, verifier).checkpoint
        except VerificationError:
            raise RootMismatch(
                "the checkpoint the node database recorded is not signed by the log's key"
            ) from None
        if (signed.size, signed.root.hex()) != (size, root):
            raise RootMismatch(
                "the node database's checkpoint row disagrees with its own signed note "
                "(the evidence was edited)"
            )
    have = log.size()
    if have < size:
        raise LogTruncated(
            f"truncated: log has {have} entries, node database recorded checkpoint of size {size}"
        )
    if log.root(size).hex() != root:
        raise RootMismatch(
            f"the log's root at size {size} differs from the checkpoint the node database "
            "recorded (entries rewritten)"
        )


def _storage_error(exc: BaseException) -> BaseException:
    if isinstance(exc, InputError | OSError):
        error = StorageError(f"audit append failed: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error
    return exc
