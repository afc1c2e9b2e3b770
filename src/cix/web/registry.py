"""Registry pages, read-only: people, organisations, programmes and memberships.

Each calls the personnel registry's service as the REST routes do, with the same role
rules (who may see whom is the registry's decision, not the page's).
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from cix.web.session import node_of
from cix.web.signin import ReadingUser, renderer_of

router = APIRouter()
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]


@router.get("/people")
async def people(request: Request, user: ReadingUser) -> Response:
    """The people the signed-in person may see."""
    reg = node_of(request).registry
    rows = await anyio.to_thread.run_sync(reg.list_people, user.actor)
    return renderer_of(request).page(request, "people.html", people=rows)


@router.get("/people/{person_id}")
async def person(request: Request, user: ReadingUser, person_id: Id) -> Response:
    """One person and their memberships, if the signed-in person may see them."""
    reg = node_of(request).registry

    def read() -> tuple[object, object]:
        found = reg.get_person(user.actor, person_id)
        return found, reg.list_memberships(user.actor, person=person_id, programme=None)

    found, memberships = await anyio.to_thread.run_sync(read)
    return renderer_of(request).page(request, "person.html", person=found, memberships=memberships)


@router.get("/organisations")
async def organisations(request: Request, user: ReadingUser) -> Response:
    """Every organisation."""
    reg = node_of(request).registry
    rows = await anyio.to_thread.run_sync(reg.list_organisations, user.actor)
    return renderer_of(request).page(request, "organisations.html", organisations=rows)


@router.get("/programmes")
async def programmes(request: Request, user: ReadingUser) -> Response:
    """Every programme."""
    reg = node_of(request).registry
    rows = await anyio.to_thread.run_sync(reg.list_programmes, user.actor)
    return renderer_of(request).page(request, "programmes.html", programmes=rows)
