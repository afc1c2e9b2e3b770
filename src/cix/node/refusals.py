"""Audited decisions of the node's services: the one way a service records a change and says no.

Every service that checks roles (the registry's parts today; documents and the procedures
federation adds may adopt it) records through `Refusals`: a permitted change is appended to
the audit sink with its details, and a refusal is appended with its reason code before the
opaque `Forbidden` is raised, so no refusal goes unaudited and the caller learns nothing the
audit record does not keep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from cix.node.auditing import AuditRecord, AuditSink
from cix.node.errors import Forbidden, RoleRequired
from cix.node.roles import Actor, Role


def jsonable(value: Any) -> Any:
    """`value` with every datetime as ISO 8601 text, recursively (audit details are JSON)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def role_required(allowed: Iterable[Role]) -> str:
    """The reason code of a refusal for want of one of `allowed`."""
    return "role-required:" + "|".join(sorted(r.value for r in allowed))


class Refusals:
    """Records a service's decisions in the audit sink, at the service's clock."""

    def __init__(self, audit: AuditSink, clock: Callable[[], datetime]) -> None:
        self.audit = audit
        self.clock = clock

    def record(
        self,
        actor: Actor,
        event_type: str,
        obj: str,
        action: str,
        *,
        decision: str = "permit",
        reasons: Iterable[str] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one decision on `obj` by `actor` to the audit sink, at the service's clock."""
        self.audit.append(
            AuditRecord(
                type=event_type,
                actor=actor.id,
                object=obj,
                action=action,
                decision=decision,
                time=self.clock(),
                reasons=tuple(reasons),
                details=jsonable(details or {}),
            )
        )

    def deny(self, actor: Actor, event_type: str, obj: str, action: str, reason: str) -> Forbidden:
        """Audit a refusal with its reason code; the `Forbidden` to raise (opaque to callers)."""
        self.record(actor, event_type, obj, action, decision="deny", reasons=(reason,))
        return Forbidden(reason)

    def require(
        self, actor: Actor, allowed: Iterable[Role], event_type: str, obj: str, action: str
    ) -> None:
        """Return if `actor` holds one of `allowed`; otherwise audit the refusal and raise."""
        allowed = tuple(allowed)
        if not actor.has(*allowed):
            reason = role_required(allowed)
            self.record(actor, event_type, obj, action, decision="deny", reasons=(reason,))
            # The role an action needs is the caller's own business (it says nothing of obj).
            raise RoleRequired(tuple(sorted(r.value for r in allowed)))
