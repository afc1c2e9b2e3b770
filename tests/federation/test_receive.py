"""Reception at a real CAN node of documents a simulated KOR node transmits: the copy is
registered once, opens for a cleared member, and every attack on it is refused with its
code, audited, and leaves nothing registered."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cix.envelope import open as envelope_open
from cix.keys import generate_signing
from cix.node.auditing import MemoryAuditSink
from cix.node.errors import DocumentRefused
from cix.node.exchange.transport import DOCUMENTS_PATH
from cix.node.service import Node
from cix.store.models import Document, InboxMessage, ReceivedCopy
from tests.federation.cast import actor, kor_label, seed_cast
from tests.federation.simulator import PeerSimulator
from tests.node_support import Clock

DATA = b"KSS-III hull section drawing\n" * 200


@pytest.fixture
def can_node(node: Node, kor: PeerSimulator, clock: Clock) -> Node:
    seed_cast(node, clock.now)
    return node


def _copies(node: Node) -> int:
    with node.db.read() as session:
        documents = session.scalar(select(func.count()).select_from(Document)) or 0
        copies = session.scalar(select(func.count()).select_from(ReceivedCopy)) or 0
        assert documents == copies  # no half-registered copy
        return int(copies)


def _refused(audit: MemoryAuditSink) -> list[tuple[str, ...]]:
    return [e.reasons for e in audit.events if e.type == "federation" and e.decision == "deny"]


def _answer(kor: PeerSimulator, token: str | None) -> dict[str, object]:
    assert token is not None
    assert kor.pinned_node is not None
    return kor.read_answer(token, url=DOCUMENTS_PATH, peer=kor.pinned_node).body


def test_a_transmitted_copy_is_registered_receipted_and_opens_for_a_cleared_member(
    can_node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path, audit: MemoryAuditSink
) -> None:
    token, path = kor.transmission(can_node, kor_label(clock.now), DATA, tmp_path)
    reply = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=path)
    assert reply.status == 200
    receipt = _answer(kor, reply.token)["receipt"]
    assert isinstance(receipt, dict)
    assert receipt["marking"] == "SECRET//CPSP//REL TO CAN, KOR//ORIGINATOR KOR"
    doc_id = receipt["registered_as"]
    assert isinstance(doc_id, str)
    with can_node.db.read() as session:
        copy = session.get(ReceivedCopy, doc_id)
        assert copy is not None
        assert (copy.originator_party, copy.received_from, copy.copy_number) == (
            "KOR",
            "cix-kor",
            1,
        )
    # stored with CAN's alternative label, signed by CAN; KOR's label untouched
    with can_node.db.read() as session:
        row = session.get(Document, doc_id)
        assert row is not None
        assert row.blob_hash is not None
        stored = can_node.blobs.read(row.blob_hash)
    assert can_node.keys is not None
    opened = envelope_open(
        stored,
        io.BytesIO(),
        private_key=can_node.keys.kem,
        trusted_signers={"KOR": [kor.signing.public], "CAN": [can_node.keys.verify_key]},
    )
    assert opened.label_json == kor_label(clock.now).to_json()
    assert [(a.party, a.label_json["classification"]) for a in opened.alternative_labels] == [
        ("CAN", "S")
    ]
    admission = can_node.opening.admit(actor(can_node, "reader"), doc_id)
    admission.recorded()
    out = io.BytesIO()
    admission.write_to(out)
    assert out.getvalue() == DATA
    with pytest.raises(DocumentRefused):  # not on the programme
        can_node.opening.admit(actor(can_node, "outsider"), doc_id).recorded()
    received = [e for e in audit.events if e.action == "receive" and e.decision == "permit"]
    assert {e.type for e in received} == {"federation", "document"}


def test_replayed_message_gets_the_same_answer_and_no_second_copy(
    can_node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path
) -> None:
    token, path = kor.transmission(can_node, kor_label(clock.now), DATA, tmp_path)
    first = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=path)
    clock.advance(seconds=60)
    again = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=path)
    assert first.status == again.status == 200
    assert again.token == first.token
    assert _copies(can_node) == 1
    with can_node.db.read() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 1


def test_object_tampered_in_transit_is_refused(
    can_node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path, audit: MemoryAuditSink
) -> None:
    token, path = kor.transmission(can_node, kor_label(clock.now), DATA, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    reply = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=path)
    assert reply.status == 422
    assert _answer(kor, reply.token)["refused"] == "object-digest-mismatch"
    # cut short
    token, path = kor.transmission(can_node, kor_label(clock.now), DATA, tmp_path)
    path.write_bytes(path.read_bytes()[:-10])
    reply = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=path)
    assert _answer(kor, reply.token)["refused"] == "object-size-mismatch"
    assert _refused(audit) == [("object-digest-mismatch",), ("object-size-mismatch",)]
    assert _copies(can_node) == 0


def test_object_forged_by_the_sender_is_refused_by_its_own_integrity(
    can_node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path
) -> None:
    import hashlib

    token, path = kor.transmission(can_node, kor_label(clock.now), DATA, tmp_path)
    data = bytearray(path.read_bytes())
    data[200] ^= 0x01  # inside the payload's first segment
    body = _answer_body_of(token)
    body["object_sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    path.write_bytes(bytes(data))
    forged = kor.message(kind="transmission", body=body, audience="cix-can", url=DOCUMENTS_PATH)
    reply = can_node.exchange.inbox.receive(forged, url=DOCUMENTS_PATH, body=path)
    assert reply.status == 422
    assert _answer(kor, reply.token)["refused"] in {
        "segment-hash-mismatch",
        "segment-decrypt-failed",
        "malformed-object",
    }
    assert _copies(can_node) == 0


def _answer_body_of(token: str) -> dict[str, object]:
    import base64
    import json

    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body: dict[str, object] = claims["body"]
    return body


def test_label_signed_by_key_not_of_its_originator_party_is_refused(
    can_node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path, audit: MemoryAuditSink
) -> None:
    # DEU's node is pinned here too (its key is trusted for DEU's labels, not KOR's)
    deu = PeerSimulator(party="DEU", node_id="cix-deu", agreements=("can-deu",), clock=clock)
    deu.pair_with(can_node)
    token, path = kor.transmission(
        can_node, kor_label(clock.now), DATA, tmp_path, label_signer=deu.signing
    )
    reply = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=path)
    assert _answer(kor, reply.token)["refused"] == "signer-not-originator"
    token, path = kor.transmission(
        can_node, kor_label(clock.now), DATA, tmp_path, label_signer=generate_signing()
    )
    reply = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=path)
    assert _answer(kor, reply.token)["refused"] == "unknown-signer"
    assert _refused(audit) == [("signer-not-originator",), ("unknown-signer",)]
    assert _copies(can_node) == 0


def test_level_without_equivalent_is_refused(
    can_node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path, audit: MemoryAuditSink
) -> None:
    # 군사Ⅰ급비밀 has no Canadian equivalent under kor-can
    label = kor_label(clock.now)
    unmapped = {**label.to_json(), "classification": "I"}
    token, path = kor.transmission(can_node, label, DATA, tmp_path, body_label=unmapped)
    reply = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=path)
    assert reply.status == 422
    assert _answer(kor, reply.token)["refused"] == "level-without-equivalent"
    assert _refused(audit) == [("level-without-equivalent",)]
    assert _copies(can_node) == 0


def test_a_label_other_than_the_objects_is_refused(
    can_node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path
) -> None:
    label = kor_label(clock.now)
    lower = kor_label(clock.now, level="III").to_json()
    token, path = kor.transmission(can_node, label, DATA, tmp_path, body_label=dict(lower))
    reply = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=path)
    assert _answer(kor, reply.token)["refused"] == "label-mismatch"
    assert _copies(can_node) == 0


def test_a_document_not_releasable_to_this_party_is_refused(
    can_node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path
) -> None:
    label = kor_label(clock.now, releasable_to=("KOR",))
    token, path = kor.transmission(can_node, label, DATA, tmp_path)
    reply = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=path)
    assert _answer(kor, reply.token)["refused"] == "not-releasable"
    assert _copies(can_node) == 0


def test_a_transmission_without_its_object_or_with_a_bad_body_is_a_clear_4xx(
    can_node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path
) -> None:
    token, _ = kor.transmission(can_node, kor_label(clock.now), DATA, tmp_path)
    reply = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=None)
    assert reply.status == 400
    assert _answer(kor, reply.token)["refused"] == "object-missing"
    for broken in ({}, {"document": "x"}, {"document": "0" * 32, "copy": True}):
        bad = kor.message(kind="transmission", body=broken, audience="cix-can", url=DOCUMENTS_PATH)
        assert can_node.exchange.inbox.receive(bad, url=DOCUMENTS_PATH, body=None).status == 400
    assert _copies(can_node) == 0


def test_received_copies_are_found_by_whom_they_came_from_and_by_words(
    can_node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path
) -> None:
    """Issue 14 #8: the `received_from` filter (a node id or the releasing party) and the
    words of a received copy's title, as the reader's listing sees them."""
    from cix.node.search import DocumentQuery, words_of

    token, path = kor.transmission(can_node, kor_label(clock.now), DATA, tmp_path)
    reply = can_node.exchange.inbox.receive(token, url=DOCUMENTS_PATH, body=path)
    doc_id = _answer(kor, reply.token)["receipt"]["registered_as"]  # type: ignore[index]
    with can_node.db.read() as session:
        row = session.get(Document, doc_id)
        assert row is not None
        title = row.title
    reader = actor(can_node, "reader")

    def listed(**narrowed: object) -> list[str]:
        query = DocumentQuery(**narrowed)  # type: ignore[arg-type]
        page = can_node.documents.list(reader, limit=10, narrowed=query)
        return [d.id for d in page.items]

    assert listed(received_from="cix-kor") == [doc_id]
    assert listed(received_from="KOR") == [doc_id]
    assert listed(received_from="cix-deu") == []
    assert listed(words=words_of(title.upper())) == [doc_id]
    assert listed(originator="KOR", classification="군사Ⅱ급비밀") == [doc_id]
    assert listed(originator="KOR", classification="SECRET") == [doc_id]  # its equivalent
