"""One rule for dates: a bare date is that whole day, in the node's party's time zone.

`2027-12-31` given as the end of a validity (a clearance's expiry, a briefing or membership
valid until, a consent's expiry, a listing's `until`) means *through* that day: the instant
the validity ends is the start of the next day where the node is. Given as a start
(`valid_from`, `briefed_at`, `since`) it is the start of that day. A date and time must carry
its zone. The rule is the same in the API, the command line (which sends a bare date as
typed) and the SDK.

The zone is the node's setting `time_zone`, or its party's capital when unset. It reaches
the request models through a context variable that the API sets for each request
(`in_zone`): pydantic validators cannot be handed the node any other way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from cix.errors import InputError

#: Where each party's national security authority sits, for a node without `time_zone`.
PARTY_ZONES = {"KOR": "Asia/Seoul", "CAN": "America/Toronto", "DEU": "Europe/Berlin"}

_ZONE: ContextVar[tzinfo] = ContextVar("cix_node_zone", default=UTC)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def zone_for(party: str, configured: str = "") -> tzinfo:
    """The node's zone: `configured` (an IANA name) if given, else its party's; UTC for a
    party not listed. InputError naming the setting if the name is unknown."""
    name = configured or PARTY_ZONES.get(party, "UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"time_zone: {name!r} is not an IANA time zone") from None


@contextmanager
def in_zone(zone: tzinfo) -> Iterator[None]:
    """Within the block, bare dates in request models are days in `zone`."""
    token = _ZONE.set(zone)
    try:
        yield
    finally:
        _ZONE.reset(token)


def set_zone(zone: tzinfo) -> None:
    """For the rest of the current task (one request), bare dates are days in `zone`."""
    _ZONE.set(zone)


def current_zone() -> tzinfo:
    """The zone set for this request (`in_zone`, `set_zone`); UTC outside a request."""
    return _ZONE.get()


def in_utc(moment: datetime) -> datetime:
    """`moment` in UTC; InputError if UTC cannot hold it (0001-01-01 at +14:00, say)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InputError(f"{moment.isoformat()} is outside the dates UTC can hold") from None


def start_of(day: date, zone: tzinfo) -> datetime:
    """The first instant of `day` in `zone` (UTC); InputError where UTC cannot hold it."""
    return in_utc(datetime.combine(day, time(), tzinfo=zone))


def end_of(day: date, zone: tzinfo) -> datetime:
    """The instant `day` ends in `zone`: the start of the next day (UTC); InputError for
    the calendar's last day (9999-12-31 has no next day to end at)."""
    if day == date.max:
        raise InputError(f"{day.isoformat()} is the calendar's last day: it has no end")
    return start_of(day + timedelta(days=1), zone)


def last_day(end: datetime, zone: tzinfo) -> date:
    """The day in `zone` that an end instant closes (`end_of`'s inverse: the day of its
    last moment), as a form shows a validity's end to be given back unchanged."""
    return (end.astimezone(zone) - timedelta(microseconds=1)).date()


def _bare_day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DAY.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None  # left for pydantic to refuse, naming the field
    return None


def _as_start(value: Any) -> Any:
    day = _bare_day(value)
    return value if day is None else start_of(day, _ZONE.get())


def _as_end(value: Any) -> Any:
    day = _bare_day(value)
    return value if day is None else end_of(day, _ZONE.get())


def _representable(value: datetime) -> datetime:
    # A zoned moment UTC cannot hold would crash the column's conversion to UTC (a 500).
    in_utc(value)
    return value


DayStart = Annotated[AwareDatetime, BeforeValidator(_as_start), AfterValidator(_representable)]
"""A date and time with a zone, or a bare date: the start of that day where the node is."""
DayEnd = Annotated[AwareDatetime, BeforeValidator(_as_end), AfterValidator(_representable)]
"""A date and time with a zone, or a bare date: through that day (its end) where the node is."""
