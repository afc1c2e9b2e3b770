"""The open fast path on the API side, in one place: what an open of a small document skips.

Each piece answers exactly as the general path it stands beside (the tests hold each to
it). What each saved is measured by turning it off alone (`python -m bench.node --without
PIECE`; docs/benchmarks.md, "Does each fast-path piece still pay?", 3 Dec, server CPU per
open of a 64 KiB document at 64 clients, shared machine). The node's pieces and why the
whole path is safe: docs/node.md, "The open fast path".

- `OpenRoute` skips FastAPI's per-request machinery (dependency solving, parameter
  validation, nested routers' matching) for `GET .../documents/{id}/content` with a
  well-formed id. Safe: the same `authenticate`, the same handler, errors through the app's
  one problem mapping; the FastAPI route stays for everything else. Pays: 1.40x the CPU
  per open without it.
- `BodilessBypass` skips `BodyLimit`'s wrappers of `receive` and of every `send` for a GET
  or HEAD with neither `Content-Length` nor `Transfer-Encoding`. Safe: HTTP/1.1 frames a
  request body only by one of the two (later bytes are the next request), so there is
  nothing to count; every other request is counted. Within noise on 3 Dec (1.13x CPU
  without it, ranges overlapping; ~3% of an open's CPU when it was added).
- `admit` decides on the event loop when the facts it needs are cached, skipping a
  worker-thread hop. Safe: the caches are exact (invalidated by every database write, in
  every process: `cix.node.cache`); on a miss it reads the database in a thread.
  Marginal: 1.20x CPU without it, opens/s within noise.
- `read_whole` decrypts a document of up to `IN_MEMORY` bytes into memory and sends it as
  one body (no producer thread, no queue; an integrity failure is still a clean 403): 2.8x
  the CPU per open without it. On the event loop when its sealed object is at most
  `ON_LOOP` bytes (no thread hop): marginal, 1.23x CPU without it, opens/s within noise.
"""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send

from cix.api.auth import authenticate
from cix.api.limits import BodyLimit
from cix.errors import Refused
from cix.node.auditing import AuditRecord, AuditSink, record
from cix.node.cache import NotCached
from cix.node.opening import Admission, Opener
from cix.node.register import DocumentInfo
from cix.node.roles import Actor

#: Documents up to this size (plaintext bytes) are decrypted into memory and sent as one body.
IN_MEMORY = 1 << 20
#: ... and those whose sealed object is up to this size, on the event loop.
ON_LOOP = 256 << 10

#: The handler both open routes share: (request, actor, document id) -> response.
OpenHandler = Callable[[Request, Actor, str], Awaitable[Response]]


class OpenRoute(BaseRoute):
    """`GET {prefix}/documents/{id}/content` for a well-formed id, ahead of every other route,
    answered by `handler` after the same authentication as the FastAPI route's (`authenticate`).

    The FastAPI route of the same path stays in the app for everything else: the OpenAPI
    document, a HEAD, a malformed id (its 422), a path under a `root_path`. Errors propagate
    to the app's exception handlers, the one problem-details mapping, as a route's do.
    """

    def __init__(self, prefix: str, handler: OpenHandler) -> None:
        self._path = re.compile(re.escape(prefix) + r"/documents/([0-9a-f]{32})/content")
        self._handler = handler

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """A full match for a GET of a well-formed id's content, else none."""
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            found = self._path.fullmatch(scope["path"])
            if found is not None:
                return Match.FULL, {"path_params": {"doc_id": found[1]}}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """None: URLs are built from the FastAPI route of the same path."""
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate, open, answer."""
        request = Request(scope, receive)
        actor = await authenticate(request)
        response = await self._handler(request, actor, scope["path_params"]["doc_id"])
        await response(scope, receive, send)


class BodilessBypass:
    """`BodyLimit` for every request that can carry a body; a GET or HEAD without
    `Content-Length` or `Transfer-Encoding` goes straight on (it has no body to count)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self._app = app
        self._limited = BodyLimit(app, limit_for=limit_for)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a bodiless GET or HEAD on; anything else through BodyLimit."""
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            for name, _ in scope["headers"]:
                if name in (b"content-length", b"transfer-encoding"):
                    break
            else:
                await self._app(scope, receive, send)
                return
        await self._limited(scope, receive, send)


async def admit(opener: Opener, actor: Actor, doc_id: str) -> Admission:
    """`opener.admit`, on the event loop if its facts are cached, else in a worker thread."""
    try:
        return opener.admit(actor, doc_id, cached_only=True)
    except NotCached:
        return await anyio.to_thread.run_sync(opener.admit, actor, doc_id)


async def read_whole(admission: Admission, info: DocumentInfo, audit: AuditSink) -> bytes:
    """The plaintext of a recorded admission of a document of up to `IN_MEMORY` bytes.

    `Refused` (audited) on any integrity failure: a denial found on the event loop is
    recorded through `audit` without holding the loop for the commit, before raising."""
    body = io.BytesIO()
    if info.sealed_size <= ON_LOOP:
        denials: list[AuditRecord] = []
        try:
            admission.write_to(body, whole=True, record_denial=denials.append)
        except Refused:
            await record(audit, denials)
            raise
    else:
        await anyio.to_thread.run_sync(lambda: admission.write_to(body, whole=True))
    return body.getvalue()
