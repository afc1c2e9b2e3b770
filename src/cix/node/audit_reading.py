"""Reading the node's audit log: the recent entries, filtered, for auditors and NSA officers.

Who may read is decided here, once, for every face (the web interface's audit explorer and a
document's audit trail today): an auditor or an NSA officer, as the roles of docs/node.md
say; anyone else is refused with `RoleRequired`, audited. Every read is audited too, with its
filters. A read looks at the last `scan` entries at most (newest first), so its cost is
bounded whatever the log's size; older entries are for `cix audit` on the log itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cix.node.auditing import AuditRecord, AuditSink, LogAuditSink, MemoryAuditSink
from cix.node.errors import NotFound
from cix.node.refusals import Refusals
from cix.node.roles import Actor, Role

READERS = (Role.AUDITOR, Role.NSA_OFFICER)
"""The roles that may read the audit log."""
DEFAULT_SCAN = 10_000


@dataclass(frozen=True, slots=True)
class TrailEntry:
    """One audit entry as a reader sees it (`seq` is its position in the log, if it has one)."""

    seq: int | None
    time: datetime
    type: str
    actor: str
    object: str | None
    action: str | None
    decision: str | None
    reasons: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TrailFilter:
    """What a reader asks for; an empty field matches everything."""

    actor: str = ""
    object_contains: str = ""
    type: str = ""
    decision: str = ""

    def matches(self, entry: TrailEntry) -> bool:
        """Whether `entry` passes every given filter."""
        return (
            (not self.actor or entry.actor == self.actor)
            and (not self.object_contains or self.object_contains in (entry.object or ""))
            and (not self.type or entry.type == self.type)
            and (not self.decision or entry.decision == self.decision)
        )


def _from_record(seq: int | None, record: AuditRecord) -> TrailEntry:
    return TrailEntry(seq, record.time, record.type, record.actor, record.object, record.action,
                      record.decision, record.reasons, dict(record.details))  # fmt: skip


REDACTED = {"redacted": "about a document you may not read"}


def _redacted(
    entry: TrailEntry, may_read: Callable[[str], bool] | None, verdicts: dict[str, bool]
) -> TrailEntry:
    obj = entry.object or ""
    if may_read is None or not obj.startswith("document:") or not entry.details:
        return entry
    doc_id = obj.removeprefix("document:")
    if doc_id not in verdicts:
        verdicts[doc_id] = may_read(doc_id)
    if verdicts[doc_id]:
        return entry
    return TrailEntry(entry.seq, entry.time, entry.type, entry.actor, entry.object,
                      entry.action, entry.decision, entry.reasons, dict(REDACTED))  # fmt: skip


class AuditTrail:
    """Reads the recent entries of the node's audit sink (see the module docstring)."""

    def __init__(self, sink: AuditSink, clock: Callable[[], datetime]) -> None:
        self.sink = sink
        self.refusals = Refusals(sink, clock)

    def _window(self, scan: int) -> Iterable[TrailEntry]:
        """The last `scan` entries, newest first."""
        sink = self.sink
        if isinstance(sink, LogAuditSink):
            size = sink.log.size()
            for entry in reversed(sink.log.entries(max(0, size - scan), size)):
                e = entry.event
                yield TrailEntry(entry.seq, e.time, e.type, e.actor, e.object, e.action,
                                 e.decision, tuple(e.reasons), dict(e.details))  # fmt: skip
        elif isinstance(sink, MemoryAuditSink):
            events = sink.events[-scan:]
            start = len(sink.events) - len(events)
            for i in range(len(events) - 1, -1, -1):
                yield _from_record(start + i, events[i])
        else:
            raise NotFound("this node's audit sink cannot be read here")

    def recent(
        self,
        actor: Actor,
        wanted: TrailFilter,
        *,
        limit: int = 100,
        scan: int = DEFAULT_SCAN,
        may_read: Callable[[str], bool] | None = None,
    ) -> list[TrailEntry]:
        """The newest entries matching `wanted`, at most `limit`, among the last `scan`;
        `RoleRequired` (audited) unless the actor is an auditor or NSA officer.

        With `may_read` (whether the reader may read a document, by id), an entry about a
        document the reader may not read keeps what happened — who, when, which action and
        verdict — but not its details (a title, a marking, a peer's words): the audit role
        does not clear anyone for the information itself."""
        self.refusals.require(actor, READERS, "audit", "audit-log", "read")
        found: list[TrailEntry] = []
        verdicts: dict[str, bool] = {}
        for entry in self._window(scan):
            if wanted.matches(entry):
                found.append(_redacted(entry, may_read, verdicts))
                if len(found) >= limit:
                    break
        # Recorded after the read: the reader's own read is not among what it returns.
        self.refusals.record(
            actor, "audit", "audit-log", "read",
            details={"actor": wanted.actor, "object": wanted.object_contains,
                     "type": wanted.type, "decision": wanted.decision, "returned": len(found)},
        )  # fmt: skip
        return found
