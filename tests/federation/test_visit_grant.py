"""The grant an approved visit gives (cix.federation.visit.grant_covers): its days, its
facility, its level (and no further), and nothing for a denial or a revocation."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cix.agreements import bundled
from cix.federation.visit import VisitKind, Visitor, VisitRequest, answer_of, grant_covers

KOR_CAN = bundled("kor-can")
REQUEST = VisitRequest(
    visit_id="v1",
    agreement="kor-can",
    kind=VisitKind.ONE_TIME,
    requester_node="cix-kor",
    requester_party="KOR",
    host_party="CAN",
    visitor=Visitor(
        name="Kim",
        date_of_birth=date(1985, 4, 12),
        place_of_birth="Geoje",
        nationality="KOR",
        passport_number="M12345678",
        job_title="Engineer",
        organisation="Hanwha Ocean",
        clearance_level="II",
        clearance_valid_until=date(2027, 1, 1),
    ),
    contract="CPSP",
    first_day=date(2026, 4, 14),
    last_day=date(2026, 4, 18),
    purpose="Design review",
    host_contact="Tremblay",
    facility="Halifax Shipyard",
    highest_level="C",
    drafted_by="fso",
    confirmed_by="nsa",
)
NOW = datetime(2026, 3, 12, tzinfo=UTC)


def test_approval_covers_its_days_facility_and_levels_up_to_its_own() -> None:
    grant = answer_of(
        REQUEST, decision="approved", host_node="cix-can", conditions=None, issued_at=NOW
    )

    def covers(day: date, facility: str, level: str) -> bool:
        return grant_covers(grant, KOR_CAN, day=day, facility=facility, level=level)

    assert covers(date(2026, 4, 14), "Halifax Shipyard", "C")
    assert covers(date(2026, 4, 18), "Halifax Shipyard", "C")
    assert not covers(date(2026, 4, 13), "Halifax Shipyard", "C")
    assert not covers(date(2026, 4, 19), "Halifax Shipyard", "C")
    assert not covers(date(2026, 4, 15), "Esquimalt", "C")
    assert not covers(date(2026, 4, 15), "Halifax Shipyard", "S")


def test_denial_and_revocation_cover_nothing() -> None:
    for decision in ("denied", "revoked"):
        answer = answer_of(
            REQUEST,
            decision=decision,
            host_node="cix-can",
            conditions=None,
            issued_at=NOW,
        )
        assert not grant_covers(
            answer, KOR_CAN, day=date(2026, 4, 15), facility="Halifax Shipyard", level="C"
        )


def test_the_answer_names_the_digest_of_the_exact_request() -> None:
    other = REQUEST.model_copy(update={"last_day": date(2026, 4, 17)})
    a = answer_of(REQUEST, decision="approved", host_node="cix-can", conditions=None, issued_at=NOW)
    b = answer_of(other, decision="approved", host_node="cix-can", conditions=None, issued_at=NOW)
    assert a.request_digest == REQUEST.digest()
    assert a.request_digest != b.request_digest
