"""Transmission from a real KOR node to a simulated CAN node: decided, rewrapped, queued
in the audited write, delivered with retries, receipted, listed."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from cix.envelope import open as envelope_open
from cix.node.auditing import MemoryAuditSink
from cix.node.errors import DocumentRefused
from cix.node.service import Node
from cix.store.models import Document, OutboxItem, Transmission
from tests.federation.cast import actor, kor_label, upload
from tests.federation.simulator import PeerSimulator
from tests.node_support import Clock

DATA = b"hull acoustic design, revision 7\n" * 100


def _transmission(node: Node, transmission_id: str) -> Transmission:
    with node.db.read() as session:
        row = session.get(Transmission, transmission_id)
        assert row is not None
        return row


def _outbox(node: Node, message_id: str) -> OutboxItem:
    with node.db.read() as session:
        row = session.get(OutboxItem, message_id)
        assert row is not None
        return row


def test_a_document_is_transmitted_and_its_receipt_stored(
    kor_node: Node, can: PeerSimulator, clock: Clock, audit: MemoryAuditSink
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    info = kor_node.exchange.transmit(actor(kor_node, "officer"), doc, to_party="CAN")
    assert info.state == "queued"
    assert info.requires_receipt  # 군사Ⅱ급비밀 is at the receipt level
    assert kor_node.exchange.delivery.run_once() == 1
    assert len(can.received) == 1
    received = can.received[0]
    assert received.message.body["document"] == doc
    assert received.message.body["copy"] == 1
    assert received.body is not None
    # rewrapped to CAN's key only: CAN opens it, the payload unchanged
    out = io.BytesIO()
    opened = envelope_open(
        received.body,
        out,
        private_key=can.kem,
        trusted_signers={"KOR": [kor_node.keys.verify_key]},  # type: ignore[union-attr]
    )
    assert out.getvalue() == DATA
    assert opened.label_json == received.message.body["label"]
    row = _transmission(kor_node, info.id)
    assert row.state == "receipted"
    assert row.receipt is not None
    answer = can.check_own(row.receipt, audience="cix-kor", url="/federation/v1/documents")
    assert answer.sender == "cix-can"
    assert answer.body["in_reply_to"] == info.id
    assert answer.body["receipt"]["document"] == doc
    actions = [(e.type, e.action, e.decision) for e in audit.events if e.object.endswith(doc)]
    assert ("document", "transmit", "permit") in actions
    assert ("document", "queue-transmission", "permit") in actions
    assert ("document", "receipt", "permit") in actions
    assert kor_node.exchange.delivery.run_once() == 0  # nothing left to send


def test_start_up_recovery_keeps_the_object_a_queued_transmission_sends(
    kor_node: Node, can: PeerSimulator, clock: Clock
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    info = kor_node.exchange.transmit(actor(kor_node, "officer"), doc, to_party="CAN")
    blob = _outbox(kor_node, info.id).blob_hash
    assert blob is not None
    assert kor_node.destruction.recover() == (0, 0)
    assert kor_node.blobs.exists(blob)
    kor_node.exchange.delivery.run_once()
    assert _transmission(kor_node, info.id).state == "receipted"


def test_peer_down_during_transmission_is_delivered_exactly_once_when_it_returns(
    kor_node: Node, can: PeerSimulator, clock: Clock, audit: MemoryAuditSink
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    info = kor_node.exchange.transmit(actor(kor_node, "officer"), doc, to_party="CAN")
    can.down = True
    delivery = kor_node.exchange.delivery
    assert delivery.run_once() == 1
    item = _outbox(kor_node, info.id)
    assert item.state == "queued"
    assert item.attempts == 1
    assert item.last_error is not None
    assert "down" in item.last_error
    assert delivery.run_once() == 0  # backing off: not due yet
    for expected_attempts in (2, 3):
        clock.advance(seconds=delivery.backoff(expected_attempts - 1).total_seconds())
        assert delivery.run_once() == 1
        assert _outbox(kor_node, info.id).attempts == expected_attempts
    gap = _outbox(kor_node, info.id).next_attempt_at - clock.now
    assert gap == delivery.backoff(3)  # doubling
    can.down = False
    clock.advance(seconds=gap.total_seconds())
    assert delivery.run_once() == 1
    assert len(can.received) == 1
    assert _transmission(kor_node, info.id).state == "receipted"
    clock.advance(days=1)
    assert delivery.run_once() == 0
    assert len(can.received) == 1
    failures = [e for e in audit.events if e.action == "deliver" and e.decision == "deny"]
    assert len(failures) == 3


def test_a_lost_answer_is_resent_and_answered_from_the_peers_inbox(
    kor_node: Node, can: PeerSimulator, clock: Clock
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    info = kor_node.exchange.transmit(actor(kor_node, "officer"), doc, to_party="CAN")
    can.answer_unsigned = True  # the answer is lost or forged on the way back
    delivery = kor_node.exchange.delivery
    delivery.run_once()
    assert _transmission(kor_node, info.id).state == "queued"  # an unsigned answer proves nothing
    can.answer_unsigned = False
    clock.advance(seconds=delivery.backoff(1).total_seconds())
    delivery.run_once()
    assert _transmission(kor_node, info.id).state == "receipted"
    assert len(can.received) == 1


def test_a_peers_refusal_is_recorded_with_its_code(
    kor_node: Node, can: PeerSimulator, clock: Clock
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    info = kor_node.exchange.transmit(actor(kor_node, "officer"), doc, to_party="CAN")
    can.refuse_with = "level-without-equivalent"
    kor_node.exchange.delivery.run_once()
    row = _transmission(kor_node, info.id)
    assert row.state == "refused"
    assert row.refusal_code == "level-without-equivalent"
    assert _outbox(kor_node, info.id).state == "refused"
    clock.advance(days=1)
    assert kor_node.exchange.delivery.run_once() == 0  # a refusal is final
    listed = kor_node.exchange.transmissions(actor(kor_node, "officer"), state="refused")
    assert [(t.id, t.refusal_code) for t in listed] == [(info.id, "level-without-equivalent")]


def test_a_reader_may_not_transmit(
    kor_node: Node, can: PeerSimulator, clock: Clock, audit: MemoryAuditSink
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    with pytest.raises(DocumentRefused) as refused:
        kor_node.exchange.transmit(actor(kor_node, "reader"), doc, to_party="CAN")
    assert refused.value.reasons == ("role-required",)
    denied = [e for e in audit.events if e.action == "transmit" and e.decision == "deny"]
    assert len(denied) == 1
    with kor_node.db.read() as session:
        assert session.scalars(select(Transmission)).first() is None
        assert session.scalars(select(OutboxItem)).first() is None


def test_the_custodian_may_transmit_and_an_uncleared_officer_may_not(
    kor_node: Node, can: PeerSimulator, clock: Clock
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    info = kor_node.exchange.transmit(actor(kor_node, "author"), doc, to_party="CAN")
    assert info.requested_by == "author"
    other = upload(kor_node, kor_label(clock.now), DATA)
    with pytest.raises(DocumentRefused):
        # outsider holds no role to transmit
        kor_node.exchange.transmit(actor(kor_node, "outsider"), other, to_party="CAN")


def test_the_decision_function_refuses_what_is_not_releasable(
    kor_node: Node, can: PeerSimulator, clock: Clock, audit: MemoryAuditSink
) -> None:
    national = upload(kor_node, kor_label(clock.now, releasable_to=("KOR",)), DATA)
    with pytest.raises(DocumentRefused) as refused:
        kor_node.exchange.transmit(actor(kor_node, "officer"), national, to_party="CAN")
    assert "recipient-not-released" in refused.value.reasons
    shared = upload(kor_node, kor_label(clock.now), DATA)
    with pytest.raises(DocumentRefused) as third:
        kor_node.exchange.transmit(actor(kor_node, "officer"), shared, to_party="DEU")
    assert "recipient-third-party" in third.value.reasons
    with pytest.raises(DocumentRefused) as purpose:
        kor_node.exchange.transmit(
            actor(kor_node, "officer"),
            upload(kor_node, kor_label(clock.now, purpose="research"), DATA),
            to_party="CAN",
            purpose="defence-procurement",
        )
    assert "purpose-mismatch" in purpose.value.reasons
    with kor_node.db.read() as session:
        assert session.scalars(select(OutboxItem)).first() is None


def test_no_pinned_node_of_the_party_is_refused(
    kor_node: Node, clock: Clock, audit: MemoryAuditSink
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    with pytest.raises(DocumentRefused) as refused:
        kor_node.exchange.transmit(actor(kor_node, "officer"), doc, to_party="CAN")
    assert refused.value.reasons == ("no-peer-for-party",)


def test_a_transmission_without_receipt_is_listed_overdue(
    kor_node: Node, can: PeerSimulator, clock: Clock
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    info = kor_node.exchange.transmit(actor(kor_node, "officer"), doc, to_party="CAN")
    can.down = True
    kor_node.exchange.delivery.run_once()
    officer = actor(kor_node, "officer")
    assert kor_node.exchange.transmissions(officer, state="overdue") == []
    clock.advance(seconds=kor_node.settings.receipt_overdue_seconds + 1)
    overdue = kor_node.exchange.transmissions(officer, state="overdue")
    assert [t.id for t in overdue] == [info.id]
    assert overdue[0].overdue
    assert [t.id for t in kor_node.exchange.transmissions(officer, state="queued")] == [info.id]
    can.down = False
    kor_node.exchange.delivery.run_once()
    assert kor_node.exchange.transmissions(officer, state="overdue") == []
    assert kor_node.exchange.transmissions(officer)[0].state == "receipted"


def test_an_answered_transmissions_object_is_deleted_and_the_document_kept(
    kor_node: Node, can: PeerSimulator, clock: Clock
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    info = kor_node.exchange.transmit(actor(kor_node, "officer"), doc, to_party="CAN")
    sent = _outbox(kor_node, info.id).blob_hash
    assert sent is not None
    assert kor_node.blobs.exists(sent)
    kor_node.exchange.delivery.run_once()
    assert _transmission(kor_node, info.id).state == "receipted"
    assert not kor_node.blobs.exists(sent)  # never sent again: the disk does not grow
    with kor_node.db.read() as session:
        document = session.get(Document, doc)
        assert document is not None
        assert document.blob_hash is not None
    assert kor_node.blobs.exists(document.blob_hash)
    assert kor_node.destruction.recover() == (0, 0)


def test_a_killed_delivery_leaves_an_answered_object_to_start_up_recovery(
    kor_node: Node, can: PeerSimulator, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    info = kor_node.exchange.transmit(actor(kor_node, "officer"), doc, to_party="CAN")
    sent = _outbox(kor_node, info.id).blob_hash
    assert sent is not None
    delivery = kor_node.exchange.delivery
    monkeypatch.setattr(delivery, "_sweep", lambda hashes: None)  # killed after the commit
    delivery.run_once()
    assert _transmission(kor_node, info.id).state == "receipted"
    assert kor_node.blobs.exists(sent)
    assert kor_node.destruction.recover() == (0, 1)
    assert not kor_node.blobs.exists(sent)


def test_a_delivery_pass_sends_several_messages_at_once_and_records_each(
    kor_node: Node, can: PeerSimulator, clock: Clock, audit: MemoryAuditSink
) -> None:
    doc = upload(kor_node, kor_label(clock.now), DATA)
    officer = actor(kor_node, "officer")
    ids = [kor_node.exchange.transmit(officer, doc, to_party="CAN").id for _ in range(6)]
    in_flight, most = [0], [0]
    lock = threading.Lock()
    send = can.send

    def slow_send(*args: Any) -> tuple[int, bytes]:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.05)
        try:
            with lock:  # the simulator itself is not meant for threads
                return send(*args)
        finally:
            with lock:
                in_flight[0] -= 1

    kor_node.exchange.delivery.transport = type("T", (), {"send": staticmethod(slow_send)})()
    assert kor_node.exchange.delivery.run_once() == 6
    assert most[0] > 1  # sent concurrently (federation_delivery_concurrency)
    assert [_transmission(kor_node, i).state for i in ids] == ["receipted"] * 6
    assert sorted(r.message.message_id for r in can.received) == sorted(ids)
    delivered = [e for e in audit.events if e.action == "deliver" and e.decision == "permit"]
    assert sorted(e.object for e in delivered) == sorted(f"message:{i}" for i in ids)
    receipts = [e for e in audit.events if e.action == "receipt"]
    assert sorted(e.details["transmission"] for e in receipts) == sorted(ids)
