"""What the consent service reads and shows: a consent row as the API and CLI print it, and
the pinned peer a consent's messages and statements are checked against."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from cix.federation import PinnedPeer, read_identity
from cix.federation.consent import ConsentAct, ConsentRequest
from cix.node.auditing import AuditRecord
from cix.node.refusals import jsonable
from cix.store.models import Consent, PeerRow


class ConsentInfo(BaseModel):
    """One consent as this node holds it (the requester's or the originator's side).

    `state` is `requested`, `approved`, `denied`, `used`, or `expired` (an approval whose
    expiry has passed unused; computed, the row keeps `approved`). `document_id` is the
    originator's document id; `statement` the originator's signed answer (compact JWS).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    side: str
    state: str
    act: str
    document_id: str
    originator_party: str
    originator_node: str | None
    requester_node: str
    requester_party: str | None
    agreement: str | None
    to_party: str | None
    purpose: str | None
    new_label: dict[str, Any] | None
    requested_by: str
    requested_at: datetime
    reason: str | None
    conditions: str | None
    answered_by: str | None
    answered_at: datetime | None
    expires_at: datetime | None
    used_at: datetime | None
    statement: str | None

    def to_json(self) -> dict[str, Any]:
        """The JSON form the API returns (times in ISO 8601)."""
        return self.model_dump(mode="json")


def consent_event(
    actor: str,
    consent_id: str,
    action: str,
    now: datetime,
    *,
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """The audit event of a permitted step of consent `consent_id`."""
    return AuditRecord(
        type="consent",
        actor=actor,
        object=f"consent:{consent_id}",
        action=action,
        decision="permit",
        time=now,
        details=jsonable(details or {}),
    )


def state_at(row: Consent, now: datetime) -> str:
    """The row's state as shown at `now` (an approval past its expiry shows `expired`)."""
    if row.state == "approved" and row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return row.state


def info_of(row: Consent, now: datetime) -> ConsentInfo:
    """The caller's view of a consent row."""
    return ConsentInfo(
        id=row.id,
        side=row.side,
        state=state_at(row, now),
        act=row.act,
        document_id=row.document_id,
        originator_party=row.originator_party,
        originator_node=row.originator_node,
        requester_node=row.requester_node,
        requester_party=row.requester_party,
        agreement=row.agreement,
        to_party=row.to_party,
        purpose=row.purpose,
        new_label=row.new_label,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        reason=row.reason,
        conditions=row.conditions,
        answered_by=row.answered_by,
        answered_at=row.answered_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        statement=row.answer,
    )


def request_of(row: Consent) -> ConsentRequest:
    """The request a consent row records (what the originator's statement must name)."""
    return ConsentRequest(
        consent_id=row.id,
        requester_node=row.requester_node,
        requester_party=row.requester_party or "",
        originator_party=row.originator_party,
        document_id=row.document_id,
        act=ConsentAct(row.act),
        to_party=row.to_party,
        purpose=row.purpose,
        new_label=row.new_label,
        requested_by=row.requested_by,
        reason=row.reason or "",
    )


def pinned_peer(session: Session, node_id: str | None) -> tuple[PinnedPeer, str] | None:
    """The peer `node_id` as pinned here, with its identity document; None if not pinned.

    Read in the caller's transaction, so a peer removed concurrently is not trusted."""
    if node_id is None:
        return None
    row = session.get(PeerRow, node_id)
    if row is None:
        return None
    signed = read_identity(row.identity)
    return PinnedPeer(signed.identity, frozenset(row.agreements)), row.identity
