"""The node's REST API: `create_app(node)` builds the FastAPI application.

Routes live under `/api/v1`; the OpenAPI document is `/api/v1/openapi.json`. Everything
but health, the OpenAPI document and the issuer's public JWKS requires authentication
(enforced by a router-level dependency, so a new route cannot forget it).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from starlette.types import Scope

from cix import __version__
from cix.api import problems
from cix.api.auth import authenticate
from cix.api.limits import BodyLimit, FailureLimiter
from cix.api.routes import documents, public, registry, tokens
from cix.node.service import Node

API_PREFIX = "/api/v1"
OPENAPI_URL = f"{API_PREFIX}/openapi.json"
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/health", OPENAPI_URL, "/.well-known/jwks.json"})
"""The only paths served without authentication."""

UPLOAD_PATHS = (f"{API_PREFIX}/documents",)


def create_app(node: Node, *, workers: int = 1) -> FastAPI:
    """The API application serving `node`, as one of `workers` processes serving it.

    Each worker counts authentication failures on its own, so each allows its share of
    `auth_failure_limit` (rounded up): a client spread over every worker gets no more
    attempts in a window than one process would allow it (give or take the rounding).
    """
    app = FastAPI(
        title="cix national node",
        version=__version__,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        description="Classified information exchange: one nation's node.",
    )
    app.state.node = node
    settings = node.settings
    app.state.limiter = FailureLimiter(
        -(-settings.auth_failure_limit // workers),
        settings.auth_failure_window_seconds,
        settings.rate_limit_clients,
    )
    problems.install(app)

    def limit_for(scope: Scope) -> int:
        path = scope.get("path", "")
        if scope.get("method") in ("POST", "PUT") and path.startswith(UPLOAD_PATHS):
            return settings.max_upload_bytes
        return settings.max_request_bytes

    app.add_middleware(BodyLimit, limit_for=limit_for)
    # Routes are matched in order: opening a document first (the hot path), then the rest.
    hot = APIRouter(prefix=API_PREFIX, dependencies=[Depends(authenticate)])
    hot.include_router(documents.content_router)
    app.include_router(hot)
    app.include_router(public.router)
    app.include_router(public.api_router, prefix=API_PREFIX)
    protected = APIRouter(prefix=API_PREFIX, dependencies=[Depends(authenticate)])
    protected.include_router(documents.router)
    protected.include_router(registry.router)
    protected.include_router(tokens.router)
    app.include_router(protected)
    return app
