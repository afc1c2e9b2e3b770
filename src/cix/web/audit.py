"""The audit explorer: the node's recent audit entries, filtered (auditors, NSA officers).

Who may read is `cix.node.audit_reading`'s decision (refused and audited otherwise). Audit
entries name documents of every level (their titles among the details), and carry no label
themselves: the page is marked at the top level of the node's scheme.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from cix.node.audit_reading import TrailFilter
from cix.web.session import node_of
from cix.web.signin import ReadingUser, renderer_of

router = APIRouter()
_TEXT = Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")


@router.get("/audit")
async def audit_explorer(
    request: Request,
    user: ReadingUser,
    actor: Annotated[str, _TEXT] = "",
    object: Annotated[str, _TEXT] = "",
    type: Annotated[str, _TEXT] = "",
    decision: Annotated[str, Query(pattern=r"^(|permit|deny)$")] = "",
) -> Response:
    """The newest entries matching the filters."""
    wanted = TrailFilter(actor=actor.strip(), object_contains=object.strip(),
                         type=type.strip(), decision=decision)  # fmt: skip
    node = node_of(request)
    trail = node.audit_trail

    def may_read(doc_id: str) -> bool:
        return node.documents.may_read(user.actor, doc_id)

    entries = await anyio.to_thread.run_sync(
        lambda: trail.recent(user.actor, wanted, may_read=may_read)
    )
    return renderer_of(request).page(
        request, "audit.html", top=True, entries=entries, wanted=wanted
    )
