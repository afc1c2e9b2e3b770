"""The routes served without authentication: health and the built-in issuer's JWKS."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from cix import __version__
from cix.api.auth import node_of

router = APIRouter()
api_router = APIRouter()


class Health(BaseModel):
    """The node is up and answering."""

    status: str
    node: str
    party: str
    version: str


@api_router.get("/health", tags=["node"])
def health(request: Request) -> Health:
    """Liveness: the node answers (no authentication)."""
    node = node_of(request)
    return Health(
        status="ok", node=node.settings.node_id, party=node.settings.party, version=__version__
    )


@router.get("/.well-known/jwks.json", tags=["node"])
def jwks(request: Request) -> dict[str, Any]:
    """The built-in token issuer's public keys (no authentication: they are public)."""
    node = node_of(request)
    return node.verifier.jwks()
