"""Consent routes through the in-process client: a request from a received copy, the list,
one consent, roles and bad input answered as problems."""

from __future__ import annotations

import pytest

from cix.federation.message import new_message_id
from cix.node.auditing import MemoryAuditSink
from cix.node.register import new_id
from cix.node.service import Node
from cix.store.models import OutboxItem, ReceivedCopy
from tests.federation.consent_nodes import document_row, outbox_enqueue
from tests.federation.consent_support import make_test_node
from tests.node_support import SQLITE_ONLY, ApiClient, assert_problem, events

KOR = make_test_node("KOR", ("kor-can",))


@pytest.fixture
def copy_id(api: ApiClient, node: Node) -> str:
    """CAN holds a copy of KOR's document; KOR's node is pinned; the outbox is the test's."""
    node.consents.enqueue = outbox_enqueue
    node.peers.add(node.registry.actor_for("root"), KOR.document, agreement="kor-can")
    now = node.clock()
    local, origin = new_id(now), new_id(now)
    with node.db.write() as session:
        session.add(document_row(local, originator="KOR", now=now, title="hull"))
        session.flush()
        session.add(
            ReceivedCopy(
                document_id=local,
                message_id=new_message_id(),
                originator_party="KOR",
                originator_document_id=origin,
                copy_number=1,
                received_from="cix-kor",
                releasing_party="KOR",
                agreement="kor-can",
                purpose="defence-procurement",
                consent=None,
                received_at=now,
            )
        )
    return local


def body(copy_id: str, **extra: object) -> dict[str, object]:
    return {
        "document": copy_id,
        "to_party": "DEU",
        "purpose": "defence-procurement",
        "reason": "TKMS builds the hull",
        **extra,
    }


@SQLITE_ONLY
def test_request_201_queues_the_message_and_is_listed(
    api: ApiClient, node: Node, audit: MemoryAuditSink, copy_id: str
) -> None:
    response = api.as_("nsa").post("/api/v1/consents", json=body(copy_id))
    assert response.status_code == 201, response.text
    made = response.json()
    assert (made["side"], made["state"], made["originator_node"]) == (
        "requester",
        "requested",
        "cix-kor",
    )
    with node.db.read() as session:
        (item,) = session.query(OutboxItem).all()
        assert (item.kind, item.peer, item.body["consent_id"]) == (
            "consent-request",
            "cix-kor",
            made["id"],
        )
    listed = api.get("/api/v1/consents", params={"state": "requested"}).json()["items"]
    assert [c["id"] for c in listed] == [made["id"]]
    assert api.get("/api/v1/consents", params={"state": "approved"}).json()["items"] == []
    shown = api.get(f"/api/v1/consents/{made['id']}").json()
    assert shown["reason"] == "TKMS builds the hull"
    (event,) = [e for e in events(audit, "consent") if e.action == "request"]
    assert (event.actor, event.decision) == ("nsa", "permit")


@SQLITE_ONLY
def test_reader_may_not_request_and_is_audited(
    api: ApiClient, audit: MemoryAuditSink, copy_id: str
) -> None:
    assert_problem(api.as_("alice").post("/api/v1/consents", json=body(copy_id)), 403)
    (event,) = [e for e in events(audit, "consent") if e.action == "request"]
    assert event.decision == "deny"


@SQLITE_ONLY
@pytest.mark.parametrize(
    "bad",
    [
        {"to_party": "deu"},
        {"purpose": "Not A Purpose"},
        {"act": "steal"},
        {"reason": ""},
        {"extra": 1},
    ],
)
def test_bad_request_body_is_422_and_nothing_queued(
    api: ApiClient, node: Node, copy_id: str, bad: dict[str, object]
) -> None:
    assert_problem(api.as_("nsa").post("/api/v1/consents", json=body(copy_id, **bad)), 422)
    with node.db.read() as session:
        assert session.query(OutboxItem).count() == 0


@SQLITE_ONLY
def test_request_about_a_document_not_received_is_404(api: ApiClient, copy_id: str) -> None:
    assert_problem(api.as_("nsa").post("/api/v1/consents", json=body("0" * 32)), 404)


@SQLITE_ONLY
def test_approving_a_request_this_node_made_is_404(api: ApiClient, copy_id: str) -> None:
    made = api.as_("nsa").post("/api/v1/consents", json=body(copy_id)).json()
    assert_problem(api.post(f"/api/v1/consents/{made['id']}/approve", json={}), 404)
    assert_problem(api.get("/api/v1/consents/nope"), 404)
