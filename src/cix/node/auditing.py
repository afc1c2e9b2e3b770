"""The audit sink a node's services write to (every decision, grant, denial and change).

Services depend on the `AuditSink` protocol only. `MemoryAuditSink` keeps events in a list
(tests, the simulator); `LogAuditSink` writes to the node's tamper-evident log (`cix.audit`).
A service appends *before* it commits the change it records, so a change is never committed
unaudited; an append failure aborts the change.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cix.errors import InputError, StorageError

if TYPE_CHECKING:
    from cix.audit import Log


@dataclass(frozen=True)
class AuditEvent:
    """One auditable event: who did what to which object, and the decision with reasons."""

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


class AuditSink(Protocol):
    """Where a service records events; `append` raises StorageError when it cannot."""

    def append(self, event: AuditEvent) -> None:
        """Record `event` durably before returning."""
        ...


class MemoryAuditSink:
    """Keeps events in memory, in order (tests and the in-process simulator)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self._lock = threading.Lock()

    def append(self, event: AuditEvent) -> None:
        """Record `event` in the list."""
        with self._lock:
            self.events.append(event)


class LogAuditSink:
    """Appends events to the node's tamper-evident log (`cix.audit`), each durably."""

    def __init__(self, log: Log, node: str) -> None:
        self.log = log
        self.node = node

    def append(self, event: AuditEvent) -> None:
        """Append `event` as an audit entry; StorageError if the log cannot take it."""
        from cix.audit import Event

        try:
            self.log.append(
                Event(
                    time=event.time,
                    node=self.node,
                    type=event.type,
                    actor=event.actor,
                    object=event.object,
                    action=event.action,
                    decision=event.decision,
                    reasons=event.reasons,
                    details=dict(event.details),
                )
            )
        except (InputError, OSError) as exc:
            raise StorageError(f"audit append failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Close the log."""
        self.log.close()
