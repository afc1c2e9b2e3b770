"""Document procedures: destroy (with confirmation) and transmit to another nation, and the
list of this node's transmissions.

Each form validates with the API's own request model (`DestroyIn`, `TransmitIn`) and calls
the service the REST route calls (`destruction.destroy`, `exchange.transmit`,
`exchange.transmissions`), so the decisions, refusals and audit are the API's.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from cix.api.routes.documents import DestroyIn
from cix.api.routes.exchange import TransmitIn
from cix.node.register import DocumentInfo
from cix.web.render import PREFIX
from cix.web.session import node_of
from cix.web.signin import ChangingUser, ReadingUser, renderer_of

router = APIRouter()
DocId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


def _problem(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())) or 'form'}: {e.get('msg', 'not valid')}"
        for e in exc.errors()
    )


async def _document(request: Request, user: Any, doc_id: str) -> DocumentInfo:
    node = node_of(request)
    return await anyio.to_thread.run_sync(node.documents.show, user.actor, doc_id)


async def _page(request: Request, user: Any, doc_id: str, template: str, status: int = 200,
                **context: Any) -> Response:  # fmt: skip
    doc = await _document(request, user, doc_id)
    marker = renderer_of(request).marker
    label = marker.label(doc.label)
    node = node_of(request)
    agreement = node.agreements[label.policy]
    return renderer_of(request).page(
        request,
        template,
        status=status,
        labels=[label],
        doc=doc,
        label=label,
        parties=sorted(label.releasable_to - {node.settings.party}),
        purposes=sorted(agreement.purposes),
        **{"error": None, "reason": "", **context},
    )


@router.get("/documents/{doc_id}/destroy")
async def destroy_form(request: Request, user: ReadingUser, doc_id: DocId) -> Response:
    """Ask for the reason and a confirmation before destroying."""
    return await _page(request, user, doc_id, "destroy.html")


@router.post("/documents/{doc_id}/destroy")
async def destroy(request: Request, user: ChangingUser, doc_id: DocId) -> Response:
    """Destroy the document (custodian or NSA officer, as the API): its certificate is then
    on its page."""
    form = await request.form()
    reason = str(form.get("reason") or "")
    if form.get("confirm") != "yes":
        return await _page(request, user, doc_id, "destroy.html", status=400, reason=reason,
                           error="confirm: tick the box to confirm the destruction")  # fmt: skip
    try:
        body = DestroyIn(reason=reason)
    except ValidationError as exc:
        return await _page(request, user, doc_id, "destroy.html", status=400, reason=reason,
                           error=_problem(exc))  # fmt: skip
    node = node_of(request)
    await anyio.to_thread.run_sync(
        lambda: node.destruction.destroy(user.actor, doc_id, reason=body.reason)
    )
    return RedirectResponse(f"{PREFIX}/documents/{doc_id}", status_code=303)


@router.get("/documents/{doc_id}/transmit")
async def transmit_form(request: Request, user: ReadingUser, doc_id: DocId) -> Response:
    """Choose the recipient nation (among those the label releases to) and the purpose."""
    return await _page(request, user, doc_id, "transmit.html")


@router.post("/documents/{doc_id}/transmit")
async def transmit(request: Request, user: ChangingUser, doc_id: DocId) -> Response:
    """Queue the transmission (the exchange's `transmit`, as the API)."""
    form = await request.form()
    try:
        body = TransmitIn(
            to=str(form.get("to") or ""),
            purpose=str(form.get("purpose") or "") or None,
            consent=str(form.get("consent") or "") or None,
        )
    except ValidationError as exc:
        return await _page(request, user, doc_id, "transmit.html", status=400,
                           error=_problem(exc))  # fmt: skip
    exchange = node_of(request).exchange
    await anyio.to_thread.run_sync(
        lambda: exchange.transmit(
            user.actor, doc_id, to_party=body.to, purpose=body.purpose, consent_id=body.consent
        )
    )
    return RedirectResponse(f"{PREFIX}/transmissions", status_code=303)


@router.get("/transmissions")
async def transmissions(
    request: Request,
    user: ReadingUser,
    state: Annotated[str, Query(pattern=r"^(|queued|sent|receipted|refused|overdue)$")] = "",
) -> Response:
    """This node's transmissions, optionally in one state."""
    exchange = node_of(request).exchange
    rows = await anyio.to_thread.run_sync(exchange.transmissions, user.actor, state or None)
    return renderer_of(request).page(request, "transmissions.html", transmissions=rows, state=state)
