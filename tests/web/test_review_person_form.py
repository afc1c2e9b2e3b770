"""Security review: saving a person's form unchanged must not change their access.

The edit form showed a clearance's (or briefing's) end as the UTC date of its end instant;
at a node west of UTC (CAN: America/Toronto) that instant is the next day in UTC, so the
form showed the day after the one chosen, and saving the form (to change only a name) sent
that day back as a new end: the clearance silently grew by a day on every save."""

from __future__ import annotations

from cix.node.auditing import MemoryAuditSink
from tests.node_support import SQLITE_ONLY
from tests.web.conftest import WebClient
from tests.web.test_registry_forms import _person_form

pytestmark = SQLITE_ONLY


def test_saving_a_persons_form_unchanged_extends_their_clearance_by_a_day(
    web: WebClient, audit: MemoryAuditSink
) -> None:
    web.sign_in("nsa")
    form = _person_form(web, "bob")
    form.update(clearance="S", clearance_expires="2026-12-31", reason="hull trials")
    assert web.post("/ui/people/bob", data=form).status_code == 303
    assert "S (CAN, until 2027-01-01 05:00 UTC)" in web.get("/ui/people/bob").text
    again = _person_form(web, "bob")
    # Only the name is changed (the officer gives a reason, as the form asks for one).
    again.update(name="Bob Renamed", reason="typo in the name")
    done = web.post("/ui/people/bob", data=again)
    assert done.status_code == 303, done.text
    assert "S (CAN, until 2027-01-01 05:00 UTC)" in web.get("/ui/people/bob").text
    changed = [e for e in audit.events if e.object == "person:bob" and e.action == "update"]
    assert "clearance" not in changed[-1].details
    assert _person_form(web, "bob")["clearance_expires"] == "2026-12-31"  # as chosen


def test_saving_a_persons_form_unchanged_extends_their_briefing_by_a_day(
    web: WebClient, audit: MemoryAuditSink
) -> None:
    web.sign_in("nsa")
    form = _person_form(web, "bob")
    form.update(briefed_until="2026-12-31", reason="briefed for the trials")
    assert web.post("/ui/people/bob", data=form).status_code == 303, form
    again = _person_form(web, "bob")
    again.update(name="Bob Renamed", reason="typo in the name")
    assert web.post("/ui/people/bob", data=again).status_code == 303
    changed = [e for e in audit.events if e.object == "person:bob" and e.action == "update"]
    assert "briefed_until" not in changed[-1].details
    assert _person_form(web, "bob")["briefed_until"] == "2026-12-31"  # as chosen
