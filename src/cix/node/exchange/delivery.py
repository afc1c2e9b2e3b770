"""Delivery: sends what the outbox holds, with retries and backoff, and records the
peer's signed answers.

`Delivery.run_once()` claims the rows that are due (state queued and `next_attempt_at`
at or before now, oldest due first, a few at a time: never an id high-water mark, which
would skip rows committed out of order). Claiming counts the attempt and moves
`next_attempt_at` a lease ahead, in a short write of its own (on PostgreSQL with
`FOR UPDATE SKIP LOCKED`, so concurrent workers claim different rows; on SQLite the one
writer serialises them), so that no lock is held while the message travels and a worker
killed mid-send only delays the row until its lease ends. Each attempt signs the message
afresh (a new issue time, the same message id: the receiver's inbox answers a repeat
with its stored answer), sends it through the `Transport`, and verifies the answer: a
message from that peer, to this node, for the same route, in reply to this message id.

The claimed messages are sent `concurrency` at a time (each attempt on its own thread),
then their outcomes are recorded together, in one audited write: per message, a signed
2xx answer marks the row delivered and runs the kind's `AnswerHook`; a signed 4xx
refusal marks it refused (the peer's code kept) and runs the hook too; anything else (the
peer unreachable, an unsigned or unverifiable answer, a clock-skew refusal) keeps it
queued with `last_error`, to be retried after a delay doubling from
`federation_retry_seconds` up to `federation_retry_max_seconds`.
Only a signed answer changes a row's fate: whoever sits between the nodes can delay a
message, never make it count as delivered or refused. After that write, the objects of
messages answered for good are deleted (never sent again; `recover` at start-up sweeps
those a kill left).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cix.errors import PeerError, StorageError
from cix.federation import Message, MessageRefused, PinnedPeer, sign_message, verify_message
from cix.keys import SigningKey
from cix.node.auditing import AuditRecord, AuditSink, audited_write
from cix.node.exchange.inbox import ANSWER_KIND
from cix.node.exchange.outbox import DELIVERED, QUEUED, REFUSED
from cix.node.exchange.transport import DOCUMENTS_PATH, MESSAGES_PATH, Transport
from cix.store.blobs import BlobStore
from cix.store.db import Database
from cix.store.models import Document, OutboxItem

AnswerHook = Callable[[Session, OutboxItem, Message], Iterable[AuditRecord] | None]
"""Runs on the sender for the peer's verified, signed, final answer (delivered or
refused: read `message.body["status"]`) inside the write that records it; the audit
events it returns are appended with that write's group."""

Preload = Callable[[Session, list[str]], object]
"""Loads into the session, in one query, the rows the `AnswerHook`s of a pass's messages
(by message id) will read, so that each hook's lookup is found without a query; returns
them (the caller holds them for the write)."""

#: Refusals that say "not now" rather than "no": the message is retried.
RETRIED_REFUSALS = frozenset({"clock-skew"})
#: An answer is bound to our message by `in_reply_to`, not by its age: a stored answer
#: replayed by the peer's inbox may be days old.
_ANSWER_AGE = timedelta(days=365 * 100)
_logger = logging.getLogger("cix.delivery")


@dataclass(frozen=True)
class _Claimed:
    message_id: str
    peer: str
    kind: str
    agreement: str
    body: dict[str, Any]
    blob_hash: str | None
    attempts: int


@dataclass(frozen=True)
class _Outcome:
    state: str  # QUEUED (retry), DELIVERED or REFUSED
    status: int | None
    error: str | None
    answer: Message | None


