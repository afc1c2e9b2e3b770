"""The audit sink a node's services write to (every decision, grant, denial and change).

Services depend on the `AuditSink` protocol only. `MemoryAuditSink` keeps events in a list
(tests, the simulator); the node's tamper-evident log (`cix.audit`) plugs in behind the same
protocol. A service appends *before* it commits the change it records, so a change is never
committed unaudited; an append failure aborts the change.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cix.errors import StorageError


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


class JsonLinesAuditSink:
    """Appends events as JSON lines with fsync: the interim sink until `cix.audit` lands."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, event: AuditEvent) -> None:
        """Append and fsync one line; raises StorageError if the disk refuses."""
        line = json.dumps(event.to_json(), sort_keys=True, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                raise StorageError(f"audit append failed: {exc.strerror}") from exc
