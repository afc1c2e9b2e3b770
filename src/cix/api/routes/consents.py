"""Consent routes: the originator's consent asked for, answered and shown (rules 2-4).

`POST /consents` asks the originator's node (from a received copy); `POST
/consents/{id}/approve|deny` answers a request made to this node (NSA officer); `GET
/consents[?state=]` and `GET /consents/{id}` show both sides. Roles are the service's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cix.api.auth import CurrentActor, node_of
from cix.federation.consent import ConsentAct
from cix.node.dates import DayEnd
from cix.node.exchange.consent_rows import ConsentInfo

router = APIRouter(tags=["consents"])
ConsentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
State = Literal["requested", "approved", "denied", "used", "expired"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsentRequestIn(_Strict):
    """A request for the originator's consent about this node's received copy `document`."""

    document: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
    act: ConsentAct = ConsentAct.RELEASE
    to_party: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    purpose: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,63}$")
    new_label: dict[str, Any] | None = None
    reason: str = Field(min_length=1, max_length=2000)


class ConsentApproval(_Strict):
    """An approval: optional conditions, and an expiry (default 30 days, at most 365)."""

    conditions: str | None = Field(default=None, min_length=1, max_length=2000)
    expires_at: DayEnd | None = None


class ConsentDenial(_Strict):
    """A denial, with the words the requester is given."""

    conditions: str | None = Field(default=None, min_length=1, max_length=2000)


class Consents(BaseModel):
    """A list of consents."""

    items: list[ConsentInfo]


@router.get("/consents")
def list_consents(
    request: Request, actor: CurrentActor, state: Annotated[State | None, Query()] = None
) -> Consents:
    """Every consent held here (asked by this node, or asked of it), newest first."""
    return Consents(items=node_of(request).consents.list(actor, state=state))


@router.post("/consents", status_code=201)
def request_consent(request: Request, actor: CurrentActor, body: ConsentRequestIn) -> ConsentInfo:
    """Ask the originator's node for consent (NSA officer or originator); queued at once."""
    return node_of(request).consents.request(
        actor,
        body.document,
        act=body.act,
        to_party=body.to_party,
        purpose=body.purpose,
        new_label=body.new_label,
        reason=body.reason,
    )


@router.get("/consents/{consent_id}")
def get_consent(request: Request, actor: CurrentActor, consent_id: ConsentId) -> ConsentInfo:
    """One consent, with the originator's signed statement once answered."""
    return node_of(request).consents.show(actor, consent_id)


@router.post("/consents/{consent_id}/approve")
def approve_consent(
    request: Request, actor: CurrentActor, consent_id: ConsentId, body: ConsentApproval
) -> ConsentInfo:
    """Approve a request made to this node (NSA officer): the signed statement goes back."""
    return node_of(request).consents.approve(
        actor, consent_id, conditions=body.conditions, expires_at=body.expires_at
    )


@router.post("/consents/{consent_id}/deny")
def deny_consent(
    request: Request, actor: CurrentActor, consent_id: ConsentId, body: ConsentDenial
) -> ConsentInfo:
    """Deny a request made to this node (NSA officer): a signed denial goes back."""
    return node_of(request).consents.deny(actor, consent_id, conditions=body.conditions)
