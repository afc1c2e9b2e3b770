"""The consents queue: requests for this node's consent, oldest first, approved or denied by
an NSA officer; and the consents this node asked for.

Approve and deny validate with the API's request models and call the consent service the
REST routes call (`consents.list`, `approve`, `deny`), so who may answer, and the signed
statement sent back, are the API's. Consents name documents of any level and carry no label
of their own: the page is marked at the top level of the node's scheme (failing closed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from cix.api.routes.consents import ConsentApproval, ConsentDenial
from cix.errors import InputError
from cix.node.dates import current_zone, end_of
from cix.web.render import PREFIX
from cix.web.session import node_of
from cix.web.signin import ChangingUser, ReadingUser, renderer_of

router = APIRouter()
ConsentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


@router.get("/consents")
async def consents(
    request: Request,
    user: ReadingUser,
    state: Annotated[str, Query(pattern=r"^(|requested|approved|denied|used|expired)$")] = "",
) -> Response:
    """The consents held here: requests waiting for an answer first, the oldest first."""
    service = node_of(request).consents
    rows = await anyio.to_thread.run_sync(lambda: service.list(user.actor, state=state or None))
    waiting = sorted(
        (c for c in rows if c.side == "originator" and c.state == "requested"),
        key=lambda c: c.requested_at,
    )
    others = [c for c in rows if c not in waiting]
    return renderer_of(request).page(
        request, "consents.html", top=True, waiting=waiting, others=others, state=state
    )


def _until(text: str) -> datetime | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise InputError("expires: not a date (YYYY-MM-DD)") from None
    # The one rule for dates (cix.node.dates): through that whole day where the node is.
    try:
        return end_of(day, current_zone())
    except InputError as exc:
        raise InputError(f"expires: {exc}") from None


def _problem(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())) or 'form'}: {e.get('msg', 'not valid')}"
        for e in exc.errors()
    )


@router.post("/consents/{consent_id}/approve")
async def approve(request: Request, user: ChangingUser, consent_id: ConsentId) -> Response:
    """Approve the request (NSA officer): the signed statement goes back."""
    form = await request.form()
    try:
        body = ConsentApproval(
            conditions=str(form.get("conditions") or "") or None,
            expires_at=_until(str(form.get("expires") or "")),
        )
    except ValidationError as exc:
        raise InputError(_problem(exc)) from None
    service = node_of(request).consents
    await anyio.to_thread.run_sync(
        lambda: service.approve(
            user.actor, consent_id, conditions=body.conditions, expires_at=body.expires_at
        )
    )
    return RedirectResponse(f"{PREFIX}/consents", status_code=303)


@router.post("/consents/{consent_id}/deny")
async def deny(request: Request, user: ChangingUser, consent_id: ConsentId) -> Response:
    """Deny the request (NSA officer): a signed denial goes back."""
    form = await request.form()
    try:
        body = ConsentDenial(conditions=str(form.get("conditions") or "") or None)
    except ValidationError as exc:
        raise InputError(_problem(exc)) from None
    service = node_of(request).consents
    await anyio.to_thread.run_sync(
        lambda: service.deny(user.actor, consent_id, conditions=body.conditions)
    )
    return RedirectResponse(f"{PREFIX}/consents", status_code=303)
