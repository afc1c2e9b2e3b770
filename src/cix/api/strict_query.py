"""Unknown query parameters are refused, never ignored.

`GET /documents?label=SECRET` used to list everything: a misspelt or unsupported filter
silently widened the answer. Every route of the user API now answers 400 naming the
parameters it does not take (FastAPI itself ignores them).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from cix.errors import InputError

_ACCEPTED: dict[int, frozenset[str]] = {}


def _accepted(route: APIRoute) -> frozenset[str]:
    # The route's own query parameters and those of its dependencies, by their wire names;
    # routes live as long as the app, so each is walked once.
    found = _ACCEPTED.get(id(route))
    if found is not None:
        return found
    names: set[str] = set()
    pending: list[Dependant] = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(p.alias for p in dependant.query_params)
        pending.extend(dependant.dependencies)
    found = _ACCEPTED[id(route)] = frozenset(names)
    return found


async def refuse_unknown_query(request: Request) -> None:
    """A dependency: InputError naming each query parameter the matched route does not take.
    (Async, so that it runs on the event loop: no thread hop for a check this small.)"""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _accepted(route))
    if unknown:
        raise InputError(f"unknown query parameter: {', '.join(unknown)}")
