"""The working-day arithmetic of a visit's lead time (cix.agreements.calendar): properties
over random instants, lead times, holidays and both parties' time zones, and the bundled
calendars' worked examples (a weekend, a public holiday)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cix.agreements import bundled
from cix.agreements.calendar import (
    PartyCalendar,
    calendar_of,
    earliest_first_day,
    in_time,
    working_days_between,
)
from cix.agreements.loading import loads_agreement
from cix.errors import InputError

ZONES = ["Asia/Seoul", "America/Toronto", "Europe/Berlin", "UTC", "Pacific/Kiritimati"]
instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC)
)
days = st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 3, 1))
calendars = st.builds(
    calendar_of,
    st.sampled_from(ZONES),
    st.frozensets(st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 3, 1)), max_size=40),
)
leads = st.integers(min_value=0, max_value=40)


@given(calendars, instants, leads)
def test_earliest_first_day_leaves_exactly_the_lead(
    cal: PartyCalendar, sent: datetime, lead: int
) -> None:
    first = earliest_first_day(cal, sent, lead)
    assert working_days_between(cal, sent, first) == lead
    assert in_time(cal, sent, first, lead)
    assert not in_time(cal, sent, first - timedelta(days=1), lead) or lead == 0


@given(calendars, instants, days, days)
def test_counting_is_monotone_in_the_first_day(
    cal: PartyCalendar, sent: datetime, a: date, b: date
) -> None:
    early, late = sorted((a, b))
    assert working_days_between(cal, sent, early) <= working_days_between(cal, sent, late)


@given(calendars, instants, instants, days)
def test_counting_is_monotone_in_the_sending_instant(
    cal: PartyCalendar, a: datetime, b: datetime, first: date
) -> None:
    early, late = sorted((a, b))
    assert working_days_between(cal, early, first) >= working_days_between(cal, late, first)


@given(calendars, instants, days)
def test_weekends_and_holidays_are_never_counted(
    cal: PartyCalendar, sent: datetime, first: date
) -> None:
    start = cal.day_of(sent) + timedelta(days=1)
    span = [start + timedelta(days=i) for i in range(max(0, (first - start).days))]
    expected = sum(1 for d in span if d.weekday() < 5 and d not in cal.holidays)
    assert working_days_between(cal, sent, first) == expected


@given(instants, days, st.sampled_from(ZONES), st.sampled_from(ZONES))
def test_the_day_sent_is_the_hosts_day(sent: datetime, first: date, host: str, other: str) -> None:
    # the same instant counts from the host's calendar day, whatever the requester's zone
    host_cal = calendar_of(host, ())
    via_other = sent.astimezone(calendar_of(other, ()).zone)
    assert working_days_between(host_cal, via_other, first) == working_days_between(
        host_cal, sent, first
    )


def test_friday_evening_in_ottawa_is_saturday_in_seoul() -> None:
    # Fri 2026-03-06 20:00 Toronto = Sat 2026-03-07 10:00 Seoul: for a Korean host the
    # weekend has begun, so Monday is the first day counted in both calendars, but a
    # Canadian host's sent day is Friday, for a Korean host Saturday.
    sent = datetime(2026, 3, 7, 1, 0, tzinfo=UTC)
    kor = calendar_of("Asia/Seoul", ())
    can = calendar_of("America/Toronto", ())
    assert kor.day_of(sent) == date(2026, 3, 7)
    assert can.day_of(sent) == date(2026, 3, 6)
    assert working_days_between(kor, sent, date(2026, 3, 10)) == 1  # Monday 9th
    assert working_days_between(can, sent, date(2026, 3, 10)) == 1


def test_bundled_canadian_calendar_skips_a_weekend_and_a_public_holiday() -> None:
    can = bundled("kor-can").calendar("CAN")
    sent = datetime(2026, 6, 26, 15, 0, tzinfo=UTC)  # Friday in Ottawa
    # Mon 29, Tue 30, (Wed 1 July: Canada Day), Thu 2, Fri 3: four working days
    assert working_days_between(can, sent, date(2026, 7, 4)) == 4
    assert earliest_first_day(can, sent, 20) == date(2026, 7, 28)


def test_a_calendar_with_an_unknown_time_zone_is_refused() -> None:
    text = bundled_text().replace('time_zone = "America/Toronto"', 'time_zone = "Mars/Olympus"')
    with pytest.raises(InputError, match=r"calendars\.CAN: time_zone: 'Mars/Olympus'"):
        loads_agreement(text)


def test_a_holiday_that_is_not_a_date_is_refused() -> None:
    text = bundled_text().replace("2026-07-01,", '"July 1st",', 1)
    with pytest.raises(InputError, match=r"calendars\.CAN\.holidays\[\d+\]: expected a date"):
        loads_agreement(text)


def bundled_text() -> str:
    from importlib import resources

    return resources.files("cix.agreements").joinpath("bundled/kor-can.toml").read_text("utf-8")
