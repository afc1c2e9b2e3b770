"""The log side of checkpoint exchange: this node asks each pinned peer to cosign its audit
log's newest checkpoint, and keeps the cosignatures (`peer_cosignatures`).

`Cosigning.exchange_with(peer)` is one round with one peer: it signs a fresh checkpoint
when the log has grown past its newest one, builds the tlog-witness `add-checkpoint`
request from the size the peer last cosigned for us (`Witnessing.cosigned_size`, the
witness being the peer's pinned audit key), sends it signed as a "checkpoint" message to
`POST /federation/v1/add-checkpoint`, and reads only a signed answer from that peer
(`cix.node.exchange.checkpoints` lists them):

- 200: the cosignature line by the peer's pinned audit key is verified and stored
  (`Witnessing.store_cosignature`, audited `witness.cosignature`);
- 409 `witness-conflict` with `known_size`: one retry from that size (a lost row here, or
  a round the peer cosigned whose answer never came back); a known size beyond our log is
  our log cut below what the peer cosigned: refused here (`log-truncated`) and an incident;
- `split-view`, `inconsistent-proof`: the peer's witness holds a checkpoint of ours that
  the one we sent does not extend: an incident here, as there;
- anything else (unreachable, unsigned, another refusal): audited (`witness.exchange`,
  deny, the reason) and tried again later, after a delay doubling from
  `federation_retry_seconds` to `federation_retry_max_seconds`.

`run_forever` is the serving process's loop (`cix.serving.process`): a round with every
pinned peer at start and every `witness_interval_seconds` (0: neither), and with one peer
soon after a message crossed between us (`wake(peer)`: the delivery worker after a
delivery, the inbox after a message received), at most one round a peer every
`MIN_GAP` seconds however many messages cross. Nothing a peer does makes the loop stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any, Final

from cix.audit import Signer
from cix.audit.cosignature import parse_signature_line
from cix.audit.errors import LogTruncated
from cix.audit.witness_protocol import parse_add_checkpoint, parse_cosignature_response
from cix.errors import InputError, PeerError, VerificationError
from cix.federation import (
    Message,
    MessageRefused,
    PinnedPeer,
    new_message_id,
    sign_message,
    verify_message,
)
from cix.keys import SigningKey
from cix.node.auditing import AuditRecord, AuditSink, audited_write
from cix.node.exchange.checkpoints import (
    CHECKPOINT_KIND,
    SPLIT_VIEW_CODES,
    split_view_description,
)
from cix.node.exchange.inbox import ANSWER_KIND
from cix.node.exchange.transport import ADD_CHECKPOINT_PATH, Transport
from cix.node.exchange.witnessing import Witnessing
from cix.node.procedures.incidents import Incidents
from cix.node.roles import SYSTEM
from cix.store.db import Database

#: The least time between two rounds with one peer woken by messages crossing.
MIN_GAP: Final = 1.0
_logger = logging.getLogger("cix.witnessing")


class Cosigning:
    """Rounds of checkpoint exchange with the pinned peers (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        audit: AuditSink,
        witnessing: Witnessing,
        incidents: Incidents,
        *,
        node_id: str,
        signer: Callable[[], SigningKey],
        log_signer: Signer,
        peer: Callable[[str], PinnedPeer | None],
        peers: Callable[[], Collection[str]],
        url_of: Callable[[str], str],
        agreements: Collection[str],
        clock: Callable[[], datetime],
        max_skew: timedelta,
        interval: float,
        retry: timedelta,
        retry_max: timedelta,
        transport: Transport | None = None,
    ) -> None:
        self.db = db
        self.audit = audit
        self.witnessing = witnessing
        self.incidents = incidents
        self.node_id = node_id
        self.transport = transport
        self.interval = interval
        self._signer = signer
        self._log_signer = log_signer
        self._peer = peer
        self._peers = peers
        self._url_of = url_of
        self._agreements = frozenset(agreements)
        self._clock = clock
        self._max_skew = max_skew
        self._retry = retry
        self._retry_max = retry_max
        self._lock = threading.Lock()
        self._woken: set[str] = set()
        self._due: dict[str, float] = {}  # monotonic time a peer is next due (a retry)
        self._failures: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._event = threading.Event()

    # -- one round -------------------------------------------------------------------

    def exchange_with(self, peer_id: str) -> int | None:
        """One round with `peer_id`: the size it cosigned for us, or None when it did not
        (the reason audited, `witness.exchange`). Raises nothing a peer can cause."""
        pinned = self._peer(peer_id)
        if pinned is None:
            return None
        if self.transport is None:
            raise PeerError("no transport: this node was opened without a courier")
        agreements = sorted(pinned.agreements & self._agreements)
        if not agreements:
            return self._failed(peer_id, "not-peered-under-agreement", {})
        witness_key = pinned.identity.audit_key
        old = self.witnessing.cosigned_size(witness_key.name)
        self._fresh_checkpoint()
        for attempt in (1, 2):
            try:
                request = self.witnessing.checkpoint_request(old)
            except LogTruncated as exc:
                return self._log_truncated(peer_id, old, str(exc))
            answer = self._send(pinned, agreements[0], request)
            if isinstance(answer, str):
                return self._failed(peer_id, "not-answered", {"error": answer})
            status, body = answer.body.get("status"), answer.body
            if status == 200:
                return self._store(peer_id, pinned, request, body)
            code = str(body.get("refused") or f"status-{status}")[:64]
            known = body.get("known_size")
            if code == "witness-conflict" and attempt == 1 and _is_size(known):
                assert isinstance(known, int)
                old = known
                continue
            if code in SPLIT_VIEW_CODES:
                return self._split_view(peer_id, pinned, old, code)
            return self._failed(peer_id, code, {"status": status, "known_size": known})
        return None  # pragma: no cover - the loop returns on its second attempt

    def _fresh_checkpoint(self) -> None:
        """Sign the log's current head if entries were appended since its newest
        checkpoint, so that what the peer cosigns covers the messages just exchanged."""
        log = self.witnessing.log
        latest = log.latest_checkpoint()
        if latest is None or latest.checkpoint.size < log.size():
            log.checkpoint(self._log_signer)

    def _send(self, pinned: PinnedPeer, agreement: str, request: str) -> Message | str:
        """Send the request signed; the peer's verified answer, or why there is none."""
        assert self.transport is not None
        peer_id = pinned.identity.node_id
        message_id = new_message_id()
        now = self._clock()
        token = sign_message(
            self._signer(),
            sender=self.node_id,
            audience=peer_id,
            url=ADD_CHECKPOINT_PATH,
            agreement=agreement,
            kind=CHECKPOINT_KIND,
            body={"add_checkpoint": request},
            message_id=message_id,
            issued_at=now,
        )
        try:
            status, data = self.transport.send(
                self._url_of(peer_id), ADD_CHECKPOINT_PATH, token, None
            )
        except PeerError as exc:
            return f"unreachable: {exc}"[:300]
        try:
            answer = verify_message(
                data.decode("ascii"),
                peer=lambda sender: pinned if sender == peer_id else None,
                audience=self.node_id,
                url=ADD_CHECKPOINT_PATH,
                held_agreements={agreement},
                now=self._clock(),
                max_skew=self._max_skew,
            )
        except (MessageRefused, UnicodeDecodeError) as exc:
            return f"unsigned answer {status}: {exc}"[:300]
        if (
            answer.kind != ANSWER_KIND
            or answer.body.get("in_reply_to") != message_id
            or not _is_size(answer.body.get("status"))
        ):
            return "the answer is not a reply to this message"
        return answer

    def _store(
        self, peer_id: str, pinned: PinnedPeer, request: str, body: dict[str, Any]
    ) -> int | None:
        witness_key = pinned.identity.audit_key
        note = parse_add_checkpoint(request).note
        try:
            lines = parse_cosignature_response(str(body.get("cosignatures", "")))
            line = next(li for li in lines if parse_signature_line(li)[0] == witness_key.name)
            self.witnessing.store_cosignature(witness_key.name, witness_key.vkey(), note, line)
        except (StopIteration, InputError, VerificationError) as exc:
            return self._failed(peer_id, "cosignature-invalid", {"error": str(exc)[:300]})
        self._succeeded(peer_id)
        return self.witnessing.cosigned_size(witness_key.name)

    # -- outcomes ----------------------------------------------------------------------

    def _failed(self, peer_id: str, code: str, details: dict[str, Any]) -> int | None:
        with self._lock:
            failures = self._failures[peer_id] = self._failures.get(peer_id, 0) + 1
            delay = min(self._retry * (1 << min(failures - 1, 30)), self._retry_max)
            self._due[peer_id] = time.monotonic() + delay.total_seconds()
        self.audit.append(self._record(peer_id, (code,), {**details, "retry_in": str(delay)}))
        return None  # the round's result: nothing cosigned

    def _succeeded(self, peer_id: str) -> None:
        with self._lock:
            self._failures.pop(peer_id, None)
            self._due.pop(peer_id, None)

    def _split_view(self, peer_id: str, pinned: PinnedPeer, old: int, code: str) -> int | None:
        own = self.witnessing.log.verifier
        name = own.name if own is not None else self.node_id
        witness = pinned.identity.node_id
        self._incident(
            peer_id, code, split_view_description(name, witness, old, f"{code}, told by it")
        )
        return None

    def _log_truncated(self, peer_id: str, old: int, detail: str) -> int | None:
        self._incident(
            peer_id,
            "log-truncated",
            f"log cut: peer {peer_id} cosigned size {old} of this node's audit log, which "
            "no longer reaches it",
            detail,
        )
        return None

    def _incident(self, peer_id: str, code: str, description: str, detail: str = "") -> None:
        """Open (once) the incident of a fault a peer's witness revealed, with the refused
        round audited in the same write; tried again later like any failed round."""
        now = self._clock()
        with audited_write(self.db, self.audit) as (session, group):
            incident, record = self.incidents.open_once(
                session, SYSTEM, kind="suspected", description=description, now=now
            )
            details = {"incident": incident, "detail": detail[:300]}
            events = [self._record(peer_id, (code,), details)]
            group.append([*events, record] if record else events)
        with self._lock:
            self._failures[peer_id] = self._failures.get(peer_id, 0) + 1
            self._due[peer_id] = time.monotonic() + self._retry_max.total_seconds()

    def _record(
        self, peer_id: str, reasons: tuple[str, ...], details: dict[str, Any]
    ) -> AuditRecord:
        return AuditRecord(
            type="witness.exchange",
            actor="system",
            object=f"peer:{peer_id}",
            action="cosign",
            decision="deny",
            time=self._clock(),
            reasons=reasons,
            details=details,
        )

    # -- the loop ----------------------------------------------------------------------

    def wake(self, peer_id: str) -> None:
        """A message crossed between us and `peer_id`: exchange checkpoints soon."""
        with self._lock:
            self._woken.add(peer_id)
        self._event.set()

    def due(self, now: float, timer: bool) -> list[str]:
        """The peers to exchange with at monotonic time `now` (all of them on the timer),
        and forget them as woken."""
        with self._lock:
            chosen = set(self._peers()) if timer else set()
            for peer_id in list(self._woken):
                if now - self._last.get(peer_id, -MIN_GAP) >= MIN_GAP:
                    chosen.add(peer_id)
                    self._woken.discard(peer_id)
            chosen |= {p for p, at in self._due.items() if at <= now}
            for peer_id in chosen:
                self._due.pop(peer_id, None)
                self._last[peer_id] = now
        return sorted(chosen)

    def run_forever(self, stop: threading.Event, *, tick: float = 0.25) -> None:
        """Exchange until `stop` is set (see the module docstring). A round that fails on
        our side (a database hiccup) is logged and tried again at the next tick."""
        next_timer = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            timer = self.interval > 0 and now >= next_timer
            if timer:
                next_timer = now + self.interval
            for peer_id in self.due(now, timer):
                if stop.is_set():
                    return
                try:
                    self.exchange_with(peer_id)
                except Exception:  # the loop must outlive anything a round throws
                    _logger.exception("checkpoint exchange with %s failed", peer_id)
                    self._failed_quietly(peer_id)
            self._event.wait(tick)
            self._event.clear()

    def _failed_quietly(self, peer_id: str) -> None:
        with self._lock:
            self._due[peer_id] = time.monotonic() + self._retry_max.total_seconds()


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
