"""Document pages: the list (with the API's filters), a document's page, download, upload.

Each page calls the node's services exactly as the REST routes do (`node.documents.list`,
`show`, `upload`, the open admission of `cix.api.routes.documents.open_content`), so every
decision and every audit record is the API's: the web interface has no policy of its own.

A browser's upload is a multipart form. It is parsed in memory, never spooled to a
temporary file (the plaintext of a classified document must not reach the disk), and so is
bounded by `web_max_upload_bytes`; larger documents go through the API, which streams.
"""

from __future__ import annotations

import io
import json
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import RedirectResponse, Response

from cix.api.fast_path import IN_MEMORY
from cix.api.routes.documents import open_content
from cix.errors import CixError, InputError
from cix.labels import alternative_label, banner
from cix.node.audit_reading import READERS as AUDIT_READERS
from cix.node.audit_reading import TrailEntry, TrailFilter
from cix.node.errors import PayloadTooLarge
from cix.node.register import DocumentInfo
from cix.node.roles import Role
from cix.node.search import DocumentQuery, day_or_moment, words_of
from cix.web.picker import Picker, label_from_form, picker_for
from cix.web.render import PREFIX
from cix.web.session import CSRF_FIELD, check_csrf, node_of
from cix.web.signin import ReadingUser, renderer_of

router = APIRouter()
DocId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
FORM_ROOM = 64 << 10
"""Room in a web upload's body for the form's other fields and its multipart framing."""
UPLOAD_PATH = f"{PREFIX}/documents"
"""The path of the upload form's POST (the node's body limit allows uploads there)."""


