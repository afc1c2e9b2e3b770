"""Visit routes: requests for visit drafted, sent, answered and shown (issue 13).

`POST /visits` drafts a request (an FSO or the NSA officer); `POST /visits/{id}/send` sends
it to the host's node (the NSA officer: the lead time is checked then); `POST
/visits/{id}/approve|deny|revoke` answer a request made to this node (its NSA officer).
`GET /visits` lists both sides with filters; `GET /visits/{id}` shows one with its request,
the host's signed answer and its history. Roles and the agreement's rules are the
service's; the visitor's fields are checked strictly here and again by the service.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cix.api.auth import CurrentActor, node_of
from cix.federation.visit import VisitKind, Visitor
from cix.node.exchange.visit_rows import VisitInfo

router = APIRouter(tags=["visits"])
VisitId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
State = Literal["drafted", "sent", "approved", "denied", "revoked", "expired"]
Text = Annotated[str, Field(min_length=1, max_length=500)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VisitDraft(_Strict):
    """A request for visit to `host_party`'s authority under `agreement` (a draft)."""

    agreement: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    kind: VisitKind
    host_party: str = Field(pattern=r"^[A-Z]{3}$")
    visitor: Visitor
    contract: Text
    first_day: date
    last_day: date
    purpose: Text
    host_contact: Text
    facility: Text
    highest_level: str = Field(pattern=r"^[A-Z0-9-]{1,16}$")


class VisitWords(_Strict):
    """The conditions of an approval, or the reason of a denial or a revocation."""

    text: str | None = Field(default=None, min_length=1, max_length=2000)


class Visits(BaseModel):
    """A list of visits."""

    items: list[VisitInfo]


@router.get("/visits")
def list_visits(
    request: Request,
    actor: CurrentActor,
    state: Annotated[State | None, Query()] = None,
    kind: Annotated[VisitKind | None, Query()] = None,
    side: Annotated[Literal["requester", "host"] | None, Query()] = None,
    party: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    waiting_on: Annotated[Literal["requester", "host"] | None, Query()] = None,
) -> Visits:
    """Every visit held here (asked by this node, or of it), newest first; `waiting_on`
    gives the queue of what waits on the requester or the host (`overdue` marks a request
    unanswered on its first day)."""
    items = node_of(request).visits.list(
        actor,
        state=state,
        kind=kind.value if kind else None,
        side=side,
        party=party,
        waiting_on=waiting_on,
    )
    return Visits(items=items)


@router.post("/visits", status_code=201)
def draft_visit(request: Request, actor: CurrentActor, body: VisitDraft) -> VisitInfo:
    """Draft a request for visit (FSO or NSA officer); nothing is sent yet."""
    return node_of(request).visits.draft(
        actor,
        agreement=body.agreement,
        kind=body.kind,
        host_party=body.host_party,
        visitor=body.visitor.model_dump(mode="json"),
        contract=body.contract,
        first_day=body.first_day,
        last_day=body.last_day,
        purpose=body.purpose,
        host_contact=body.host_contact,
        facility=body.facility,
        highest_level=body.highest_level,
    )


@router.get("/visits/{visit_id}")
def get_visit(request: Request, actor: CurrentActor, visit_id: VisitId) -> VisitInfo:
    """One visit, with its request, the host's signed answer and its history."""
    return node_of(request).visits.show(actor, visit_id)


@router.post("/visits/{visit_id}/send")
def send_visit(request: Request, actor: CurrentActor, visit_id: VisitId) -> VisitInfo:
    """Send a drafted request to the host's node (NSA officer); refused inside the lead time
    unless an emergency."""
    return node_of(request).visits.send(actor, visit_id)


@router.post("/visits/{visit_id}/approve")
def approve_visit(
    request: Request, actor: CurrentActor, visit_id: VisitId, body: VisitWords
) -> VisitInfo:
    """Approve a request made to this node (NSA officer), with conditions: the grant."""
    return node_of(request).visits.approve(actor, visit_id, conditions=body.text)


@router.post("/visits/{visit_id}/deny")
def deny_visit(
    request: Request, actor: CurrentActor, visit_id: VisitId, body: VisitWords
) -> VisitInfo:
    """Deny a request made to this node (NSA officer)."""
    return node_of(request).visits.deny(actor, visit_id, reason=body.text)


@router.post("/visits/{visit_id}/revoke")
def revoke_visit(
    request: Request, actor: CurrentActor, visit_id: VisitId, body: VisitWords
) -> VisitInfo:
    """Revoke an approved visit made to this node (NSA officer)."""
    return node_of(request).visits.revoke(actor, visit_id, reason=body.text)
