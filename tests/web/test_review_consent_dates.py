"""Security review: the consents form's expiry follows the one rule for dates (a bare date
is that whole day where the node is, issue 14 #6), as the API's `expires_at` does; it used
to end at 23:59:59 UTC, so a consent approved at a KOR node (UTC+9) "until 31 December"
stayed usable until 08:59 on 1 January there."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from cix.node.dates import end_of, in_zone
from cix.web.consents import _until


def test_consent_form_expiry_outlasts_the_day_the_officer_chose_at_a_kor_node() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    with in_zone(seoul):
        until = _until("2027-12-31")
    assert until == end_of(date(2027, 12, 31), seoul)


def test_consent_form_expiry_ends_with_the_day_at_a_can_node() -> None:
    toronto = ZoneInfo("America/Toronto")
    with in_zone(toronto):
        until = _until("2027-06-30")
    assert until == end_of(date(2027, 6, 30), toronto)
