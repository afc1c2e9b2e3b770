"""Request body limits hold for every request that can carry a body, a GET's too; only a GET
or HEAD without `Content-Length` or `Transfer-Encoding` (no body) skips the counting."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from starlette.types import Message, Receive, Scope, Send

from cix.api.fast_path import BodilessBypass
from cix.node.service import Node
from tests.node_support import ApiClient, assert_problem

CONTENT = f"/api/v1/documents/{'0' * 32}/content"


@pytest.mark.parametrize("path", [CONTENT, "/api/v1/documents"])
def test_get_with_an_oversized_body_is_413(api: ApiClient, node: Node, path: str) -> None:
    big = b"x" * (node.settings.max_request_bytes + 1)
    assert_problem(api.as_("alice").request("GET", path, content=big), 413)


def _seen_receive(method: str, headers: list[tuple[bytes, bytes]]) -> tuple[Receive, Receive]:
    """What the app behind the bypass gets as `receive`, and what the server gave."""
    seen: list[Receive] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(receive)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    scope: dict[str, Any] = {"type": "http", "method": method, "path": "/", "headers": headers}
    anyio.run(BodilessBypass(app, limit_for=lambda _: 1024), scope, receive, send)
    return seen[0], receive


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_bodiless_get_or_head_goes_straight_on(method: str) -> None:
    given, server = _seen_receive(method, [(b"host", b"node"), (b"authorization", b"Bearer x")])
    assert given is server


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", [(b"content-length", b"5")]),
        ("GET", [(b"transfer-encoding", b"chunked")]),
        ("POST", []),
        ("DELETE", []),
    ],
)
def test_anything_that_may_carry_a_body_is_counted(
    method: str, headers: list[tuple[bytes, bytes]]
) -> None:
    given, server = _seen_receive(method, headers)
    assert given is not server  # BodyLimit's counting receive
