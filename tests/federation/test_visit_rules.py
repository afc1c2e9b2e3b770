"""The agreement's rules on a request for visit (cix.federation.visit.check_request), as
properties: a non-emergency visit passes the lead time exactly when the host's calendar
leaves the agreement's working days; an emergency needs only a first day not yet past; no
kind passes its maximum days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cix.agreements import bundled
from cix.agreements.calendar import working_days_between
from cix.federation.visit import (
    VisitKind,
    VisitRefusal,
    VisitRefused,
    VisitRequest,
    check_request,
)
from tests.federation.test_visit_grant import REQUEST

KOR_CAN = bundled("kor-can")
CAN = KOR_CAN.calendar("CAN")
sent_at = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 6, 1), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-3, max_value=60)
lengths = st.integers(min_value=1, max_value=400)


CLEARED = REQUEST.visitor.model_copy(update={"clearance_valid_until": date(2029, 1, 1)})


def visit(kind: VisitKind, first: date, days: int = 3) -> VisitRequest:
    return REQUEST.model_copy(
        update={
            "kind": kind,
            "first_day": first,
            "last_day": first + timedelta(days=days - 1),
            "visitor": CLEARED,
        }
    )


@given(sent_at, offsets)
def test_lead_time_passes_exactly_when_the_hosts_working_days_suffice(
    sent: datetime, offset: int
) -> None:
    first = CAN.day_of(sent) + timedelta(days=offset)
    request = visit(VisitKind.ONE_TIME, first)
    enough = working_days_between(CAN, sent, first) >= KOR_CAN.visit_lead_working_days
    if enough:
        check_request(request, KOR_CAN, sent_at=sent)
    else:
        with pytest.raises(VisitRefused) as refused:
            check_request(request, KOR_CAN, sent_at=sent)
        assert refused.value.reason is VisitRefusal.INSIDE_LEAD_TIME


@given(sent_at, offsets)
def test_emergency_needs_only_a_first_day_not_yet_past(sent: datetime, offset: int) -> None:
    first = CAN.day_of(sent) + timedelta(days=offset)
    request = visit(VisitKind.EMERGENCY, first)
    if offset < 0:
        with pytest.raises(VisitRefused):
            check_request(request, KOR_CAN, sent_at=sent)
    else:
        check_request(request, KOR_CAN, sent_at=sent)


@given(st.sampled_from(list(VisitKind)), lengths)
def test_no_kind_passes_its_maximum_days(kind: VisitKind, days: int) -> None:
    longest = (
        KOR_CAN.recurring_visit_max_days
        if kind is VisitKind.RECURRING
        else KOR_CAN.one_time_visit_max_days
    )
    request = visit(kind, date(2026, 9, 1), days)
    sent = datetime(2026, 6, 1, tzinfo=UTC)
    if days <= longest:
        check_request(request, KOR_CAN, sent_at=sent)
    else:
        with pytest.raises(VisitRefused) as refused:
            check_request(request, KOR_CAN, sent_at=sent)
        assert refused.value.reason is VisitRefusal.TOO_LONG
