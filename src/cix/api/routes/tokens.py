"""API tokens for the CLI: created by a person for themselves, shown once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cix.api.auth import CurrentActor, node_of

router = APIRouter(tags=["credentials"])


class ApiTokenIn(BaseModel):
    """A request for a new API token."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=100)]
    ttl_seconds: Annotated[int, Field(ge=60, le=366 * 86400)] = 30 * 86400


class ApiTokenOut(BaseModel):
    """A new API token: `token` is shown only in this response."""

    id: str
    name: str
    token: str
    expires_at: datetime


@router.post("/tokens", status_code=201)
def create_token(request: Request, actor: CurrentActor, body: ApiTokenIn) -> ApiTokenOut:
    """Create an API token for the authenticated person."""
    node = node_of(request)
    token, row = node.api_tokens.create(actor, body.name, ttl=body.ttl_seconds, now=node.clock())
    return ApiTokenOut(id=row.id, name=row.name, token=token, expires_at=row.expires_at)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(request: Request, actor: CurrentActor, token_id: str) -> Response:
    """Revoke one of the caller's API tokens."""
    node = node_of(request)
    node.api_tokens.revoke(actor, token_id, node.clock())
    return Response(status_code=204)