_Filter = Annotated[str, Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
FILTERS = ("q", "classification", "programme", "originator", "since", "until", "received_from")
"""The list's filters: the API's, by the same names (an empty field is no filter)."""


@router.get("/documents")
async def list_documents(
    request: Request,
    user: ReadingUser,
    q: _Filter = "",
    classification: _Filter = "",
    programme: _Filter = "",
    originator: _Filter = "",
    since: _Filter = "",
    until: _Filter = "",
    received_from: _Filter = "",
    cursor: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None,
) -> Response:
    """The newest documents the person may read, narrowed by the API's filters (words,
    classification, programme, originator, creation dates, received from), built as the
    API's route builds them."""
    node = node_of(request)
    given = {
        name: value.strip()
        for name, value in zip(
            FILTERS,
            (q, classification, programme, originator, since, until, received_from),
            strict=True,
        )
    }
    narrowed = DocumentQuery(
        words=words_of(given["q"]) if given["q"] else (),
        classification=given["classification"] or None,
        programme=given["programme"] or None,
        originator=given["originator"].upper() or None,
        since=(
            day_or_moment("since", given["since"], end=False, zone=node.zone)
            if given["since"]
            else None
        ),
        before=(
            day_or_moment("until", given["until"], end=True, zone=node.zone)
            if given["until"]
            else None
        ),
        received_from=given["received_from"] or None,
    )
    size = node.settings.page_size
    page = await anyio.to_thread.run_sync(
        lambda: node.documents.list(user.actor, limit=size, cursor=cursor, narrowed=narrowed)
    )
    marker = renderer_of(request).marker
    rows = [(doc, marker.label(doc.label)) for doc in page.items]
    kept = {k: v for k, v in given.items() if v}
    older = None
    if page.next_cursor:
        older = f"{PREFIX}/documents?" + urlencode({**kept, "cursor": page.next_cursor})
    return renderer_of(request).page(
        request,
        "documents.html",
        labels=[label for _, label in rows],
        rows=rows,
        filters=given,
        filtered=bool(kept),
        older=older,
        may_upload=user.actor.has(Role.ORIGINATOR),
    )


@router.get("/documents/new")
async def upload_form(request: Request, user: ReadingUser) -> Response:
    """The upload form, its label picker offering only labels the person may create."""
    return renderer_of(request).page(
        request, "upload.html", picker=await _picker(request, user), error=None, title=""
    )


async def _picker(request: Request, user: Any) -> Picker:
    node = node_of(request)
    now = node.clock()
    language = renderer_of(request).marker.language(user.session.language)
    subject = await anyio.to_thread.run_sync(node.registry.subject_for, user.actor.id, now)
    return picker_for(
        subject, node.settings.party, node.agreements, node.documents.reg.policies, now, language
    )


async def _read_form(request: Request, limit: int) -> Any:
    """The multipart form, held in memory (see the module docstring)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + FORM_ROOM:
        raise PayloadTooLarge(f"the web interface takes uploads up to {limit} bytes")
    parser = MultiPartParser(
        request.headers, request.stream(), max_files=1, max_fields=64, max_part_size=FORM_ROOM
    )
    parser.spool_max_size = limit + FORM_ROOM  # never rolls over to a file on disk
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise InputError(f"form: {exc.message}") from None


@router.post("/documents")
async def upload(request: Request, user: ReadingUser) -> Response:
    """Seal the uploaded file under the chosen label and register it (the node's upload)."""
    node = node_of(request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InputError("form: send the upload form (multipart/form-data)")
    limit = node.settings.web_max_upload_bytes
    form = await _read_form(request, limit)
    presented = form.get(CSRF_FIELD)
    check_csrf(request, user.session.csrf_token, presented if isinstance(presented, str) else None)
    picker = await _picker(request, user)
    title = str(form.get("title") or "")
    file = form.get("file")
    try:
        if not isinstance(file, UploadFile):
            raise InputError("file: choose a file to upload")
        content = await file.read(limit + 1)
        if len(content) > limit:
            raise PayloadTooLarge(f"the web interface takes uploads up to {limit} bytes")
        now = node.clock()
        label = label_from_form(
            picker,
            level=str(form.get("level") or ""),
            releasable_to=[str(v) for v in form.getlist("rel")],
            programmes=[str(v) for v in form.getlist("programme")],
            caveats=[str(v) for v in form.getlist("caveat")],
            party=node.settings.party,
            agreements=node.agreements,
            now=now,
        )
        media_type = (file.content_type or "application/octet-stream")[:200]

        def work() -> DocumentInfo:
            return node.documents.upload(
                user.actor,
                label=label,
                title=title,
                media_type=media_type,
                source=io.BytesIO(content),
                size_hint=len(content),
            )

        info = await anyio.to_thread.run_sync(work)
    except (InputError, PayloadTooLarge) as exc:
        # The person's own input: the form again, saying what was wrong. It echoes the
        # title, which may be as classified as the document: marked at the top level
        # (review: it was marked UNCLASSIFIED).
        return renderer_of(request).page(
            request, "upload.html", top=bool(title), status=400, picker=picker,
            error=str(exc), title=title,
        )  # fmt: skip
    finally:
        await form.close()
    return RedirectResponse(f"{PREFIX}/documents/{info.id}", status_code=303)


@router.get("/documents/{doc_id}")
async def show_document(request: Request, user: ReadingUser, doc_id: DocId) -> Response:
    """A document's page: its label, alternative labels, register entry, label history,
    and for auditors and NSA officers its audit trail."""
    node = node_of(request)

    def read() -> tuple[DocumentInfo, list[Any], list[TrailEntry] | None]:
        info = node.destruction.destroyed_entry(user.actor, doc_id) or node.documents.show(
            user.actor, doc_id
        )
        history = [] if info.destroyed_at else list(node.reclassify.history(user.actor, doc_id))
        # The trail only for those the audit reading admits (it decides, and audits, again).
        trail = (
            node.audit_trail.recent(user.actor, TrailFilter(object_contains=f"document:{doc_id}"))
            if user.actor.has(*AUDIT_READERS)
            else None
        )
        return info, history, trail

    info, history, trail = await anyio.to_thread.run_sync(read)
    marker = renderer_of(request).marker
    label = marker.label(info.label)
    language = marker.language(user.session.language)
    alternatives: list[tuple[str, str | None]] = []
    agreement = node.agreements[label.policy]
    for party in sorted(label.releasable_to - {label.originator}):
        try:
            alt = alternative_label(label, agreement, party)
            alternatives.append((party, banner(alt, agreement, language)))
        except CixError:
            alternatives.append((party, None))
    return renderer_of(request).page(
        request,
        "document.html",
        labels=[label],
        doc=info,
        label=label,
        alternatives=alternatives,
        history=history,
        entries=trail,
    )


@router.get("/documents/{doc_id}/content")
async def download(request: Request, user: ReadingUser, doc_id: DocId) -> Response:
    """The document's content, always as an attachment: the API's open, decided and
    audited as there."""
    return await open_content(request, user.actor, doc_id)


VIEWABLE = ("text/plain", "text/csv", "text/markdown")
"""Media types shown in the page (as text, escaped); anything else is downloaded."""


@router.get("/documents/{doc_id}/view")
async def view(request: Request, user: ReadingUser, doc_id: DocId) -> Response:
    """A text document shown in the page under its banners, stamped with the reader's
    identity where the permit's obligations ask for it (`stamp-identity`): the API's open
    (decided and audited as a download), never a file in the browser's downloads. Other
    media, and texts over `fast_path.IN_MEMORY`, are for download."""
    node = node_of(request)
    info = await anyio.to_thread.run_sync(node.documents.show, user.actor, doc_id)
    media = info.media_type.split(";", 1)[0].strip().lower()
    if media not in VIEWABLE or info.plaintext_size > IN_MEMORY:
        raise InputError(
            f"view: only text documents up to {IN_MEMORY} bytes are shown in the page; "
            "download this one"
        )
    opened = await open_content(request, user.actor, doc_id)
    body = bytes(opened.body)
    obligations = [o for o in json.loads(opened.headers.get("cix-obligations", "[]"))
                   if isinstance(o, dict)]  # fmt: skip
    marker = renderer_of(request).marker
    label = marker.label(info.label)
    return renderer_of(request).page(
        request,
        "view.html",
        labels=[label],
        doc=info,
        label=label,
        text=body.decode("utf-8", errors="replace"),
        obligations=[_obligation(o) for o in obligations],
        stamp=next(
            (str(o.get("subject")) for o in obligations if o.get("code") == "stamp-identity"),
            None,
        ),
        viewed_at=node.clock(),
    )


def _obligation(obligation: dict[str, Any]) -> str:
    """An obligation of the permit as words: its code and parameters."""
    params = ", ".join(f"{k} {v}" for k, v in obligation.items() if k != "code")
    return f"{obligation.get('code')} ({params})" if params else str(obligation.get("code"))
