"""Incident reports: a loss or compromise (or a suspicion of one), against a document or not."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cix.errors import InputError
from cix.node.errors import NotFound
from cix.node.register import Register, event, new_id
from cix.node.roles import Actor
from cix.store.models import Document, Incident

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cix.node.auditing import AuditRecord

KINDS = ("loss", "compromise", "suspected")


class Incidents:
    """Records incident reports, each audited in the transaction that stores it."""

    def __init__(self, register: Register) -> None:
        self.reg = register

    def report(
        self, actor: Actor, *, doc_id: str | None, kind: str, description: str
    ) -> dict[str, Any]:
        """Record a loss or compromise (or a suspicion), against a document or not."""
        if kind not in KINDS:
            raise InputError(f"kind: {kind!r} is not loss, compromise or suspected")
        if not description.strip():
            raise InputError("description: an incident report needs a description")
        reg = self.reg
        now = reg.clock()
        incident_id = new_id(now)
        with reg.db.write() as session:
            if doc_id is not None and session.get(Document, doc_id) is None:
                raise NotFound(f"no document {doc_id!r}")
            session.add(
                Incident(
                    id=incident_id,
                    document_id=doc_id,
                    kind=kind,
                    description=description,
                    reported_by=actor.id,
                    reported_at=now,
                    status="open",
                )
            )
            session.flush()
            reg.audit.append(
                event(
                    actor,
                    "incident",
                    f"document:{doc_id}" if doc_id else "node",
                    now=now,
                    details={"incident": incident_id, "kind": kind},
                )
            )
        return {"id": incident_id, "document": doc_id, "kind": kind, "status": "open"}

    def open_once(
        self, session: Session, actor: Actor, *, kind: str, description: str, now: datetime
    ) -> tuple[str, AuditRecord | None]:
        """Record, in the caller's write `session`, an incident the node itself detected (a
        peer's split view): its id and the audit record to append with that write; when an
        incident with the same description is still open, its id and no record (a fault seen
        at every exchange is one incident, not one an exchange)."""
        if kind not in KINDS:
            raise InputError(f"kind: {kind!r} is not loss, compromise or suspected")
        found = session.scalar(
            select(Incident.id)
            .where(Incident.description == description, Incident.status != "closed")
            .limit(1)
        )
        if found is not None:
            return found, None
        incident_id = new_id(now)
        session.add(
            Incident(
                id=incident_id,
                document_id=None,
                kind=kind,
                description=description,
                reported_by=actor.id,
                reported_at=now,
                status="open",
            )
        )
        record = event(
            actor,
            "incident",
            "node",
            now=now,
            details={"incident": incident_id, "kind": kind, "description": description[:500]},
        )
        return incident_id, record
