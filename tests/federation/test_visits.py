"""Requests for visit between two nodes in-process (KOR visits CAN), through the real
outbox, delivery and inbox: drafted, sent, approved with conditions (the grant), denied,
revoked, expired; the agreement's rules (lead time in CAN's working days over a weekend and
a public holiday, emergency, maximum days), roles, and attacks on the host's answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cix.errors import InputError
from cix.federation import new_message_id, sign_message
from cix.federation.visit import (
    ANSWER_TYPE,
    VisitKind,
    answer_of,
    read_answer,
    request_from_json,
    sign_answer,
)
from cix.keys import generate_signing
from cix.node.errors import Conflict, NotFound, RoleRequired
from cix.node.exchange.transport import MESSAGES_PATH
from cix.store.models import OutboxItem, VisitRow
from tests.federation.visit_nodes import VISITOR, Pair, make_pair

# Thu 12 Mar 2026, 11:00 in Ottawa. CAN's 20 working days after it skip three weekends
# and Good Friday (3 Apr) and Easter Monday (6 Apr): the earliest first day is Tue 14 Apr;
# without the holidays it would be Thu 9 Apr.
SENT = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)
EARLIEST = date(2026, 4, 14)


@pytest.fixture
def two(tmp_path: Path) -> Iterator[Pair]:
    yield from make_pair(tmp_path)


def sent_visit(two: Pair, first: date = EARLIEST, **over: object) -> str:
    """KOR's FSO drafts, KOR's NSA officer sends at SENT, delivered to CAN; the visit id."""
    two.clock.now = SENT
    visit = two.draft(first, **over)  # type: ignore[arg-type]
    two.kor.visits.send(two.actor(two.kor, "nsa"), visit.id)
    two.deliver()
    return visit.id


def test_visit_is_requested_approved_with_conditions_and_both_sides_hold_it(two: Pair) -> None:
    visit = sent_visit(two)
    host = two.can.visits.show(two.actor(two.can, "nsa"), visit)
    assert (host.side, host.state, host.facility, host.highest_level) == (
        "host",
        "sent",
        "Halifax Shipyard",
        "S",
    )
    assert host.request is not None
    assert host.request["visitor"]["passport_number"] == "M12345678"
    assert host.request["confirmed_by"] == "nsa"

    two.can.visits.approve(two.actor(two.can, "nsa"), visit, conditions="escorted at all times")
    two.deliver()

    at_kor = two.kor.visits.show(two.actor(two.kor, "nsa"), visit)
    at_can = two.can.visits.show(two.actor(two.can, "nsa"), visit)
    assert at_kor.state == at_can.state == "approved"
    assert at_kor.conditions == "escorted at all times"
    # the requester keeps the host's answer, signed by the host's node
    assert at_kor.answer == at_can.answer
    assert at_kor.answer is not None
    assert two.can.keys is not None
    answer = read_answer(at_kor.answer, host_key=two.can.keys.verify_key)
    assert (answer.decision, answer.first_day, answer.facility) == (
        "approved",
        EARLIEST,
        "Halifax Shipyard",
    )
    assert [h["step"] for h in at_kor.history or []] == ["draft", "send", "receive-approved"]
    assert [h["step"] for h in at_can.history or []] == ["receive-request", "approve"]
    # every step audited at both nodes
    assert [len(two.events(two.kor, a)) for a in ("draft", "send", "receive-approved")] == [1] * 3
    assert [len(two.events(two.can, a)) for a in ("receive-request", "approve")] == [1, 1]


def test_no_personal_data_in_either_audit_log(two: Pair) -> None:
    visit = sent_visit(two)
    two.can.visits.approve(two.actor(two.can, "nsa"), visit)
    two.deliver()
    for node in (two.kor, two.can):
        logged = json.dumps([e.details for e in node.audit.events], default=str)  # type: ignore[attr-defined]
        for value in ("Kim Min-jun", "M12345678", "1985-04-12", "Geoje"):
            assert value not in logged


def test_host_revokes_an_approved_visit_and_the_requester_sees_it(two: Pair) -> None:
    visit = sent_visit(two)
    nsa = two.actor(two.can, "nsa")
    two.can.visits.approve(nsa, visit)
    two.deliver()
    two.can.visits.revoke(nsa, visit, reason="facility closed")
    two.deliver()
    assert two.kor.visits.show(two.actor(two.kor, "nsa"), visit).state == "revoked"
    assert two.can.visits.show(nsa, visit).state == "revoked"
    with pytest.raises(Conflict):
        two.can.visits.revoke(nsa, visit)


def test_denied_visit_cannot_then_be_approved(two: Pair) -> None:
    visit = sent_visit(two)
    nsa = two.actor(two.can, "nsa")
    two.can.visits.deny(nsa, visit, reason="no host availability")
    two.deliver()
    assert two.kor.visits.show(two.actor(two.kor, "nsa"), visit).state == "denied"
    with pytest.raises(Conflict):
        two.can.visits.approve(nsa, visit)


def test_approved_visit_expires_after_its_last_day_in_the_hosts_calendar(two: Pair) -> None:
    visit = sent_visit(two)
    two.can.visits.approve(two.actor(two.can, "nsa"), visit)
    two.deliver()
    # last day Sat 18 Apr; 23:30 that day in Ottawa is already the 19th in UTC
    two.clock.now = datetime(2026, 4, 19, 3, 30, tzinfo=UTC)
    assert two.can.visits.show(two.actor(two.can, "nsa"), visit).state == "approved"
    two.clock.now = datetime(2026, 4, 19, 4, 30, tzinfo=UTC)
    assert two.can.visits.show(two.actor(two.can, "nsa"), visit).state == "expired"
    assert [v.id for v in two.kor.visits.list(two.actor(two.kor, "nsa"), state="expired")] == [
        visit
    ]


def test_approval_after_the_visits_last_day_is_refused(two: Pair) -> None:
    """A grant for days already past would be a grant for nothing (review finding)."""
    visit = sent_visit(two)
    two.clock.now = datetime(2026, 4, 19, 4, 30, tzinfo=UTC)  # past the last day, in Toronto
    with pytest.raises(Conflict, match="has passed"):
        two.can.visits.approve(two.actor(two.can, "nsa"), visit)
    assert two.can.visits.show(two.actor(two.can, "nsa"), visit).state == "sent"


def test_visit_inside_the_lead_time_over_a_weekend_and_holidays_is_refused(two: Pair) -> None:
    two.clock.now = SENT
    visit = two.draft(EARLIEST - timedelta(days=1))  # Mon 13 Apr: 19 working days
    with pytest.raises(InputError, match=r"visit_lead_working_days of kor-can.*2026-04-14"):
        two.kor.visits.send(two.actor(two.kor, "nsa"), visit.id)
    assert two.kor.visits.show(two.actor(two.kor, "nsa"), visit.id).state == "drafted"
    assert [e.reasons for e in two.events(two.kor, "send", "deny")] == [("visit-inside-lead-time",)]
    with two.kor.db.read() as session:
        assert session.scalars(select(OutboxItem)).all() == []


def test_emergency_visit_inside_the_lead_time_is_allowed(two: Pair) -> None:
    visit = sent_visit(two, date(2026, 3, 13), kind=VisitKind.EMERGENCY)
    assert two.can.visits.show(two.actor(two.can, "nsa"), visit).kind == "emergency"


def test_visit_longer_than_the_agreement_allows_is_refused(two: Pair) -> None:
    two.clock.now = SENT
    with pytest.raises(InputError, match=r"at most 30 days \(one_time_visit_max_days"):
        two.draft(EARLIEST, days=31)
    recurring = two.draft(EARLIEST, days=200, kind=VisitKind.RECURRING)
    assert recurring.kind == "recurring"
    with pytest.raises(InputError, match=r"at most 365 days \(recurring_visit_max_days"):
        two.draft(EARLIEST, days=366, kind=VisitKind.RECURRING)


def test_visitor_cleared_below_the_level_to_be_disclosed_is_refused(two: Pair) -> None:
    two.clock.now = SENT
    with pytest.raises(InputError, match="visit-clearance-below-level"):
        two.draft(EARLIEST, visitor={**VISITOR, "clearance_level": "III"})


def test_bad_passport_number_is_refused_without_echoing_it(two: Pair) -> None:
    two.clock.now = SENT
    with pytest.raises(InputError, match="passport_number") as caught:
        two.draft(EARLIEST, visitor={**VISITOR, "passport_number": "no spaces!"})
    assert "no spaces!" not in str(caught.value)


def test_an_fso_cannot_send_and_only_the_hosts_nsa_officer_answers(two: Pair) -> None:
    two.clock.now = SENT
    visit = two.draft(EARLIEST)
    with pytest.raises(RoleRequired):
        two.kor.visits.send(two.actor(two.kor, "fso"), visit.id)
    two.kor.visits.send(two.actor(two.kor, "nsa"), visit.id)
    two.deliver()
    with pytest.raises(RoleRequired):
        two.can.visits.approve(two.actor(two.can, "reader"), visit.id)
    assert two.events(two.can, "approve", "deny")[0].reasons == ("role-required:nsa-officer",)
    assert two.can.visits.show(two.actor(two.can, "nsa"), visit.id).state == "sent"


def test_request_arriving_after_the_lead_time_has_passed_is_refused_by_the_host(
    two: Pair,
) -> None:
    two.clock.now = SENT
    visit = two.draft(EARLIEST)
    two.kor.visits.send(two.actor(two.kor, "nsa"), visit.id)
    two.wire.down = True
    two.deliver()
    two.wire.down = False
    two.clock.now = SENT + timedelta(days=1)  # Friday 13th: now 19 working days
    two.deliver()
    with two.can.db.read() as session:
        assert session.get(VisitRow, visit.id) is None
    refused = [e for e in two.can.audit.events if e.decision == "deny"]  # type: ignore[attr-defined]
    assert ("visit-inside-lead-time",) in [e.reasons for e in refused]


def test_request_is_delivered_exactly_once_through_a_peer_outage(two: Pair) -> None:
    two.clock.now = SENT
    visit = two.draft(EARLIEST)
    two.kor.visits.send(two.actor(two.kor, "nsa"), visit.id)
    two.wire.down = True
    two.deliver()
    two.clock.now += timedelta(minutes=5)
    two.deliver()
    assert two.wire.attempts  # tried, and failed
    two.wire.down = False
    two.wire.lose_answers = 1  # it arrives, CAN commits, the answer is lost: KOR retries
    two.clock.now += timedelta(minutes=30)
    two.deliver()
    two.clock.now += timedelta(hours=1)
    two.deliver()
    with two.can.db.read() as session:
        assert [r.id for r in session.scalars(select(VisitRow))] == [visit.id]
    assert len(two.events(two.can, "receive-request")) == 1
    assert two.wire.lose_answers == 0  # the lost answer happened, and KOR sent again
    assert len(two.wire.sent) >= 2
    with two.kor.db.read() as session:
        (item,) = session.scalars(select(OutboxItem).where(OutboxItem.kind == "visit-request"))
        assert item.state == "delivered"


def _answer_message(two: Pair, visit: str, token: str) -> str:
    assert two.can.keys is not None
    return sign_message(
        two.can.keys.signing,
        sender=two.can.settings.node_id,
        audience=two.kor.settings.node_id,
        url=MESSAGES_PATH,
        agreement="kor-can",
        kind="visit-answer",
        body={"type": ANSWER_TYPE, "visit_id": visit, "answer": token},
        message_id=new_message_id(),
        issued_at=two.clock(),
    )


def test_host_answer_forged_under_another_key_is_refused(two: Pair) -> None:
    visit = sent_visit(two)
    with two.kor.db.read() as session:
        row = session.get(VisitRow, visit)
        assert row is not None
        request = request_from_json(row.request)
    forged = answer_of(
        request, decision="approved", host_node="cix-can", conditions=None, issued_at=two.clock()
    )
    token = sign_answer(forged, generate_signing())
    reply = two.kor.exchange.inbox.receive(_answer_message(two, visit, token), url=MESSAGES_PATH)
    assert reply.status == 422
    assert two.kor.visits.show(two.actor(two.kor, "nsa"), visit).state == "sent"
    refused = [e for e in two.kor.audit.events if e.decision == "deny"]  # type: ignore[attr-defined]
    assert ("visit-answer-signature-invalid",) in [e.reasons for e in refused]


def test_host_approval_replayed_for_another_visit_is_refused(two: Pair) -> None:
    first = sent_visit(two)
    second = sent_visit(two, EARLIEST + timedelta(days=7))
    two.can.visits.approve(two.actor(two.can, "nsa"), first)
    two.deliver()
    approval = two.kor.visits.show(two.actor(two.kor, "nsa"), first).answer
    assert approval is not None
    reply = two.kor.exchange.inbox.receive(
        _answer_message(two, second, approval), url=MESSAGES_PATH
    )
    assert reply.status == 422
    assert two.kor.visits.show(two.actor(two.kor, "nsa"), second).state == "sent"


def test_host_approval_replayed_after_revocation_does_not_restore_the_visit(two: Pair) -> None:
    visit = sent_visit(two)
    nsa = two.actor(two.can, "nsa")
    two.can.visits.approve(nsa, visit)
    two.deliver()
    approval = two.kor.visits.show(two.actor(two.kor, "nsa"), visit).answer
    assert approval is not None
    two.can.visits.revoke(nsa, visit)
    two.deliver()
    reply = two.kor.exchange.inbox.receive(_answer_message(two, visit, approval), url=MESSAGES_PATH)
    assert reply.status < 500
    assert two.kor.visits.show(two.actor(two.kor, "nsa"), visit).state == "revoked"


def _request_message(two: Pair, body: dict[str, object]) -> str:
    assert two.kor.keys is not None
    return sign_message(
        two.kor.keys.signing,
        sender=two.kor.settings.node_id,
        audience=two.can.settings.node_id,
        url=MESSAGES_PATH,
        agreement="kor-can",
        kind="visit-request",
        body=body,
        message_id=new_message_id(),
        issued_at=two.clock(),
    )


def _sent_body(two: Pair, visit: str) -> dict[str, object]:
    with two.kor.db.read() as session:
        row = session.get(VisitRow, visit)
        assert row is not None
        return dict(row.request)


def test_request_claiming_another_requester_node_is_refused_by_the_host(two: Pair) -> None:
    visit = sent_visit(two)
    body = {**_sent_body(two, visit), "visit_id": "spoofed-1", "requester_node": "cix-deu"}
    reply = two.can.exchange.inbox.receive(_request_message(two, body), url=MESSAGES_PATH)
    assert reply.status == 403
    with two.can.db.read() as session:
        assert session.get(VisitRow, "spoofed-1") is None


def test_request_replayed_under_its_id_with_other_days_is_refused_by_the_host(
    two: Pair,
) -> None:
    visit = sent_visit(two)
    body = {**_sent_body(two, visit), "last_day": (EARLIEST + timedelta(days=20)).isoformat()}
    reply = two.can.exchange.inbox.receive(_request_message(two, body), url=MESSAGES_PATH)
    assert reply.status == 409
    assert two.can.visits.show(two.actor(two.can, "nsa"), visit).last_day == "2026-04-18"


def test_request_with_an_unknown_field_is_refused_without_storing_it(two: Pair) -> None:
    visit = sent_visit(two)
    body = {**_sent_body(two, visit), "visit_id": "extra-1", "badge": "all areas"}
    reply = two.can.exchange.inbox.receive(_request_message(two, body), url=MESSAGES_PATH)
    assert reply.status == 400
    with two.can.db.read() as session:
        assert session.get(VisitRow, "extra-1") is None


def test_host_cannot_answer_its_own_side_request_as_requester(two: Pair) -> None:
    # KOR's NSA officer cannot approve KOR's own request: approving is the host's
    two.clock.now = SENT
    visit = two.draft(EARLIEST)
    two.kor.visits.send(two.actor(two.kor, "nsa"), visit.id)
    with pytest.raises(NotFound):
        two.kor.visits.approve(two.actor(two.kor, "nsa"), visit.id)


def test_queues_show_what_waits_on_whom_and_what_is_overdue(two: Pair) -> None:
    two.clock.now = SENT
    draft = two.draft(EARLIEST)
    kor_nsa, can_nsa = two.actor(two.kor, "nsa"), two.actor(two.can, "nsa")
    assert [v.id for v in two.kor.visits.list(kor_nsa, waiting_on="requester")] == [draft.id]
    two.kor.visits.send(kor_nsa, draft.id)
    two.deliver()
    assert two.kor.visits.list(kor_nsa, waiting_on="requester") == []
    (waiting,) = two.can.visits.list(can_nsa, waiting_on="host")
    assert (waiting.id, waiting.overdue) == (draft.id, False)
    two.clock.now = datetime(2026, 4, 14, 13, 0, tzinfo=UTC)  # its first day, unanswered
    (late,) = two.can.visits.list(can_nsa, waiting_on="host")
    assert late.overdue
    two.can.visits.approve(can_nsa, draft.id)
    assert two.can.visits.list(can_nsa, waiting_on="host") == []
