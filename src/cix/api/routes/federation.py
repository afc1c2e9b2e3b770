"""The federation API (`/federation/v1`): where peer nodes deliver their messages.

Separate from the user API and its tokens: no bearer token is read here, the message's
signature (checked by the node's inbox against the pinned peers) is the authentication,
and every answer is the inbox's: a signed JWS (`application/jose`) whenever the sender's
signature verified, refusals included, or an unsigned problem when it did not.

- `POST /federation/v1/messages`: the body is the compact JWS (at most 1 MiB);
- `POST /federation/v1/add-checkpoint`: the same, for a "checkpoint" message (a C2SP
  tlog-witness `add-checkpoint` request inside: `cix.node.exchange.checkpoints`);
- `POST /federation/v1/documents`: the JWS in the `Cix-Message` header, the body the sealed
  object, streamed to a temporary file (bounded memory; refused past `max_upload_bytes`
  plus room for the container) and handed to the inbox, then removed.

The inbox runs in a worker thread (it verifies, decrypts and writes); a peer's bad input
is a 4xx from it, never a 5xx.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cix.api.auth import node_of
from cix.api.problems import problem
from cix.node.exchange.inbox import Reply
from cix.node.exchange.transport import (
    ADD_CHECKPOINT_PATH,
    DOCUMENTS_PATH,
    JOSE,
    MESSAGE_HEADER,
    MESSAGES_PATH,
)

_WRITE_CHUNK = 1 << 20

router = APIRouter(tags=["federation"])
#: The largest message token accepted (cix.federation's own bound).
MAX_TOKEN = 1 << 20
#: Room a sealed object takes beyond its plaintext (manifest, key access, segment tags).
CONTAINER_ROOM = 16 << 20
DOCUMENTS_ROUTE = DOCUMENTS_PATH
"""The documents route (its body limit is the app's to set)."""
_JWS = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
    "description": "a compact JWS (RFC 7515), typ cix-federation+jws: docs/federation.md",
}
_SIGNED = {
    200: "the signed answer (for a transmission, its receipt)",
    202: "the signed answer: accepted (a consent request)",
    400: "the signed refusal `{refused: code}`, or an unsigned problem for a body that is "
    "not a message",
    403: "the signed refusal (wrong audience or route, agreement, skew; or its content)",
    404: "the signed refusal (nothing of that id here for this sender)",
    409: "the signed refusal (a message id reused, an id taken, already answered)",
    422: "the signed refusal (the object or label does not verify, not releasable...)",
}
#: What a peer operator reads in the OpenAPI document: every answer is a signed JWS
#: (`application/jose`) once the sender's signature verified; the problem answers (401 for
#: an unknown sender or a bad signature, 413, ...) are added by `cix.api.openapi`.
ANSWERS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {JOSE: {"schema": _JWS}}}
    for status, text in _SIGNED.items()
}
_MESSAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {JOSE: {"schema": {**_JWS, "maxLength": MAX_TOKEN}}},
    }
}
_DOCUMENT_BODY = {
    "parameters": [
        {
            "name": MESSAGE_HEADER,
            "in": "header",
            "required": True,
            "description": "the message's compact JWS (kind transmission)",
            "schema": {**_JWS, "maxLength": MAX_TOKEN},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": "the sealed object (docs/format.md), streamed",
            }
        },
    },
}


def _answer(reply: Reply) -> Response:
    if reply.token is None:
        return problem(reply.status, reply.detail or "refused")
    return Response(reply.token.encode("ascii"), status_code=reply.status, media_type=JOSE)


async def _read_token(request: Request) -> str | None:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_TOKEN:
            return None
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        return None


@router.post(MESSAGES_PATH, response_class=Response, responses=ANSWERS, openapi_extra=_MESSAGE_BODY)
async def post_message(request: Request) -> Response:
    """Deliver one federation message (the compact JWS as the body); the signed answer."""
    token = await _read_token(request)
    if not token:
        return problem(400, f"the body must be a compact JWS of at most {MAX_TOKEN} bytes")
    inbox = node_of(request).exchange.inbox
    reply = await anyio.to_thread.run_sync(lambda: inbox.receive(token, url=MESSAGES_PATH))
    return _answer(reply)


@router.post(
    ADD_CHECKPOINT_PATH,
    response_class=Response,
    responses=ANSWERS,
    openapi_extra=_MESSAGE_BODY,
)
async def post_add_checkpoint(request: Request) -> Response:
    """Ask this node to witness the sender's audit log (a "checkpoint" message, the compact
    JWS as the body); the signed answer: 200 with the cosignature, 409 with the size this
    node cosigned (a rollback) or a split view, 422 an inconsistent proof, 403 a checkpoint
    not signed by the sender's pinned audit key, 400 malformed, 401 an unknown sender."""
    token = await _read_token(request)
    if not token:
        return problem(400, f"the body must be a compact JWS of at most {MAX_TOKEN} bytes")
    inbox = node_of(request).exchange.inbox
    reply = await anyio.to_thread.run_sync(lambda: inbox.receive(token, url=ADD_CHECKPOINT_PATH))
    return _answer(reply)


@router.post(
    DOCUMENTS_PATH, response_class=Response, responses=ANSWERS, openapi_extra=_DOCUMENT_BODY
)
async def post_document(request: Request) -> Response:
    """Deliver a message with its document (JWS in `Cix-Message`, the sealed object as the
    body, streamed); the signed answer, which for a transmission is the receipt."""
    token = request.headers.get(MESSAGE_HEADER, "").strip()
    if not token or len(token) > MAX_TOKEN or not token.isascii():
        return problem(400, f"the {MESSAGE_HEADER} header must carry the message's JWS")
    node = node_of(request)
    limit = node.settings.max_upload_bytes + CONTAINER_ROOM
    tmp_dir = node.blobs.root / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / f"federation-{secrets.token_hex(16)}"
    try:
        size = 0
        opener = lambda name, flags: os.open(name, flags, 0o600)  # noqa: E731 - private file
        # The body arrives in chunks of ~64 KiB; written a MiB at a time, a large document
        # costs a sixteenth of the hops to the file's thread (memory stays bounded).
        pending = bytearray()
        async with await anyio.open_file(path, "xb", opener=opener) as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return problem(413, f"the document is larger than {limit} bytes")
                pending += chunk
                if len(pending) >= _WRITE_CHUNK:
                    await handle.write(bytes(pending))
                    pending.clear()
            if pending:
                await handle.write(bytes(pending))
        inbox = node.exchange.inbox
        reply = await anyio.to_thread.run_sync(
            lambda: inbox.receive(token, url=DOCUMENTS_PATH, body=Path(path))
        )
        return _answer(reply)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
