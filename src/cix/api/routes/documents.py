"""Document routes: streamed upload and open, listing, metadata, copies, destruction, incidents.

Uploads stream the request body into the sealing code in a worker thread (bounded memory,
plaintext never on disk). An open is decided first and its audit records (the decision, and
on a permit the key access) are made durable as one group before any byte is decrypted: a
refused open answers 403 before any byte, and a failed audit append answers an error with no
content. The open route is asynchronous: the decision runs on the event loop when the facts
it needs are cached (in a worker thread otherwise), and waiting for the audit commit holds
no thread. A small document is decrypted into memory and sent in one response (a failure of
its integrity checks is then still a clean 403); a larger one is decrypted in a worker
thread into a bounded queue that the response drains. The fast-path pieces (the route ahead
of FastAPI, the decision on the event loop, the small document read whole) are in
`cix.api.fast_path`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC
from typing import Annotated, Any
from urllib.parse import quote

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.types import Receive, Scope, Send

from cix.api import fast_path
from cix.api.auth import CurrentActor, node_of
from cix.errors import CixError, InputError
from cix.node.auditing import record
from cix.node.register import DocumentInfo
from cix.node.roles import Actor
from cix.node.search import DocumentQuery, day_or_moment, words_of
from cix.node.text import PlainLine, PlainText

_log = logging.getLogger("cix.api")
router = APIRouter(tags=["documents"])
#: The open route alone, so that the app can match it first (it is the hot path).
content_router = APIRouter(tags=["documents"])
DocId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
_END = object()
_OFFER_WAIT = 0.5  # seconds a producer waits on a full queue before looking again


class DocumentPage(BaseModel):
    """One page of documents, newest first; pass `next_cursor` as `cursor` for the next."""

    items: list[DocumentInfo]
    next_cursor: str | None


class ReproductionIn(BaseModel):
    """A request to account for a numbered copy."""

    model_config = ConfigDict(extra="forbid")
    holder: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]
    reason: Annotated[str, Field(min_length=1, max_length=2000), PlainLine]


class ReproductionOut(BaseModel):
    """The copy number given to a reproduction."""

    document: str
    copy_number: int


class DestroyIn(BaseModel):
    """A request to destroy a document."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=2000), PlainLine]


class ReclassifyIn(BaseModel):
    """The originator's classification change of a document (rule 3)."""

    model_config = ConfigDict(extra="forbid")
    label: Annotated[
        str,
        Field(min_length=1, max_length=8192, description="A banner or the label's JSON."),
    ]
    reason: Annotated[str, Field(min_length=1, max_length=2000), PlainText]


class IncidentIn(BaseModel):
    """A report of loss or compromise (or a suspicion of one)."""

    model_config = ConfigDict(extra="forbid")
    document: Annotated[str | None, Field(pattern=r"^[0-9a-f]{32}$")] = None
    kind: Annotated[str, Field(pattern=r"^(loss|compromise|suspected)$")]
    description: Annotated[str, Field(min_length=1, max_length=8000), PlainText]


