"""What the visits service shows and audits: a visit row as the API and CLI print it, its
state at a moment (an approval past its last day shows `expired`), and its audit events
(which carry ids, kinds, days, facility and level, never the visitor's personal data)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from cix.node.auditing import AuditRecord
from cix.node.refusals import jsonable
from cix.store.models import VisitRow


class VisitInfo(BaseModel):
    """One request for visit as this node holds it (`side` "requester" or "host").

    `state` is `drafted`, `sent`, `approved`, `denied`, `revoked`, or `expired` (an
    approval whose last day has passed in the host's calendar; computed, the row keeps
    `approved`). An approval is the grant: `first_day` to `last_day`, at `facility`, up to
    `highest_level` of the host's scheme, oral and visual access only, under `conditions`.
    `waiting_on` says whose step is next (`requester`: a draft to send; `host`: a request
    to answer; none once answered); `overdue` is true for a request still unanswered on or
    after its first day (the host's calendar). `request` (the visitor's personal data) and
    `answer` (the host's signed answer, compact JWS) are in the detailed view; `history`
    lists every step.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    side: str
    state: str
    kind: str
    agreement: str
    requester_node: str
    requester_party: str
    host_node: str
    host_party: str
    first_day: str
    last_day: str
    facility: str
    highest_level: str
    drafted_by: str
    drafted_at: datetime
    sent_by: str | None
    sent_at: datetime | None
    conditions: str | None
    answered_by: str | None
    answered_at: datetime | None
    revoked_at: datetime | None
    waiting_on: str | None = None
    overdue: bool = False
    request: dict[str, Any] | None = None
    answer: str | None = None
    history: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form the API returns (times in ISO 8601)."""
        return self.model_dump(mode="json")


def state_at(row: VisitRow, host_day: date) -> str:
    """The row's state on the host's calendar day `host_day`."""
    if row.state == "approved" and date.fromisoformat(row.last_day) < host_day:
        return "expired"
    return row.state


def info_of(row: VisitRow, host_day: date, *, detail: bool = False) -> VisitInfo:
    """The caller's view of a visit row; with `detail`, its request, answer and history."""
    waiting = {"drafted": "requester", "sent": "host"}.get(row.state)
    overdue = waiting is not None and date.fromisoformat(row.first_day) <= host_day
    return VisitInfo(
        id=row.id,
        side=row.side,
        state=state_at(row, host_day),
        kind=row.kind,
        agreement=row.agreement,
        requester_node=row.requester_node,
        requester_party=row.requester_party,
        host_node=row.host_node,
        host_party=row.host_party,
        first_day=row.first_day,
        last_day=row.last_day,
        facility=row.facility,
        highest_level=row.highest_level,
        drafted_by=row.drafted_by,
        drafted_at=row.drafted_at,
        sent_by=row.sent_by,
        sent_at=row.sent_at,
        conditions=row.conditions,
        answered_by=row.answered_by,
        answered_at=row.answered_at,
        revoked_at=row.revoked_at,
        waiting_on=waiting,
        overdue=overdue,
        request=dict(row.request) if detail else None,
        answer=row.answer if detail else None,
        history=list(row.history) if detail else None,
    )


def visit_event(
    actor: str,
    visit_id: str,
    action: str,
    now: datetime,
    *,
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """The audit event of a permitted step of visit `visit_id` (no personal data)."""
    return AuditRecord(
        type="visit",
        actor=actor,
        object=f"visit:{visit_id}",
        action=action,
        decision="permit",
        time=now,
        details=jsonable(details or {}),
    )


def step(row: VisitRow, action: str, by: str, now: datetime, **extra: Any) -> None:
    """Append one step to the row's history (a new list, so the JSON column is rewritten)."""
    row.history = [*row.history, jsonable({"step": action, "by": by, "at": now, **extra})]
