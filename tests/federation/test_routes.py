"""The federation routes over HTTP (in-process ASGI): no user token is needed or used, a
signed message gets a signed answer, and bad input gets a clear 4xx with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import anyio.from_thread
import pytest
from sqlalchemy import func, select

from cix.node.exchange.transport import DOCUMENTS_PATH, JOSE, MESSAGE_HEADER, MESSAGES_PATH
from cix.node.service import Node
from cix.store.models import InboxMessage, ReceivedCopy
from tests.federation.cast import kor_label, seed_cast
from tests.federation.simulator import PeerSimulator
from tests.node_support import ApiClient, Clock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
DATA = b"sonar array layout\n" * 500


@pytest.fixture
def http(node: Node, kor: PeerSimulator, clock: Clock) -> Iterator[ApiClient]:
    seed_cast(node, clock.now)
    portal_cm: AbstractContextManager[Any] = anyio.from_thread.start_blocking_portal()
    with portal_cm as portal:
        client = ApiClient(node, portal)
        try:
            yield client
        finally:
            client.close()


def _stored(node: Node) -> tuple[int, int]:
    with node.db.read() as session:
        messages = session.scalar(select(func.count()).select_from(InboxMessage)) or 0
        copies = session.scalar(select(func.count()).select_from(ReceivedCopy)) or 0
        return int(messages), int(copies)


def test_a_document_delivered_over_http_is_answered_with_a_signed_receipt(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path
) -> None:
    token, path = kor.transmission(node, kor_label(clock.now), DATA, tmp_path)
    answer = http.post(DOCUMENTS_PATH, content=path.read_bytes(), headers={MESSAGE_HEADER: token})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(JOSE)
    assert kor.pinned_node is not None
    body = kor.read_answer(answer.text, url=DOCUMENTS_PATH, peer=kor.pinned_node).body
    assert body["receipt"]["copy"] == 1
    assert _stored(node) == (1, 1)
    leftovers = list((node.blobs.root / "tmp").iterdir())
    assert leftovers == []  # the streamed body's temporary file is gone


def test_bad_input_on_the_federation_api_is_a_clear_4xx_and_stores_nothing(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path
) -> None:
    cases = [
        http.post(MESSAGES_PATH, content=b""),
        http.post(MESSAGES_PATH, content=b"not a jws"),
        http.post(MESSAGES_PATH, content=b"\xff\xfe"),
        http.post(MESSAGES_PATH, content=b"a" * ((1 << 20) + 10)),
        http.post(DOCUMENTS_PATH, content=b"object without its message"),
        http.post(DOCUMENTS_PATH, content=b"x", headers={MESSAGE_HEADER: "a.b.c"}),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, response.text
    # a message for the messages route delivered at the documents route
    token, path = kor.transmission(node, kor_label(clock.now), DATA, tmp_path)
    wrong = http.post(MESSAGES_PATH, content=token.encode())
    assert wrong.status_code == 403
    # a user's bearer token does not make a message
    user = http.as_("root").post(DOCUMENTS_PATH, content=path.read_bytes())
    assert user.status_code == 400
    assert _stored(node) == (0, 0)


def test_the_document_route_refuses_a_body_over_its_cap(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path
) -> None:
    token, _ = kor.transmission(node, kor_label(clock.now), DATA, tmp_path)
    limit = node.settings.max_upload_bytes + (16 << 20)
    answer = http.post(
        DOCUMENTS_PATH,
        headers={MESSAGE_HEADER: token, "Content-Length": str(limit + 1)},
        content=b"",
    )
    assert answer.status_code == 413
    assert _stored(node) == (0, 0)