class _BodyReader:
    """A blocking reader, used in a worker thread, over the request's async body stream."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._done = False

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            chunk = anyio.from_thread.run(self._next)
            if chunk is None:
                self._done = True
            else:
                self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def _label_from_query(text: str, now: Any) -> Any:
    """A label from a banner (`SECRET//CPSP//REL TO CAN, KOR`) or its JSON form; a JSON
    label without `created` is created now."""
    from cix.agreements import bundled_registry
    from cix.labels import Label, format_time, parse_any

    body = text.strip()
    if body.startswith("{"):
        try:
            obj = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested thousands deep
            raise InputError("label: not valid JSON (or nested too deeply)") from None
        if isinstance(obj, dict) and "created" not in obj:
            obj["created"] = format_time(now.astimezone(UTC))
        body = json.dumps(obj)
    parsed = parse_any(body, registry=bundled_registry(), created=now)
    if not isinstance(parsed, Label):
        raise InputError("label: give the originator's label, not an alternative label")
    return parsed


@router.post("/documents", status_code=201)
async def upload_document(
    request: Request,
    actor: CurrentActor,
    label: Annotated[str, Query(max_length=8192, description="A banner or the label's JSON.")],
    title: Annotated[str, Query(min_length=1, max_length=500)],
    source: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]] | None,
        Query(max_length=64, description="Ids of the documents it derives from."),
    ] = None,
) -> DocumentInfo:
    """Seal the request body under `label` (a banner or the JSON form; streamed) and
    register it; each `source` names a document it was derived from (its label must
    dominate theirs)."""
    node = node_of(request)
    media_type = request.headers.get("content-type", "application/octet-stream")[:200]
    size = request.headers.get("content-length")
    parsed = _label_from_query(label, node.clock())
    reader = _BodyReader(request.stream().__aiter__())

    def work() -> DocumentInfo:
        return node.documents.upload(
            actor,
            label=parsed,
            title=title,
            media_type=media_type,
            source=reader,  # type: ignore[arg-type]
            size_hint=int(size) if size and size.isdigit() else None,
            derived_from=tuple(source or ()),
        )

    return await anyio.to_thread.run_sync(work)


@router.get("/documents")
def list_documents(
    request: Request,
    actor: CurrentActor,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Words the title must contain, in any order, whatever their case or "
            "accents (at most 16).",
        ),
        PlainLine,
    ] = None,
    classification: Annotated[
        str | None,
        Query(
            max_length=64,
            description="A level's code or name in any scheme the node holds; its equivalents "
            "under each agreement match too.",
        ),
        PlainLine,
    ] = None,
    programme: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")] = None,
    originator: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    since: Annotated[
        str | None,
        Query(
            max_length=40, description="Created on or after: a date (UTC) or a time with a zone."
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            max_length=40, description="Created on or before: a date (the whole UTC day) or a time."
        ),
    ] = None,
    received_from: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
            description="Copies received from this node id, or released by this party.",
        ),
    ] = None,
    id_prefix: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9a-f]{4,32}$",
            description="Only documents whose id starts with this (how a typed prefix is "
            "resolved; not combined with q or cursor).",
        ),
    ] = None,
) -> DocumentPage:
    """The newest documents the caller may read (filtered on the server, never leaked)."""
    node = node_of(request)
    size = min(limit or node.settings.page_size, node.settings.max_page_size)
    narrowed = DocumentQuery(
        words=words_of(q) if q else (),
        classification=classification,
        programme=programme,
        originator=originator,
        since=None if since is None else day_or_moment("since", since, end=False),
        before=None if until is None else day_or_moment("until", until, end=True),
        received_from=received_from,
    )
    if id_prefix is not None:
        if narrowed != DocumentQuery() or cursor is not None:
            raise InputError("id_prefix: not combined with a filter or cursor")
        page = node.documents.starting_with(actor, id_prefix, limit=size)
    else:
        page = node.documents.list(actor, limit=size, cursor=cursor, narrowed=narrowed)
    return DocumentPage(items=list(page.items), next_cursor=page.next_cursor)


@router.get("/documents/{doc_id}")
def show_document(request: Request, actor: CurrentActor, doc_id: DocId) -> DocumentInfo:
    """A document's metadata, if the caller may read it; a destroyed document's register
    entry (`destroyed_at`, `certificate`) for those entitled to its certificate."""
    node = node_of(request)
    return node.destruction.destroyed_entry(actor, doc_id) or node.documents.show(actor, doc_id)


class _Abandoned(Exception):
    """The client went away: the producer stops decrypting for nobody."""


def _offer(out: queue.Queue[object], item: object, abandoned: threading.Event) -> None:
    """Put `item` on the bounded queue, waiting while it is full, unless the response was
    abandoned (then `_Abandoned`): a producer must not wait forever on a queue no one
    drains any more."""
    while True:
        try:
            out.put(item, timeout=_OFFER_WAIT)
            return
        except queue.Full:
            if abandoned.is_set():
                raise _Abandoned() from None


class _QueueWriter:
    """A file-like sink for the worker thread: chunks go to a bounded queue."""

    def __init__(self, out: queue.Queue[object], abandoned: threading.Event) -> None:
        self._out = out
        self._abandoned = abandoned

    def write(self, data: bytes | bytearray | memoryview) -> int:
        _offer(self._out, bytes(data), self._abandoned)
        return len(data)

    def flush(self) -> None:
        return None


@content_router.get(
    "/documents/{doc_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def open_document(request: Request, actor: CurrentActor, doc_id: DocId) -> Response:
    """The decrypted content, with the marking and the reader's identity as headers
    (`Cix-Marking`, `Cix-Reader`, `Cix-Obligations`): the obligations of the permit."""
    return await open_content(request, actor, doc_id)


async def open_content(request: Request, actor: Actor, doc_id: str) -> Response:
    """Admit, record, then answer the plaintext: whole for a small document (fast_path), else
    streamed from a producer thread."""
    node = node_of(request)
    opener = node.opening
    admission = await fast_path.admit(opener, actor, doc_id)
    # Durable before anything else happens; a failed append raises here (no content).
    await record(opener.reg.audit, admission.events)
    opening = admission.recorded()
    info = opening.info
    headers = {
        "Cix-Marking": quote(opening.marking, safe=" /,-()"),
        "Cix-Reader": opening.reader,
        "Cix-Obligations": json.dumps(list(opening.obligations), ensure_ascii=True),
        "Cache-Control": "no-store",
        # The stored media type is data, not an instruction: a browser must neither sniff
        # nor render the content (an uploaded text/html is a file to save).
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "attachment",
    }
    if info.plaintext_size <= fast_path.IN_MEMORY:
        body = await fast_path.read_whole(admission, info, opener.reg.audit)
        return Response(body, media_type=info.media_type, headers=headers)
    headers["Content-Length"] = str(info.plaintext_size)
    chunks: queue.Queue[object] = queue.Queue(maxsize=16)
    abandoned = threading.Event()

    def produce() -> None:
        try:
            admission.write_to(_QueueWriter(chunks, abandoned))  # type: ignore[arg-type]
        except _Abandoned:
            return  # nobody reads: nothing more to hand over
        except BaseException as exc:  # the stream is cut; the reason is in the audit log
            with contextlib.suppress(_Abandoned):
                _offer(chunks, exc, abandoned)
        with contextlib.suppress(_Abandoned):
            _offer(chunks, _END, abandoned)

    threading.Thread(target=produce, name=f"open-{doc_id}", daemon=True).start()
    # Every check of the object (integrity, label, that it is this document's) runs before
    # its first plaintext byte: wait for that byte (or the refusal, a 403) before starting.
    first = await anyio.to_thread.run_sync(chunks.get)
    if isinstance(first, BaseException):
        raise first

    def drain() -> Iterator[bytes]:
        item = first
        while item is not _END:
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item
            item = chunks.get()

    return _ProducedStream(drain(), abandoned, media_type=info.media_type, headers=headers)


class _ProducedStream(StreamingResponse):
    """A streamed answer fed by a producer thread, which is told (`ended`) once the answer
    is over, sent in full or cut short by a client that went away: a producer blocked on a
    full queue nobody drains any more then stops instead of waiting for good."""

    def __init__(self, content: Iterator[bytes], ended: threading.Event, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._ended = ended

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the stream; whatever ends it, tell the producer.

        A refusal after the first byte (a later segment fails its authentication) can no
        longer be a 403: the answer stops short of its `Content-Length` and the connection
        closes, which every client sees as a failed download. That is the refusal working
        (audited with its reason by the key access), not a server fault: one warning line,
        no traceback in the server's log.
        """
        try:
            await super().__call__(scope, receive, send)
        except CixError as exc:
            _log.warning("open cut short after its first byte: %s (see the audit log)",
                         type(exc).__name__)  # fmt: skip
        finally:
            self._ended.set()


