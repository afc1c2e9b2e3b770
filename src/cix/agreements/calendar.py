"""Working days in a party's calendar: its time zone, its weekend, its public holidays.

A request for visit must reach the host at least the agreement's `visit_lead_working_days`
working days ahead, counted in the *host* party's calendar (its holidays, its day): the
instant a request is sent is placed on the host's calendar day, the days strictly after it
and strictly before the visit's first day are counted, and Saturdays, Sundays and the host's
public holidays are skipped. Pure: no clock, no database (the instant is a parameter).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cix.labels.errors import LabelError

#: Monday is 0: Saturday and Sunday are not working days (as in every bundled agreement).
_WEEKEND = frozenset({5, 6})


@dataclass(frozen=True)
class PartyCalendar:
    """One party's calendar: its IANA `time_zone` and its public `holidays` (dates)."""

    time_zone: str
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise LabelError(f"time_zone: {self.time_zone!r} is not an IANA time zone") from None
        object.__setattr__(self, "holidays", frozenset(self.holidays))

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return ZoneInfo(self.time_zone)

    def day_of(self, instant: datetime) -> date:
        """The calendar day `instant` (timezone-aware) falls on in this party's zone."""
        if instant.tzinfo is None:
            raise ValueError("a naive datetime has no day in any calendar")
        return instant.astimezone(self.zone).date()

    def is_working_day(self, day: date) -> bool:
        """True unless `day` is a Saturday, a Sunday or a public holiday of this party."""
        return day.weekday() not in _WEEKEND and day not in self.holidays


def calendar_of(time_zone: str, holidays: Iterable[date]) -> PartyCalendar:
    """A checked `PartyCalendar` (raises `LabelError` naming a bad time zone)."""
    return PartyCalendar(time_zone=time_zone, holidays=frozenset(holidays))


def working_days_between(calendar: PartyCalendar, sent_at: datetime, first_day: date) -> int:
    """The working days of `calendar` strictly after the day `sent_at` falls on there and
    strictly before `first_day` (0 if `first_day` is not later)."""
    day = calendar.day_of(sent_at) + timedelta(days=1)
    count = 0
    while day < first_day:
        count += calendar.is_working_day(day)
        day += timedelta(days=1)
    return count


def earliest_first_day(calendar: PartyCalendar, sent_at: datetime, lead: int) -> date:
    """The first day a visit may start when requested at `sent_at` with a lead time of
    `lead` working days: the day after the `lead`-th working day following the sent day."""
    if lead < 0:
        raise ValueError("a lead time is not negative")
    day = calendar.day_of(sent_at)
    found = 0
    while found < lead:
        day += timedelta(days=1)
        found += calendar.is_working_day(day)
    return day + timedelta(days=1)


def in_time(calendar: PartyCalendar, sent_at: datetime, first_day: date, lead: int) -> bool:
    """True if a request sent at `sent_at` for a visit starting `first_day` leaves at
    least `lead` working days of `calendar` between them."""
    return working_days_between(calendar, sent_at, first_day) >= lead
