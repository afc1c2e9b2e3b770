"""Visit routes through the in-process client: a CAN request for visit to KOR drafted by an
FSO, sent by the NSA officer (queued for KOR's node), listed with filters, shown with its
history; roles, the lead time and bad input answered as problems, nothing changed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from cix.node.auditing import MemoryAuditSink
from cix.node.service import Node
from cix.store.models import OutboxItem, VisitRow
from tests.federation.consent_nodes import outbox_enqueue
from tests.federation.consent_support import make_test_node
from tests.node_support import SQLITE_ONLY, ApiClient, assert_problem

KOR = make_test_node("KOR", ("kor-can",))
# T0 is Sun 1 Mar 2026 (18:00 in Seoul): KOR's 20 working days after it skip Mon 2 Mar
# (the substitute holiday for 1 March) and four weekends, ending Mon 30 Mar, so the earliest
# first day is Tue 31 Mar.
FIRST = date(2026, 3, 31)


@pytest.fixture
def peered(node: Node) -> Node:
    """KOR's node pinned at this CAN node; the outbox is the test's."""
    node.visits.enqueue = outbox_enqueue
    node.peers.add(node.registry.actor_for("root"), KOR.document, agreement="kor-can")
    return node


def draft(first: Any = FIRST, **extra: Any) -> dict[str, Any]:
    return {
        "agreement": "kor-can",
        "kind": "one-time",
        "host_party": "KOR",
        "visitor": {
            "name": "Jean Tremblay",
            "date_of_birth": "1980-02-01",
            "place_of_birth": "Halifax",
            "nationality": "CAN",
            "passport_number": "AB123456",
            "job_title": "Naval architect",
            "organisation": "Irving Shipbuilding",
            "clearance_level": "S",
            "clearance_valid_until": "2027-06-30",
        },
        "contract": "CPSP",
        "first_day": first.isoformat(),
        "last_day": (first + timedelta(days=2)).isoformat(),
        "purpose": "Design review at Geoje",
        "host_contact": "Lee, DAPA",
        "facility": "Hanwha Ocean Geoje",
        "highest_level": "II",
        **extra,
    }


@SQLITE_ONLY
def test_draft_send_list_show(api: ApiClient, peered: Node) -> None:
    made = api.as_("fso").post("/api/v1/visits", json=draft())
    assert made.status_code == 201, made.text
    visit = made.json()
    assert (visit["state"], visit["host_node"]) == ("drafted", "cix-kor")
    assert_problem(api.as_("fso").post(f"/api/v1/visits/{visit['id']}/send"), 403)
    sent = api.as_("nsa").post(f"/api/v1/visits/{visit['id']}/send")
    assert sent.status_code == 200, sent.text
    assert sent.json()["state"] == "sent"
    with peered.db.read() as session:
        (item,) = session.query(OutboxItem).all()
        assert (item.kind, item.peer) == ("visit-request", "cix-kor")
    listed = api.as_("nsa").get("/api/v1/visits", params={"state": "sent", "party": "KOR"})
    assert [v["id"] for v in listed.json()["items"]] == [visit["id"]]
    assert api.as_("nsa").get("/api/v1/visits", params={"side": "host"}).json()["items"] == []
    shown = api.as_("nsa").get(f"/api/v1/visits/{visit['id']}").json()
    assert [h["step"] for h in shown["history"]] == ["draft", "send"]


@SQLITE_ONLY
def test_send_inside_the_lead_time_is_a_problem_naming_the_rule(
    api: ApiClient, peered: Node, audit: MemoryAuditSink
) -> None:
    visit = api.as_("fso").post("/api/v1/visits", json=draft(FIRST - timedelta(days=1))).json()
    problem = assert_problem(api.as_("nsa").post(f"/api/v1/visits/{visit['id']}/send"), 400)
    assert "visit_lead_working_days" in problem["detail"]
    with peered.db.read() as session:
        assert session.query(OutboxItem).all() == []
        row = session.get(VisitRow, visit["id"])
        assert row is not None
        assert row.state == "drafted"


@SQLITE_ONLY
def test_a_reader_cannot_draft_and_bad_fields_are_422(api: ApiClient, peered: Node) -> None:
    assert_problem(api.as_("alice").post("/api/v1/visits", json=draft()), 403)
    bad = draft()
    bad["visitor"] = {**bad["visitor"], "passport_number": "x"}
    assert_problem(api.as_("fso").post("/api/v1/visits", json=bad), 422)
    assert_problem(api.as_("fso").post("/api/v1/visits", json=draft(kind="weekly")), 422)
    with peered.db.read() as session:
        assert session.query(VisitRow).all() == []
