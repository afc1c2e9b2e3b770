"""The inbox: every message is verified, deduplicated for good, and answered signed; each
attack on it is refused, audited, and leaves nothing stored."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cix.federation import Message
from cix.keys import generate_signing
from cix.node.auditing import MemoryAuditSink
from cix.node.exchange.inbox import Answer
from cix.node.exchange.transport import MESSAGES_PATH
from cix.node.service import Node
from cix.store.models import InboxMessage
from tests.federation.simulator import PeerSimulator
from tests.node_support import Clock


def _count_handler(calls: list[str]) -> object:
    def handle(session: Session, message: Message, body: Path | None) -> Answer:
        calls.append(message.message_id)
        return Answer(200, {"pong": message.body.get("n", 0)})

    return handle


def _stored(node: Node) -> int:
    with node.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(InboxMessage)) or 0)


def _refusals(audit: MemoryAuditSink) -> list[tuple[str, ...]]:
    return [e.reasons for e in audit.events if e.type == "federation" and e.decision == "deny"]


@pytest.fixture
def calls(node: Node) -> list[str]:
    seen: list[str] = []
    node.exchange.inbox.register("ping", _count_handler(seen))  # type: ignore[arg-type]
    return seen


def _ping(kor: PeerSimulator, node: Node, **overrides: object) -> str:
    args: dict[str, object] = {
        "kind": "ping",
        "body": {"n": 1},
        "audience": node.settings.node_id,
        "url": MESSAGES_PATH,
    }
    args.update(overrides)
    return kor.message(**args)  # type: ignore[arg-type]


def test_a_message_is_handled_and_answered_signed(
    node: Node, kor: PeerSimulator, calls: list[str]
) -> None:
    token = _ping(kor, node)
    reply = node.exchange.inbox.receive(token, url=MESSAGES_PATH)
    assert reply.status == 200
    assert reply.token is not None
    answer = kor.read_answer(reply.token, url=MESSAGES_PATH, peer=kor.pinned_node)  # type: ignore[arg-type]
    assert answer.kind == "answer"
    assert answer.body["in_reply_to"] == calls[0]
    assert answer.body["pong"] == 1
    assert answer.body["status"] == 200
    assert _stored(node) == 1


def test_a_replayed_or_resent_message_gets_the_stored_answer_once_handled(
    node: Node, kor: PeerSimulator, calls: list[str], clock: Clock
) -> None:
    token = _ping(kor, node)
    first = node.exchange.inbox.receive(token, url=MESSAGES_PATH)
    clock.advance(seconds=30)
    again = node.exchange.inbox.receive(token, url=MESSAGES_PATH)
    # resent by the sender: signed afresh (another issue time), the same message id
    resent = _ping(kor, node, message_id=calls[0])
    third = node.exchange.inbox.receive(resent, url=MESSAGES_PATH)
    assert first.token is not None
    assert again.token == first.token
    assert third.token == first.token
    assert (again.status, third.status) == (200, 200)
    assert len(calls) == 1
    assert _stored(node) == 1


def test_message_id_reused_for_other_content_is_refused(
    node: Node, kor: PeerSimulator, calls: list[str], audit: MemoryAuditSink
) -> None:
    token = _ping(kor, node)
    node.exchange.inbox.receive(token, url=MESSAGES_PATH)
    other = _ping(kor, node, message_id=calls[0], body={"n": 2})
    reply = node.exchange.inbox.receive(other, url=MESSAGES_PATH)
    assert reply.status == 409
    assert ("message-id-reused",) in _refusals(audit)
    assert len(calls) == 1


def test_message_signed_by_unknown_key_is_refused(
    node: Node, kor: PeerSimulator, calls: list[str], audit: MemoryAuditSink
) -> None:
    forged = _ping(kor, node, signer=generate_signing())
    reply = node.exchange.inbox.receive(forged, url=MESSAGES_PATH)
    assert reply.status == 401
    assert reply.token is None
    unknown = _ping(kor, node, signer=generate_signing(), sender="cix-xyz")
    assert node.exchange.inbox.receive(unknown, url=MESSAGES_PATH).status == 401
    assert _refusals(audit) == [("signature-invalid",), ("unknown-sender",)]
    assert calls == []
    assert _stored(node) == 0


def test_message_for_another_audience_is_refused(
    node: Node, kor: PeerSimulator, calls: list[str], audit: MemoryAuditSink
) -> None:
    token = _ping(kor, node, audience="cix-deu")
    reply = node.exchange.inbox.receive(token, url=MESSAGES_PATH)
    assert reply.status == 403
    assert reply.token is not None
    answer = kor.read_answer(reply.token, url=MESSAGES_PATH, peer=kor.pinned_node)  # type: ignore[arg-type]
    assert answer.body["refused"] == "wrong-audience"
    assert _refusals(audit) == [("wrong-audience",)]
    assert calls == []
    assert _stored(node) == 0


def test_message_for_another_route_is_refused(
    node: Node, kor: PeerSimulator, calls: list[str], audit: MemoryAuditSink
) -> None:
    token = _ping(kor, node, url="/federation/v1/documents")
    assert node.exchange.inbox.receive(token, url=MESSAGES_PATH).status == 403
    assert _refusals(audit) == [("wrong-target",)]
    assert calls == []


def test_message_under_agreement_not_held_is_refused(
    node: Node, kor: PeerSimulator, calls: list[str], audit: MemoryAuditSink
) -> None:
    token = _ping(kor, node, agreement="can-deu")
    reply = node.exchange.inbox.receive(token, url=MESSAGES_PATH)
    assert reply.status == 403
    assert reply.token is not None
    assert _refusals(audit) == [("agreement-not-held",)]
    assert calls == []
    assert _stored(node) == 0


def test_clock_skew_beyond_bound_is_refused(
    node: Node, kor: PeerSimulator, calls: list[str], audit: MemoryAuditSink, clock: Clock
) -> None:
    bound = timedelta(seconds=node.settings.federation_max_skew_seconds)
    late = _ping(kor, node, issued_at=clock.now - bound - timedelta(seconds=1))
    early = _ping(kor, node, issued_at=clock.now + bound + timedelta(seconds=1))
    within = _ping(kor, node, issued_at=clock.now - bound + timedelta(seconds=1))
    assert node.exchange.inbox.receive(late, url=MESSAGES_PATH).status == 403
    assert node.exchange.inbox.receive(early, url=MESSAGES_PATH).status == 403
    assert node.exchange.inbox.receive(within, url=MESSAGES_PATH).status == 200
    assert _refusals(audit) == [("clock-skew",), ("clock-skew",)]
    assert len(calls) == 1


def test_a_kind_without_handler_and_garbage_are_clear_4xx(
    node: Node, kor: PeerSimulator, calls: list[str]
) -> None:
    unknown = _ping(kor, node, kind="teleport")
    assert node.exchange.inbox.receive(unknown, url=MESSAGES_PATH).status == 400
    for garbage in ("", "a.b.c", "x" * 5000, "eyJhbGciOiJub25lIn0.e30."):
        reply = node.exchange.inbox.receive(garbage, url=MESSAGES_PATH)
        assert 400 <= reply.status < 500
    assert _stored(node) == 0
