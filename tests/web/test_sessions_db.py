"""Web sessions on each database backend: kept in the database, so every worker sees them."""

from __future__ import annotations

from typing import Any

import anyio.from_thread

from cix.node.auditing import MemoryAuditSink
from cix.node.service import Node
from tests.node_support import ENVIRON, Clock
from tests.web.conftest import WebClient


def test_session_begun_in_one_worker_is_served_and_ended_by_another(
    web: WebClient, clock: Clock, audit: MemoryAuditSink
) -> None:
    web.sign_in("olivia")
    # A second Node on the same data directory and database, as another worker process opens.
    other_node = Node.open(web.node.settings.data_dir, environ=ENVIRON, audit=audit, clock=clock)
    portal_cm: Any = anyio.from_thread.start_blocking_portal()
    try:
        with portal_cm as portal:
            other = WebClient(other_node, portal)
            for name, value in web._client.cookies.items():
                other._client.cookies.set(name, value, path="/ui")
            page = other.get("/ui/documents")
            assert page.status_code == 200
            assert "Signed in as <strong>olivia</strong>" in page.text
            assert other.post("/ui/sign-out", data={"csrf": other.csrf}).status_code == 303
            other.close()
    finally:
        other_node.close()
    assert web.get("/ui/documents").status_code == 303  # ended everywhere


def test_session_ends_on_idle_and_is_audited(
    web: WebClient, clock: Clock, audit: MemoryAuditSink
) -> None:
    web.sign_in("olivia")
    clock.advance(seconds=web.node.settings.web_session_idle_seconds + 1)
    assert web.get("/ui/documents").status_code == 303
    actions = [e.action for e in audit.events if e.type == "session"]
    assert actions == ["sign-in", "expire"]
    assert web.node.web_sessions.purge(clock()) == 0  # the expired one was already forgotten
