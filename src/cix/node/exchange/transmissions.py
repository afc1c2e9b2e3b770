"""Transmissions as the sender sees them: queued, sent, receipted, refused (with the
peer's code), and overdue (rule 6: material at or above the agreement's receipt level
with no receipt `receipt_overdue_seconds` after it was requested)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, field_serializer
from sqlalchemy import select

from cix.errors import InputError
from cix.node.errors import NotFound
from cix.node.refusals import Refusals
from cix.node.roles import Actor, Role
from cix.store.db import Database
from cix.store.models import Transmission

QUEUED = "queued"
"""Decided and queued in the outbox; not yet accepted by the peer."""
SENT = "sent"
"""Accepted by the peer (a signed answer) without a receipt yet."""
RECEIPTED = "receipted"
"""The peer's signed receipt is stored."""
REFUSED = "refused"
"""The peer refused it; `refusal_code` is the peer's reason."""
OVERDUE = "overdue"
"""Not a stored state: a transmission needing a receipt without one for too long."""
STATES = (QUEUED, SENT, RECEIPTED, REFUSED, OVERDUE)

#: Who may list transmissions: those who may make them, and those who check them.
LISTERS = (Role.NSA_OFFICER, Role.ORIGINATOR, Role.AUDITOR)
_MAX_LISTED = 10_000


class TransmissionInfo(BaseModel):
    """One transmission as the sender's register shows it (the API's body too)."""

    model_config = ConfigDict(frozen=True)

    id: str
    document: str
    to_party: str
    to_node: str
    agreement: str
    purpose: str | None
    consent_id: str | None
    requested_by: str
    requested_at: datetime
    state: str
    refusal_code: str | None
    requires_receipt: bool
    receipted_at: datetime | None
    overdue: bool

    @field_serializer("requested_at", "receipted_at")
    def _times(self, value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    def to_json(self) -> dict[str, Any]:
        """The JSON form the API returns."""
        return self.model_dump(mode="json")


def info_of(row: Transmission, now: datetime, overdue_after: timedelta) -> TransmissionInfo:
    """The view of a stored transmission at `now`."""
    return TransmissionInfo(
        id=row.id,
        document=row.document_id,
        to_party=row.to_party,
        to_node=row.to_node,
        agreement=row.agreement,
        purpose=row.purpose,
        consent_id=row.consent_id,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        state=row.state,
        refusal_code=row.refusal_code,
        requires_receipt=row.requires_receipt,
        receipted_at=row.receipted_at,
        overdue=is_overdue(row, now, overdue_after),
    )


def is_overdue(row: Transmission, now: datetime, overdue_after: timedelta) -> bool:
    """Whether `row` needs a receipt, has none, was not refused, and is older than
    `overdue_after`."""
    return (
        row.requires_receipt
        and row.state in (QUEUED, SENT)
        and now - row.requested_at > overdue_after
    )


class Transmissions:
    """Lists this node's transmissions (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        refusals: Refusals,
        *,
        clock: Callable[[], datetime],
        overdue_after: timedelta,
    ) -> None:
        self.db = db
        self._refusals = refusals
        self._clock = clock
        self._overdue_after = overdue_after

    def show(self, actor: Actor, transmission_id: str) -> TransmissionInfo:
        """One transmission; `NotFound` if there is none (or, for an originator, none
        they requested)."""
        self._refusals.require(actor, LISTERS, "transmission", transmission_id, "show")
        with self.db.read() as session:
            row = session.get(Transmission, transmission_id)
        if row is None or not (
            actor.has(Role.NSA_OFFICER, Role.AUDITOR) or row.requested_by == actor.id
        ):
            raise NotFound(f"no transmission {transmission_id!r}")
        return info_of(row, self._clock(), self._overdue_after)

    def list(self, actor: Actor, state: str | None = None) -> list[TransmissionInfo]:
        """The transmissions in `state` (any when None; `overdue` is those overdue),
        newest first; an NSA officer, an originator or an auditor may list them (an
        originator sees the ones they requested)."""
        if state is not None and state not in STATES:
            raise InputError(f"state: must be one of {', '.join(STATES)}")
        self._refusals.require(actor, LISTERS, "transmission", "transmissions", "list")
        now = self._clock()
        query = select(Transmission).order_by(Transmission.requested_at.desc())
        if state is not None and state != OVERDUE:
            query = query.where(Transmission.state == state)
        if state == OVERDUE:
            query = query.where(
                Transmission.requires_receipt.is_(True),
                Transmission.state.in_((QUEUED, SENT)),
                Transmission.requested_at < now - self._overdue_after,
            )
        if not actor.has(Role.NSA_OFFICER, Role.AUDITOR):
            query = query.where(Transmission.requested_by == actor.id)
        with self.db.read() as session:
            rows = list(session.scalars(query.limit(_MAX_LISTED)))
        found = [info_of(row, now, self._overdue_after) for row in rows]
        self._refusals.record(
            actor, "transmission", "transmissions", "list", details={"returned": len(found)}
        )
        return found
