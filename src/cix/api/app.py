"""The node's REST API: `create_app(node)` builds the FastAPI application.

Routes live under `/api/v1`; the OpenAPI document is `/api/v1/openapi.json`. Everything
but health, the OpenAPI document and the issuer's public JWKS requires authentication
(enforced by a router-level dependency, so a new route cannot forget it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Receive, Scope, Send

from cix import __version__
from cix.api import docs_page, fast_path, problems
from cix.api.auth import authenticate
from cix.api.limits import FailureLimiter
from cix.api.node_zone import in_node_zone
from cix.api.openapi import document_problems
from cix.api.routes import (
    consents,
    documents,
    exchange,
    federation,
    public,
    registry,
    tokens,
    visits,
)
from cix.api.strict_query import refuse_unknown_query
from cix.node.service import Node

API_PREFIX = "/api/v1"
OPENAPI_URL = f"{API_PREFIX}/openapi.json"
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/health", OPENAPI_URL, "/.well-known/jwks.json"})
"""The only paths served without authentication."""

UPLOAD_PATHS = (f"{API_PREFIX}/documents",)
_ENCODED_SEPARATOR = re.compile(rb"%(2f|5c)", re.IGNORECASE)  # `/` and `\`, percent-encoded

#: FastAPI's OpenTelemetry instrumentation, off: the node exports nothing about its requests
#: (with an exporter configured from the environment it would send exception messages and
#: traces elsewhere), and even unconfigured it looks the providers up on every request.
_NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


class _NoEncodedSeparators:
    """Refuse (404) a path holding a percent-encoded `/` or `\\`; pass anything else on.

    `%2F` decodes to `/` before routing, so `/documents%2F{id}%2Fcontent` would be served as
    `/documents/{id}/content`: a second spelling of every path that a proxy's or auditor's
    rules written for the first would not see.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an encoded path separator, else go on."""
        if scope["type"] == "http" and _ENCODED_SEPARATOR.search(scope.get("raw_path") or b""):
            await problems.problem(404, "encoded path separators are not served")(
                scope, receive, send
            )
            return
        await self._app(scope, receive, send)


def _apply_access_log(enabled: bool) -> None:
    """Turn uvicorn's access log (one line per request) on or off, as its own
    `access_log=False` does: a connection logs only if the logger has handlers then."""
    logger = logging.getLogger("uvicorn.access")
    if not enabled:
        logger.handlers = []
        logger.propagate = False


def create_app(
    node: Node, *, workers: int = 1, post_limits: Mapping[str, int] | None = None
) -> FastAPI:
    """The API application serving `node`, as one of `workers` processes serving it.

    `post_limits` gives the body limit of a POST to each of some further paths (a face
    mounted on this app, like the web interface's upload form); any other request has the
    API's limits.

    Each worker counts authentication failures on its own, so each allows its share of
    `auth_failure_limit` (rounded down; settings refuse more workers than the limit): a
    client spread over every worker gets no more attempts in a window than one process
    would allow it.
    """
    settings = node.settings
    extra = dict(post_limits or {})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # At start-up, after the server has configured logging: the setting holds however
        # the app is served (one process or several).
        _apply_access_log(settings.access_log)
        yield

    app = FastAPI(
        title="cix national node",
        version=__version__,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        description="Classified information exchange: one nation's node.",
        lifespan=lifespan,
        telemetry=_NO_TELEMETRY,
    )
    # No trailing-slash redirects: Starlette builds their Location from the Host header,
    # which the client chose; `/api/v1/documents/` is simply not a route (404).
    app.router.redirect_slashes = False
    app.state.node = node
    app.state.limiter = FailureLimiter(
        settings.auth_failure_limit // workers,
        settings.auth_failure_window_seconds,
        settings.rate_limit_clients,
    )
    problems.install(app)

    def limit_for(scope: Scope) -> int:
        path = scope.get("path", "")
        if scope.get("method") in ("POST", "PUT") and path.startswith(UPLOAD_PATHS):
            return settings.max_upload_bytes
        if scope.get("method") == "POST" and path == federation.DOCUMENTS_ROUTE:
            return settings.max_upload_bytes + federation.CONTAINER_ROOM
        if scope.get("method") == "POST" and path in extra:
            return extra[path]
        return settings.max_request_bytes

    # Body limits, except for a request without a body (the open fast path: fast_path.py).
    app.add_middleware(fast_path.BodilessBypass, limit_for=limit_for)
    app.add_middleware(_NoEncodedSeparators)  # added last: runs first, for every request
    # The hot path first of all, without FastAPI's per-request machinery (fast_path.py); its
    # FastAPI route below documents it and serves what OpenRoute leaves.
    app.router.routes.insert(0, fast_path.OpenRoute(API_PREFIX, documents.open_content))
    # Routes are matched in order: opening a document first (the hot path), then the rest.
    # Authenticated first (401 before anything), then no query parameter a route ignores.
    checks = [Depends(authenticate), Depends(refuse_unknown_query), Depends(in_node_zone)]
    hot = APIRouter(prefix=API_PREFIX, dependencies=checks)
    hot.include_router(documents.content_router)
    app.include_router(hot)
    app.include_router(public.router)
    app.include_router(docs_page.install(API_PREFIX, OPENAPI_URL))
    app.include_router(public.api_router, prefix=API_PREFIX)
    protected = APIRouter(prefix=API_PREFIX, dependencies=checks)
    protected.include_router(documents.router)
    protected.include_router(registry.router)
    protected.include_router(tokens.router)
    protected.include_router(exchange.router)
    protected.include_router(consents.router)
    protected.include_router(visits.router)
    app.include_router(protected)
    # Federation: authenticated by each message's signature, not by the user API's tokens.
    app.include_router(federation.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                ),
                public_paths=PUBLIC_PATHS,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
