"""User API routes of federation's exchange: transmit a document, list transmissions.

Behind the user API's authentication like every `/api/v1` route; what they do, and who
may, is `cix.node.exchange` (a refused transmission is the one opaque 403).
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cix.api.auth import CurrentActor, node_of
from cix.node.exchange.transmissions import TransmissionInfo

router = APIRouter(tags=["federation"])
DocId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


class TransmitIn(BaseModel):
    """A transmission request: the recipient party, and optionally the purpose stated and
    the originator's consent it relies on."""

    model_config = ConfigDict(extra="forbid")

    to: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    purpose: Annotated[str | None, Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")] = None
    consent: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")] = None


class TransmissionList(BaseModel):
    """Transmissions, newest first."""

    items: list[TransmissionInfo]


@router.post("/documents/{doc_id}/transmit", status_code=202)
async def transmit_document(
    request: Request, actor: CurrentActor, doc_id: DocId, body: TransmitIn
) -> TransmissionInfo:
    """Transmit a document to the node of party `to` (queued: 202; its state then moves to
    receipted or refused, see `GET /transmissions`)."""
    exchange = node_of(request).exchange
    return await anyio.to_thread.run_sync(
        lambda: exchange.transmit(
            actor, doc_id, to_party=body.to, purpose=body.purpose, consent_id=body.consent
        )
    )


@router.get("/transmissions")
def list_transmissions(
    request: Request,
    actor: CurrentActor,
    state: Annotated[
        str | None, Query(pattern=r"^(queued|sent|receipted|refused|overdue)$")
    ] = None,
) -> TransmissionList:
    """This node's transmissions, optionally in one state (`overdue`: needing a receipt
    and without one for too long)."""
    return TransmissionList(items=node_of(request).exchange.transmissions(actor, state))


@router.get("/transmissions/{transmission_id}")
def show_transmission(
    request: Request,
    actor: CurrentActor,
    transmission_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")],
) -> TransmissionInfo:
    """One transmission (for `cix docs transmit --wait`)."""
    return node_of(request).exchange.transmission(actor, transmission_id)