@router.post("/documents/{doc_id}/reproductions", status_code=201)
def reproduce_document(
    request: Request, actor: CurrentActor, doc_id: DocId, body: ReproductionIn
) -> ReproductionOut:
    """Account for a numbered copy held by `holder` (who must be entitled to it too)."""
    number = node_of(request).reproductions.reproduce(
        actor, doc_id, holder=body.holder, reason=body.reason
    )
    return ReproductionOut(document=doc_id, copy_number=number)


@router.post("/documents/{doc_id}/destroy")
def destroy_document(
    request: Request, actor: CurrentActor, doc_id: DocId, body: DestroyIn
) -> dict[str, Any]:
    """Destroy the document (custodian or NSA officer); returns the destruction certificate."""
    return node_of(request).destruction.destroy(actor, doc_id, reason=body.reason)


@router.post("/documents/{doc_id}/reclassify")
def reclassify_document(
    request: Request, actor: CurrentActor, doc_id: DocId, body: ReclassifyIn
) -> dict[str, Any]:
    """Change the classification of a document this node originated (an NSA officer; a
    copy's holder is refused): the object is relabelled and every node holding a copy is
    sent the originator's signed classification change notice."""
    done = node_of(request).reclassify.reclassify(
        actor, doc_id, new_label=body.label, reason=body.reason
    )
    return done.to_json()


@router.get("/documents/{doc_id}/label-history")
def label_history(request: Request, actor: CurrentActor, doc_id: DocId) -> list[dict[str, Any]]:
    """The document's classification changes, oldest first (here and, for a copy, as the
    originator's notices re-marked it)."""
    return [h.to_json() for h in node_of(request).reclassify.history(actor, doc_id)]


@router.get("/documents/{doc_id}/certificate")
def destruction_certificate(request: Request, actor: CurrentActor, doc_id: DocId) -> dict[str, Any]:
    """The destruction certificate of a destroyed document."""
    return node_of(request).destruction.certificate(actor, doc_id)


@router.post("/incidents", status_code=201)
def report_incident(request: Request, actor: CurrentActor, body: IncidentIn) -> dict[str, Any]:
    """Report a loss or compromise (or a suspicion), against a document or not."""
    return node_of(request).incidents.report(
        actor, doc_id=body.document, kind=body.kind, description=body.description
    )
