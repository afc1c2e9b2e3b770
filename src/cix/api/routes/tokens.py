"""API tokens for the CLI: created by a person for themselves, shown once, listed, revoked.

A token minted here expires no later than the credential the request presented, and one
minted with an API token is revoked with it (`cix.node.tokens.ApiTokens`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cix.api.auth import CurrentActor, credential_of, node_of
from cix.node.text import PlainLine
from cix.node.tokens import ApiTokenInfo

router = APIRouter(tags=["credentials"])
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$")]


class ApiTokenIn(BaseModel):
    """A request for a new API token."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=100), PlainLine]
    ttl_seconds: Annotated[int, Field(ge=60, le=366 * 86400)] = 30 * 86400


class ApiTokenOut(BaseModel):
    """A new API token: `token` is shown only in this response."""

    id: str
    name: str
    token: str
    expires_at: datetime


class ApiTokens(BaseModel):
    """A list of API tokens."""

    items: list[ApiTokenInfo]


@router.get("/tokens")
def list_tokens(request: Request, actor: CurrentActor) -> ApiTokens:
    """The caller's API tokens (an administrator's: everyone's), revoked ones included."""
    rows = node_of(request).api_tokens.listing(actor)
    return ApiTokens(items=rows)


class CurrentCredential(BaseModel):
    """The credential a request presents: whose, until when, and which API token it is
    (None for a bearer token from an issuer)."""

    person: str
    token_id: str | None
    expires_at: datetime


@router.get("/tokens/current")
def current_token(request: Request, actor: CurrentActor) -> CurrentCredential:
    """The credential this request was authenticated with (`cix whoami`, `cix logout`)."""
    credential = credential_of(request)
    return CurrentCredential(
        person=credential.person_id,
        token_id=credential.token_id,
        expires_at=credential.expires_at,
    )


@router.post("/tokens", status_code=201)
def create_token(request: Request, actor: CurrentActor, body: ApiTokenIn) -> ApiTokenOut:
    """Create an API token for the authenticated person, living no longer than the
    credential this request presents."""
    node = node_of(request)
    token, row = node.api_tokens.create(
        actor,
        body.name,
        ttl=body.ttl_seconds,
        now=node.clock(),
        minted_by=credential_of(request),
    )
    return ApiTokenOut(id=row.id, name=row.name, token=token, expires_at=row.expires_at)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(request: Request, actor: CurrentActor, token_id: TokenId) -> Response:
    """Revoke one of the caller's API tokens and every token minted from it (each
    revocation is audited)."""
    node = node_of(request)
    node.api_tokens.revoke(actor, token_id, node.clock())
    return Response(status_code=204)
