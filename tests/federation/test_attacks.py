"""The attacks of issue 12's "Must show", one test each, by a hostile pinned peer (the
simulator, `tests/federation/simulator.py`) against a real CAN node's federation routes
over HTTP (the in-process ASGI app): each is refused with its code, audited, and leaves
nothing stored (no inbox row, no received copy)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from sqlalchemy import func, select

from cix import envelope
from cix.agreements import bundled_registry
from cix.federation import PinnedPeer, verify_message
from cix.keys import generate_signing
from cix.labels import to_4774_xml
from cix.node.auditing import MemoryAuditSink
from cix.node.exchange.transport import DOCUMENTS_PATH, MESSAGE_HEADER, MESSAGES_PATH
from cix.node.service import Node
from cix.store.models import Document, InboxMessage, LabelHistory, ReceivedCopy
from tests.federation.cast import kor_label, seed_cast
from tests.federation.simulator import PeerSimulator
from tests.node_support import ApiClient, Clock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
DATA = b"KSS-III battery compartment layout\n" * 300


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


def stored(node: Node) -> tuple[int, int, int]:
    """(inbox messages, received copies, documents) held by `node`."""
    with node.db.read() as session:
        return (
            int(session.scalar(select(func.count()).select_from(InboxMessage)) or 0),
            int(session.scalar(select(func.count()).select_from(ReceivedCopy)) or 0),
            int(session.scalar(select(func.count()).select_from(Document)) or 0),
        )


def deliver(http: ApiClient, token: str, path: Path) -> httpx.Response:
    """POST a document and its message to the documents route, as a peer's courier does."""
    return http.post(DOCUMENTS_PATH, content=path.read_bytes(), headers={MESSAGE_HEADER: token})


def refusal(kor: PeerSimulator, response: httpx.Response, agreement: str = "kor-can") -> str:
    """The code of the node's signed refusal (an answer under `agreement`)."""
    assert kor.pinned_node is not None
    node = PinnedPeer(kor.pinned_node.identity, frozenset({agreement}))
    body = verify_message(
        response.text,
        peer=lambda sender: node if sender == node.identity.node_id else None,
        audience=kor.node_id,
        url=DOCUMENTS_PATH,
        held_agreements={agreement},
        now=kor.clock(),
        max_skew=timedelta(seconds=300),
    ).body
    assert body["status"] == response.status_code
    code = body["refused"]
    assert isinstance(code, str)
    return code


def denied(audit: MemoryAuditSink) -> list[tuple[str, ...]]:
    return [e.reasons for e in audit.events if e.type == "federation" and e.decision == "deny"]


def test_replayed_message_gets_the_same_answer_and_no_second_copy(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path
) -> None:
    token, path = kor.transmission(node, kor_label(clock.now), DATA, tmp_path)
    first = deliver(http, token, path)
    assert first.status_code == 200, first.text
    clock.advance(seconds=120)  # later, still within the skew bound
    again = deliver(http, token, path)
    assert (again.status_code, again.content) == (200, first.content)  # byte for byte
    assert stored(node) == (1, 1, 1)


def test_message_signed_by_unknown_key_is_refused(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path,
    audit: MemoryAuditSink,
) -> None:  # fmt: skip
    token, path = kor.transmission(
        node, kor_label(clock.now), DATA, tmp_path, signer=generate_signing()
    )
    response = deliver(http, token, path)
    # the signature did not verify: an unsigned problem the sender cannot take for ours
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    # a node nobody pinned, signing with its own key
    token, path = kor.transmission(
        node, kor_label(clock.now), DATA, tmp_path, signer=generate_signing(), sender="cix-usa"
    )
    assert deliver(http, token, path).status_code == 401
    assert denied(audit) == [("signature-invalid",), ("unknown-sender",)]
    assert stored(node) == (0, 0, 0)


def test_message_for_another_audience_is_refused(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path,
    audit: MemoryAuditSink,
) -> None:  # fmt: skip
    token, path = kor.transmission(node, kor_label(clock.now), DATA, tmp_path, audience="cix-deu")
    response = deliver(http, token, path)
    assert response.status_code == 403
    assert refusal(kor, response) == "wrong-audience"
    assert denied(audit) == [("wrong-audience",)]
    assert stored(node) == (0, 0, 0)


def test_message_under_agreement_the_receiver_does_not_hold_is_refused(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path,
    audit: MemoryAuditSink,
) -> None:  # fmt: skip
    token, path = kor.transmission(node, kor_label(clock.now), DATA, tmp_path, agreement="kor-usa")
    response = deliver(http, token, path)
    assert response.status_code == 403
    assert refusal(kor, response, "kor-usa") == "agreement-not-held"
    assert denied(audit) == [("agreement-not-held",)]
    assert stored(node) == (0, 0, 0)


