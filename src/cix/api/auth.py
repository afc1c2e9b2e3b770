"""Authentication of every API request: a bearer JWT or an API token, rate-limited failures.

Every route under `/api/v1` depends on `authenticate`, except health and the OpenAPI
document (and the built-in issuer's public JWKS, which holds no secret). The token names a
person; their roles come from the registry on each request and are enforced by the services.
A client address that fails too often within the window gets 429 until the window passes,
whatever it presents.

Authentication runs on the event loop when everything it needs is cached (a verified JWT, an
API token's row, the person: see `cix.node.cache`), and in a worker thread otherwise, so a
database read never blocks the loop.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request

from cix.api.limits import FailureLimiter
from cix.api.problems import RateLimited
from cix.node.errors import Unauthenticated
from cix.node.roles import Actor
from cix.node.service import Node
from cix.node.tokens import API_TOKEN_PREFIX, Credential

_log = logging.getLogger("cix.auth")
_MAX_CREDENTIAL = 8192


def node_of(request: Request) -> Node:
    """The node the app serves."""
    node: Node = request.app.state.node
    return node


def limiter_of(request: Request) -> FailureLimiter:
    """The app's failed-authentication limiter."""
    limiter: FailureLimiter = request.app.state.limiter
    return limiter


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _cached_actor(node: Node, credential: str, now: datetime) -> tuple[Actor, Credential] | None:
    """The actor from cached facts only (None where the database would be needed)."""
    if credential.startswith(API_TOKEN_PREFIX):
        verified = node.api_tokens.cached(credential, now)
    else:
        verified = node.verifier.cached(credential, now)
    if verified is None:
        return None
    actor = node.registry.cached_actor(verified.person_id)
    return None if actor is None else (actor, verified)


def _actor(node: Node, credential: str, now: datetime) -> tuple[Actor, Credential]:
    if credential.startswith(API_TOKEN_PREFIX):
        verified = node.api_tokens.authenticate_credential(credential, now)
    else:
        verified = node.verifier.verify_credential(credential, now)
    return node.registry.actor_for(verified.person_id), verified


def credential_of(request: Request) -> Credential:
    """The credential the request was authenticated with (after `authenticate`)."""
    verified: Credential = request.state.credential
    return verified


async def authenticate(request: Request) -> Actor:
    """The actor a request acts for; raises `Unauthenticated` (401) or `RateLimited` (429)."""
    node = node_of(request)
    limiter = limiter_of(request)
    client = _client(request)
    moment = time.monotonic()
    wait = limiter.retry_after(client, moment)
    if wait is not None:
        raise RateLimited(wait)
    try:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential or len(credential) > _MAX_CREDENTIAL:
            raise Unauthenticated("no bearer credential")
        now = node.clock()
        found = _cached_actor(node, credential, now)
        if found is None:
            found = await anyio.to_thread.run_sync(_actor, node, credential, now)
        actor, verified = found
    except Unauthenticated as exc:
        blocked = limiter.record_failure(client, moment)
        _log.warning("authentication failed from %s: %s", client, exc)
        if blocked:
            _log.warning(
                "%s blocked for %.0f s after %d failed authentications",
                client,
                limiter.window,
                limiter.limit,
            )
        raise
    request.state.actor = actor
    request.state.credential = verified
    return actor


CurrentActor = Annotated[Actor, Depends(authenticate)]
"""A route parameter receiving the authenticated actor."""
