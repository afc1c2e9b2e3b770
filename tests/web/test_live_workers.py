"""A served node with two worker processes: a web session begun in one is served by both."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from cix.demo import prepare
from cix.demo_cast import CANADA
from tests.live_node import LiveNode

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("web-workers")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveNode, dict[str, str]]]:
    """The Canadian demonstration node served by two workers; its people's API tokens."""
    (demo,) = prepare(tmp_path_factory.mktemp("webw") / "demo", nations=(CANADA,), base_port=0)
    live = LiveNode.start(demo.data_dir, workers=2, timeout=60)
    try:
        yield live, demo.tokens
    finally:
        live.stop()


def test_session_is_served_by_every_worker_and_ended_in_all(
    served: tuple[LiveNode, dict[str, str]],
) -> None:
    live, tokens = served
    # No kept-alive connections: each request may land on either worker.
    with httpx.Client(
        base_url=live.url, limits=httpx.Limits(max_keepalive_connections=0), timeout=10
    ) as client:
        form = client.get("/ui/sign-in")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        signed = client.post("/ui/sign-in", data={"token": tokens["dnd-pm"], "csrf": csrf[1]})
        assert signed.status_code == 303
        pages = [client.get("/ui/documents") for _ in range(12)]
        assert [p.status_code for p in pages] == [200] * 12
        token = re.search(r'name="csrf" value="([^"]+)"', pages[-1].text)
        assert token
        secret = client.cookies.get("cix_session")
        assert secret
        replay = {"Cookie": f"cix_session={secret}"}
        before = [httpx.get(f"{live.url}/ui/documents", headers=replay) for _ in range(6)]
        assert [r.status_code for r in before] == [200] * 6
        assert client.post("/ui/sign-out", data={"csrf": token[1]}).status_code == 303
        after = [httpx.get(f"{live.url}/ui/documents", headers=replay) for _ in range(6)]
        assert [r.status_code for r in after] == [303] * 6  # ended in every worker