def test_sealed_object_tampered_in_transit_is_refused(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path,
    audit: MemoryAuditSink,
) -> None:  # fmt: skip
    token, path = kor.transmission(node, kor_label(clock.now), DATA, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20  # one bit, mid-payload, after the sender signed its digest
    path.write_bytes(bytes(data))
    response = deliver(http, token, path)
    assert response.status_code == 422
    assert refusal(kor, response) == "object-digest-mismatch"
    assert denied(audit) == [("object-digest-mismatch",)]
    assert stored(node) == (0, 0, 0)
    assert list((node.blobs.root / "tmp").iterdir()) == []


def test_label_signed_by_a_key_not_of_its_originator_party_is_refused(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path,
    audit: MemoryAuditSink,
) -> None:  # fmt: skip
    # DEU's node is pinned here too: its key is trusted for DEU's labels, never for KOR's
    deu = PeerSimulator(party="DEU", node_id="cix-deu", agreements=("kor-can",), clock=clock)
    deu.pair_with(node)
    token, path = kor.transmission(
        node, kor_label(clock.now), DATA, tmp_path, label_signer=deu.signing
    )
    response = deliver(http, token, path)
    assert response.status_code == 422
    assert refusal(kor, response) == "signer-not-originator"
    assert denied(audit) == [("signer-not-originator",)]
    assert stored(node) == (0, 0, 0)


@pytest.mark.parametrize("offset", [timedelta(seconds=301), timedelta(seconds=-301)])
def test_clock_skew_beyond_the_bound_is_refused(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path,
    audit: MemoryAuditSink, offset: timedelta,
) -> None:  # fmt: skip
    assert node.settings.federation_max_skew_seconds == 300
    token, path = kor.transmission(
        node, kor_label(clock.now), DATA, tmp_path, issued_at=clock.now + offset
    )
    response = deliver(http, token, path)
    assert response.status_code == 403
    assert refusal(kor, response) == "clock-skew"  # signed: the sender retries it
    assert denied(audit) == [("clock-skew",)]
    assert stored(node) == (0, 0, 0)


def _held_copy(http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path
               ) -> tuple[str, str, Path]:  # fmt: skip
    """KOR's document delivered to CAN: (KOR's id, CAN's id of its copy, the object sent)."""
    kor_doc = "0190aa00000000001122334455667788"
    token, path = kor.transmission(node, kor_label(clock.now), DATA, tmp_path, doc_id=kor_doc)
    answer = deliver(http, token, path)
    assert answer.status_code == 200, answer.text
    assert kor.pinned_node is not None
    receipt = kor.read_answer(answer.text, url=DOCUMENTS_PATH, peer=kor.pinned_node).body
    return kor_doc, str(receipt["receipt"]["registered_as"]), path


def _notice(node: Node, kor: PeerSimulator, kor_doc: str, sent: Path, clock: Clock
            ) -> dict[str, Any]:  # fmt: skip
    """KOR's genuine classification change of its document (II to III), as a notice body."""
    lower = kor_label(clock.now, level="III")
    assert node.keys is not None
    change = envelope.relabel(
        sent.read_bytes(),
        io.BytesIO(),
        private_key=node.keys.kem,
        trusted_signers={"KOR": [kor.signing.public]},
        label_xml=to_4774_xml(lower, bundled_registry()),
        label_json=lower.to_json(),
        signer=kor.signing,
    )
    return {
        "document": kor_doc,
        "originator_party": "KOR",
        "revision": change.revision,
        "change": change.to_json(),
        "reason": "lower harm",
        "changed_at": clock.now.isoformat(),
    }


def test_classification_change_from_a_peer_not_the_originator_is_refused(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path,
    audit: MemoryAuditSink,
) -> None:  # fmt: skip
    kor_doc, copy, sent = _held_copy(http, node, kor, clock, tmp_path)
    body = _notice(node, kor, kor_doc, sent, clock)
    # DEU's node, pinned here, relays KOR's own genuine change: it is not whom the copy
    # came from, so it is told nothing is held
    deu = PeerSimulator(party="DEU", node_id="cix-deu", agreements=("kor-can",), clock=clock)
    deu.pair_with(node)
    notice = deu.message(
        kind="classification-change", body=body, audience="cix-can", url=MESSAGES_PATH
    )
    answer = http.post(MESSAGES_PATH, content=notice.encode())
    assert answer.status_code == 404
    assert deu.pinned_node is not None
    refused = deu.read_answer(answer.text, url=MESSAGES_PATH, peer=deu.pinned_node).body
    assert refused["refused"] == "copy-not-held"
    assert denied(audit) == [("copy-not-held",)]
    with node.db.read() as session:
        row = session.get(Document, copy)
        assert row is not None
        assert row.classification == "II"
        assert session.scalar(select(func.count()).select_from(LabelHistory)) == 0
    # the same notice from the originator re-marks the copy (the body was good)
    genuine = kor.message(
        kind="classification-change", body=body, audience="cix-can", url=MESSAGES_PATH
    )
    assert http.post(MESSAGES_PATH, content=genuine.encode()).status_code == 200
    with node.db.read() as session:
        row = session.get(Document, copy)
        assert row is not None
        assert row.classification == "III"


def test_reclassification_of_a_received_copy_by_its_holder_is_refused(
    http: ApiClient, node: Node, kor: PeerSimulator, clock: Clock, tmp_path: Path,
    audit: MemoryAuditSink,
) -> None:  # fmt: skip
    _, copy, _ = _held_copy(http, node, kor, clock, tmp_path)
    answer = http.as_("officer").post(
        f"/api/v1/documents/{copy}/reclassify",
        json={"label": json.dumps(kor_label(clock.now, level="III").to_json()), "reason": "x"},
    )
    assert answer.status_code == 403, answer.text
    refused = [e for e in audit.events if e.action == "reclassify" and e.decision == "deny"]
    assert [e.reasons for e in refused] == [("not-originator",)]
    with node.db.read() as session:
        row = session.get(Document, copy)
        assert row is not None
        assert row.classification == "II"
        assert session.scalar(select(func.count()).select_from(LabelHistory)) == 0