class Delivery:
    """Delivers the outbox (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        audit: AuditSink,
        *,
        node_id: str,
        signer: Callable[[], SigningKey],
        peer: Callable[[str], PinnedPeer | None],
        url_of: Callable[[str], str],
        blobs: BlobStore,
        clock: Callable[[], datetime],
        retry: timedelta,
        retry_max: timedelta,
        transport: Transport | None = None,
        lease: timedelta = timedelta(seconds=60),
        concurrency: int = 1,
    ) -> None:
        self.db = db
        self.audit = audit
        self.node_id = node_id
        self.transport = transport
        self._signer = signer
        self._peer = peer
        self._url_of = url_of
        self._blobs = blobs
        self._clock = clock
        self._retry = retry
        self._retry_max = retry_max
        self._lease = lease
        self._concurrency = max(1, concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._hooks: dict[str, AnswerHook] = {}
        self._preloads: dict[str, Preload] = {}
        self._wake = threading.Event()
        self.on_delivered: Callable[[str], None] | None = None
        """Told the peer's node id after each message it answered 2xx (witnessing's cue to
        exchange checkpoints with it, `cix.node.exchange.cosigning`)."""

    def on_answer(self, kind: str, hook: AnswerHook, *, preload: Preload | None = None) -> None:
        """Run `hook` for the final signed answer to each message of `kind`; `preload`,
        if given, loads in one query what the hooks of a pass will read."""
        if kind in self._hooks:
            raise ValueError(f"an answer hook for {kind!r} is already registered")
        self._hooks[kind] = hook
        if preload is not None:
            self._preloads[kind] = preload

    def backoff(self, attempts: int) -> timedelta:
        """The delay after the `attempts`-th failed attempt: doubling, capped."""
        delay = self._retry * (1 << min(max(attempts - 1, 0), 30))
        return min(delay, self._retry_max)

    # -- one pass ----------------------------------------------------------------------

    def run_once(self, limit: int = 16) -> int:
        """Attempt up to `limit` due messages, `concurrency` of them at a time; record
        their outcomes in one audited write; return how many were attempted."""
        if self.transport is None:
            raise PeerError("no transport: this node was opened without a courier")
        claimed = self._claim(limit)
        if not claimed:
            return 0
        # Each peer looked up once a pass, not once a message.
        targets: dict[str, tuple[PinnedPeer, str] | None] = {}
        for peer in {item.peer for item in claimed}:
            pinned = self._peer(peer)
            targets[peer] = None if pinned is None else (pinned, self._url_of(peer))

        def attempt(item: _Claimed) -> _Outcome:
            return self._attempt(item, targets[item.peer])

        if self._concurrency == 1 or len(claimed) == 1:
            outcomes = [attempt(item) for item in claimed]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._concurrency, "cix-deliver")
            outcomes = list(self._pool.map(attempt, claimed))
        self._record(list(zip(claimed, outcomes, strict=True)))
        if self.on_delivered is not None:
            for peer in {i.peer for i, o in zip(claimed, outcomes, strict=True)
                         if o.state == DELIVERED}:  # fmt: skip
                self.on_delivered(peer)
        return len(claimed)

    def close(self) -> None:
        """Stop the threads that send in parallel (if any were started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _claim(self, limit: int) -> list[_Claimed]:
        now = self._clock()
        due = (OutboxItem.state == QUEUED, OutboxItem.next_attempt_at <= now)
        with self.db.read() as session:  # nothing due: no write, no writer lock taken
            if session.scalar(select(OutboxItem.message_id).where(*due).limit(1)) is None:
                return []
        query = select(OutboxItem).where(*due).order_by(OutboxItem.next_attempt_at).limit(limit)
        if self.db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed: list[_Claimed] = []
        with self.db.write() as session:
            for row in session.scalars(query):
                row.attempts += 1
                row.next_attempt_at = now + self._lease
                claimed.append(
                    _Claimed(
                        row.message_id,
                        row.peer,
                        row.kind,
                        row.agreement,
                        dict(row.body),
                        row.blob_hash,
                        row.attempts,
                    )
                )
        return claimed

    def _attempt(self, item: _Claimed, target: tuple[PinnedPeer, str] | None) -> _Outcome:
        assert self.transport is not None
        now = self._clock()
        if target is None:
            return _Outcome(QUEUED, None, "peer-not-pinned", None)
        pinned, url = target
        path = DOCUMENTS_PATH if item.blob_hash else MESSAGES_PATH
        token = sign_message(
            self._signer(),
            sender=self.node_id,
            audience=item.peer,
            url=path,
            agreement=item.agreement,
            kind=item.kind,
            body=item.body,
            message_id=item.message_id,
            issued_at=now,
        )
        body = self._blobs.path(item.blob_hash) if item.blob_hash else None
        try:
            status, data = self.transport.send(url, path, token, body)
        except PeerError as exc:
            return _Outcome(QUEUED, None, f"unreachable: {exc}"[:500], None)
        except OSError as exc:  # the blob could not be read: ours, retried
            return _Outcome(QUEUED, None, f"local: {exc.strerror or exc}"[:500], None)
        try:
            answer = verify_message(
                data.decode("ascii"),
                peer=lambda sender: pinned if sender == pinned.identity.node_id else None,
                audience=self.node_id,
                url=path,
                held_agreements={item.agreement},
                now=now,
                max_skew=_ANSWER_AGE,
            )
        except (MessageRefused, UnicodeDecodeError) as exc:
            return _Outcome(QUEUED, status, f"unsigned answer {status}: {exc}"[:500], None)
        signed_status = answer.body.get("status")
        if (
            answer.kind != ANSWER_KIND
            or answer.body.get("in_reply_to") != item.message_id
            or not isinstance(signed_status, int)
        ):
            return _Outcome(QUEUED, status, "the answer is not a reply to this message", None)
        if 200 <= signed_status < 300:
            return _Outcome(DELIVERED, signed_status, None, answer)
        code = str(answer.body.get("refused") or f"status-{signed_status}")[:64]
        if 400 <= signed_status < 500 and code not in RETRIED_REFUSALS:
            return _Outcome(REFUSED, signed_status, code, answer)
        return _Outcome(QUEUED, signed_status, f"refused for now: {code}", None)

    def _record(self, outcomes: list[tuple[_Claimed, _Outcome]]) -> None:
        """Record a pass's outcomes in one audited write (one commit, one audit group:
        per message, the same rows and events as if each were written alone)."""
        now = self._clock()
        with audited_write(self.db, self.audit) as (session, group):
            # One query for the pass's rows (and the hooks' own), not one a message.
            ids = [item.message_id for item, _ in outcomes]
            # (Held here: the session's identity map keeps its objects only weakly.)
            held: list[object] = list(
                session.scalars(select(OutboxItem).where(OutboxItem.message_id.in_(ids)))
            )
            for kind in {row.kind for row in held if isinstance(row, OutboxItem)}:
                preload = self._preloads.get(kind)
                if preload is not None:
                    held.append(preload(session, ids))
            events: list[AuditRecord] = []
            for item, outcome in outcomes:
                events.extend(self._record_one(session, item, outcome, now))
            session.flush()
            if events:
                group.append(events)
        self._sweep([i.blob_hash for i, o in outcomes if o.state != QUEUED and i.blob_hash])

    def _sweep(self, hashes: list[str]) -> None:
        """Delete the objects of messages now answered for good: they are never sent
        again, and kept they would grow the disk by every transmission. (A process killed
        before this leaves them to `recover` at the next start, which keeps only the
        objects of queued messages and of documents.)"""
        if not hashes:
            return
        with self.db.read() as session:
            kept = set(session.scalars(select(Document.blob_hash).where(
                Document.blob_hash.in_(hashes))))  # fmt: skip
            kept.update(session.scalars(select(OutboxItem.blob_hash).where(
                OutboxItem.blob_hash.in_(hashes), OutboxItem.state == QUEUED)))  # fmt: skip
        for blob in set(hashes) - kept:
            try:
                self._blobs.delete(blob)
            except StorageError:  # recover sweeps it at the next start
                _logger.warning("could not delete a delivered object", exc_info=True)

    def _record_one(
        self, session: Session, item: _Claimed, outcome: _Outcome, now: datetime
    ) -> list[AuditRecord]:
        row = session.get(OutboxItem, item.message_id)
        if row is None or row.state != QUEUED:
            return []  # another worker recorded its answer first
        details: dict[str, Any] = {
            "peer": item.peer,
            "kind": item.kind,
            "attempt": item.attempts,
        }
        if outcome.status is not None:
            details["status"] = outcome.status
        events: list[AuditRecord] = []
        if outcome.state == QUEUED:
            row.last_error = outcome.error
            row.next_attempt_at = now + self.backoff(item.attempts)
            details["retry_at"] = row.next_attempt_at.isoformat()
            events.append(self._event(item, "deliver", "deny", ("not-delivered",), now,
                                      {**details, "error": outcome.error or ""}))  # fmt: skip
        else:
            assert outcome.answer is not None
            row.state = outcome.state
            row.answer = outcome.answer.token
            row.delivered_at = now
            row.last_error = outcome.error
            hook = self._hooks.get(item.kind)
            if hook is not None:
                events.extend(hook(session, row, outcome.answer) or ())
            decision = "permit" if outcome.state == DELIVERED else "deny"
            reasons = () if outcome.error is None else (outcome.error,)
            events.insert(0, self._event(item, "deliver", decision, reasons, now, details))
        return events

    def _event(
        self,
        item: _Claimed,
        action: str,
        decision: str,
        reasons: tuple[str, ...],
        now: datetime,
        details: dict[str, Any],
    ) -> AuditRecord:
        return AuditRecord(
            type="federation",
            actor="system",
            object=f"message:{item.message_id}",
            action=action,
            decision=decision,
            time=now,
            reasons=reasons,
            details=details,
        )

    # -- the worker loop ---------------------------------------------------------------

    def wake(self) -> None:
        """Say that a message was queued: the loop looks at once rather than at its next
        tick."""
        self._wake.set()

    def run_forever(
        self, stop: threading.Event, *, tick: float = 0.2, limit: int | None = None
    ) -> None:
        """Deliver until `stop` is set: again at once while a pass was full, otherwise
        after `tick` seconds or a `wake()`. A pass that fails is logged and retried at the
        next tick (the rows it claimed come due again when their lease ends). A pass
        claims `limit` messages (by default four per concurrent send)."""
        limit = limit or max(16, 4 * self._concurrency)
        while not stop.is_set():
            try:
                attempted = self.run_once(limit)
            except Exception:  # the loop must outlive a database hiccup
                _logger.exception("delivery pass failed")
                attempted = 0
            if attempted < limit:
                self._wake.wait(tick)
                self._wake.clear()
