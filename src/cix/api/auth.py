"""Authentication of every API request: a bearer JWT or an API token, rate-limited failures.

Every route under `/api/v1` depends on `authenticate`, except health and the OpenAPI
document (and the built-in issuer's public JWKS, which holds no secret). The token names a
person; their roles come from the registry on each request and are enforced by the services.
Failures are counted per client address and per credential presented (`authenticate`): a
credential that failed too often is refused with 429 until the window passes, and a failure
from an address that failed too often answers 429; a valid credential is served whatever
others sent from its address.

Authentication runs on the event loop when everything it needs is cached (a verified JWT, an
API token's row, the person: see `cix.node.cache`), and in a worker thread otherwise, so a
database read never blocks the loop.
"""

from __future__ import annotations

import hashlib
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


def _credential_key(credential: str) -> str:
    # The limiter remembers a digest, not the credential: bounded size, nothing usable kept.
    return "credential:" + hashlib.blake2b(credential.encode("utf-8"), digest_size=16).hexdigest()


async def authenticate(request: Request) -> Actor:
    """The actor a request acts for; raises `Unauthenticated` (401) or `RateLimited` (429).

    Failures are counted per client address and per credential presented. A credential that
    failed `limit` times is refused (429) from any address until the window passes; at an
    address over the limit every credential is still checked, and one that verifies is
    served: others' failures from the same address (everyone behind one proxy or NAT) do not
    lock out a valid credential, while a failure there answers 429 instead of 401.
    """
    node = node_of(request)
    limiter = limiter_of(request)
    client = _client(request)
    moment = time.monotonic()
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    key = None
    address_wait = None
    if len(limiter):  # nothing failed lately (the usual case): nothing to look up or hash
        key = _credential_key(credential) if credential else None
        wait = None if key is None else limiter.retry_after(key, moment)
        if wait is not None:
            raise RateLimited(wait)
        address_wait = limiter.retry_after(client, moment)
    try:
        if scheme.lower() != "bearer" or not credential or len(credential) > _MAX_CREDENTIAL:
            raise Unauthenticated("no bearer credential")
        now = node.clock()
        found = _cached_actor(node, credential, now)
        if found is None:
            found = await anyio.to_thread.run_sync(_actor, node, credential, now)
        actor, verified = found
    except Unauthenticated as exc:
        blocked = limiter.record_failure(client, moment)
        if credential:
            limiter.record_failure(key or _credential_key(credential), moment)
        _log.warning("authentication failed from %s: %s", client, exc)
        if blocked:
            _log.warning(
                "%s blocked for %.0f s after %d failed authentications",
                client,
                limiter.window,
                limiter.limit,
            )
        if address_wait is not None:
            raise RateLimited(address_wait) from None
        raise
    request.state.actor = actor
    request.state.credential = verified
    return actor


CurrentActor = Annotated[Actor, Depends(authenticate)]
"""A route parameter receiving the authenticated actor."""
