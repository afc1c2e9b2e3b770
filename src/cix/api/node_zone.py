"""Bare dates in a request are days where the node is (`cix.node.dates`).

A dependency of every user API route, resolved before the request's body is validated
(FastAPI solves a route's dependencies first), so that the body's `DayStart`/`DayEnd`
fields read the node's zone from the request's context.
"""

from __future__ import annotations

from fastapi import Request

from cix.api.auth import node_of
from cix.node.dates import set_zone


async def in_node_zone(request: Request) -> None:
    """Set the node's zone for the rest of this request (async: in the request's own task)."""
    set_zone(node_of(request).zone)
