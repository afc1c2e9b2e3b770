"""Issue 14 #6: one rule for dates — a bare date is that whole day where the node is
(CAN: America/Toronto), inclusive, in every request body and filter; a date and time keeps
its zone; one without a zone is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cix.errors import InputError
from cix.node.dates import end_of, start_of, zone_for
from tests.api.test_documents_api import _cast
from tests.node_support import ApiClient, assert_problem

TORONTO = ZoneInfo("America/Toronto")


@pytest.fixture
def reg(api: ApiClient) -> ApiClient:
    _cast(api.node)
    return api


def test_a_membership_until_a_bare_date_lasts_through_that_day_where_the_node_is(
    reg: ApiClient,
) -> None:
    body = {"person": "alice", "programme": "CPSP", "valid_until": "2027-12-31",
            "justification": "hull reviews"}  # fmt: skip
    granted = reg.as_("nsa").post("/api/v1/memberships", json=body)
    assert granted.status_code in (200, 201), granted.text
    # The end of 31 December in Toronto (EST, UTC-5): 1 January 05:00 UTC.
    assert datetime.fromisoformat(granted.json()["valid_until"]) == datetime(
        2028, 1, 1, 5, tzinfo=UTC
    )


def test_a_clearance_expiring_on_a_summer_day_ends_with_that_day_in_daylight_time(
    reg: ApiClient,
) -> None:
    patch = {"clearance": {"level": "S", "party": "CAN", "expires": "2027-06-30"},
             "reason": "renewed for a year"}  # fmt: skip
    updated = reg.as_("nsa").patch("/api/v1/people/alice", json=patch)
    assert updated.status_code == 200, updated.text
    expires = datetime.fromisoformat(updated.json()["clearance"]["expires"])
    assert expires == datetime(2027, 7, 1, 4, tzinfo=UTC)  # EDT, UTC-4


def test_a_date_and_time_keeps_its_zone_and_one_without_a_zone_is_refused(
    reg: ApiClient,
) -> None:
    exact = {
        "person": "alice",
        "programme": "CPSP",
        "valid_until": "2027-12-31T12:00:00+09:00",
        "justification": "hull reviews",
    }
    kept = reg.as_("nsa").post("/api/v1/memberships", json=exact)
    assert datetime.fromisoformat(kept.json()["valid_until"]) == datetime(
        2027, 12, 31, 3, tzinfo=UTC
    )
    naive = {**exact, "valid_until": "2027-12-31T12:00:00"}
    refused = reg.as_("nsa").post("/api/v1/memberships", json=naive)
    body = assert_problem(refused, refused.status_code)
    assert refused.status_code == 422
    assert "valid_until" in str(body)
    bad_day = {**exact, "valid_until": "2027-02-30"}
    assert reg.as_("nsa").post("/api/v1/memberships", json=bad_day).status_code == 422


def test_the_zone_setting_is_checked_and_defaults_to_the_party() -> None:
    assert str(zone_for("KOR")) == "Asia/Seoul"
    assert str(zone_for("CAN", "America/Vancouver")) == "America/Vancouver"
    assert str(zone_for("NOR")) == "UTC"
    with pytest.raises(InputError, match="time_zone"):
        zone_for("CAN", "Mars/Olympus_Mons")


@given(
    st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
    st.sampled_from(["America/Toronto", "Asia/Seoul", "Europe/Berlin", "UTC"]),
)
def test_each_day_ends_where_the_next_begins_and_lasts_23_to_25_hours(day: date, name: str) -> None:
    zone = ZoneInfo(name)
    assert end_of(day, zone) == start_of(day + timedelta(days=1), zone)
    assert timedelta(hours=23) <= end_of(day, zone) - start_of(day, zone) <= timedelta(hours=25)
    # The day's first instant, seen in its zone, is that day at midnight.
    local = start_of(day, zone).astimezone(zone)
    assert (local.date(), local.hour, local.minute) == (day, 0, 0)
