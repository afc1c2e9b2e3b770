"""Registry forms: the API's request models and role rules, through the registry service."""

from __future__ import annotations

import re

from cix.node.auditing import MemoryAuditSink
from tests.node_support import SQLITE_ONLY
from tests.web.conftest import WebClient

pytestmark = SQLITE_ONLY


def test_administrator_registers_an_organisation(web: WebClient) -> None:
    web.sign_in("admin2")
    web.get("/ui/organisations/new")
    response = web.post(
        "/ui/organisations",
        data={"csrf": web.csrf, "id": "seaworks", "name": "Sea <Works>", "kind": "contractor",
              "party": "CAN"},
    )  # fmt: skip
    assert response.status_code == 303
    page = web.get("/ui/organisations").text
    assert "Sea &lt;Works&gt;" in page


def test_reader_may_not_register_an_organisation_and_the_refusal_is_audited(
    web: WebClient, audit: MemoryAuditSink
) -> None:
    web.sign_in("alice")
    web.get("/ui/organisations/new")
    response = web.post(
        "/ui/organisations",
        data={"csrf": web.csrf, "id": "rogue", "name": "Rogue", "kind": "government",
              "party": "CAN"},
    )  # fmt: skip
    assert response.status_code == 403
    assert "role required" in response.text
    assert any(e.decision == "deny" and e.object.endswith("rogue") for e in audit.events)
    web.sign_in("admin2")
    assert "Rogue" not in web.get("/ui/organisations").text


def test_only_an_nsa_officer_grants_a_clearance(web: WebClient) -> None:
    person = {"id": "newbie", "name": "New Bie", "organisation": "dnd",
              "nationalities": "CAN", "roles": "reader", "clearance": "S",
              "clearance_expires": "2027-01-31", "briefed_until": ""}  # fmt: skip
    web.sign_in("admin2")
    web.get("/ui/people/new")
    assert web.post("/ui/people", data={"csrf": web.csrf, **person}).status_code == 403
    web.sign_in("nsa")
    web.get("/ui/people/new")
    created = web.post("/ui/people", data={"csrf": web.csrf, **person})
    assert created.status_code == 303
    assert created.headers["location"] == "/ui/people/newbie"
    # Through 31 January where the node is (Toronto, EST): to 1 February 05:00 UTC.
    assert "S (CAN, until 2027-02-01 05:00 UTC)" in web.get("/ui/people/newbie").text


def test_bad_input_is_shown_on_the_form_naming_the_field(web: WebClient) -> None:
    web.sign_in("nsa")
    web.get("/ui/programmes/new")
    response = web.post(
        "/ui/programmes", data={"csrf": web.csrf, "id": "not a programme!", "title": "T",
                                "party": "CAN"}
    )  # fmt: skip
    assert response.status_code == 400
    assert "id:" in response.text
    assert 'value="not a programme!"' in response.text  # the input is kept


def test_nsa_officer_creates_a_programme_and_grants_a_membership(web: WebClient) -> None:
    web.sign_in("nsa")
    web.get("/ui/programmes/new")
    made = web.post(
        "/ui/programmes", data={"csrf": web.csrf, "id": "CPSP", "title": "Submarines",
                                "party": "CAN"}
    )  # fmt: skip
    assert made.status_code == 303
    web.get("/ui/memberships/new?person=alice")
    granted = web.post(
        "/ui/memberships",
        data={"csrf": web.csrf, "person": "alice", "programme": "CPSP",
              "valid_until": "2026-12-31", "justification": "design reviews"},
    )  # fmt: skip
    assert granted.status_code == 303, granted.text
    assert "CPSP" in web.get("/ui/people/alice").text


def test_registry_form_without_the_csrf_token_is_refused(web: WebClient) -> None:
    web.sign_in("admin2")
    response = web.post(
        "/ui/organisations",
        data={"id": "x1", "name": "X", "kind": "government", "party": "CAN"},
    )
    assert response.status_code == 403
    assert "<td>x1</td>" not in web.get("/ui/organisations").text


def _person_form(web: WebClient, person: str) -> dict[str, object]:
    """The edit form of `person` as the page fills it (its inputs' values)."""
    page = web.get(f"/ui/people/{person}/edit").text
    inputs = re.findall(
        r'<input id="f-[a-z_]+" name="([a-z_]+)" type="[a-z]+" value="([^"]*)"', page
    )
    form: dict[str, object] = {"csrf": web.csrf, **dict(inputs)}
    for name in ("organisation", "clearance"):
        chosen = re.search(rf'name="{name}".*?<option value="([^"]*)" selected', page, re.S)
        form[name] = chosen.group(1) if chosen else ""
    form["roles"] = re.findall(r'name="roles" value="([a-z-]+)" checked', page)
    form["active"] = re.findall(r'name="active" value="(yes)" checked', page)
    return form


def test_nsa_officer_grants_a_clearance_with_a_reason_and_nothing_else_changes(
    web: WebClient, audit: MemoryAuditSink
) -> None:
    web.sign_in("nsa")
    form = _person_form(web, "bob")
    assert form["active"] == ["yes"]
    form.update(clearance="S", clearance_expires="2026-12-31")
    refused = web.post("/ui/people/bob", data=form)
    assert refused.status_code == 400  # an access change needs its reason
    assert "reason" in refused.text
    form["reason"] = "cleared for the hull trials"
    done = web.post("/ui/people/bob", data=form)
    assert done.status_code == 303, done.text
    assert "S (CAN, until 2027-01-01 05:00 UTC)" in web.get("/ui/people/bob").text
    changed = [e for e in audit.events if e.object == "person:bob" and e.action == "update"]
    assert changed
    assert changed[-1].decision == "permit"
    assert set(changed[-1].details) == {"clearance", "reason"}  # only what the form changed


def test_administrator_may_not_grant_a_clearance(web: WebClient) -> None:
    web.sign_in("admin2")
    form = _person_form(web, "bob")
    form.update(clearance="S", clearance_expires="2026-12-31", reason="because")
    assert web.post("/ui/people/bob", data=form).status_code == 403


def test_nobody_changes_their_own_access(web: WebClient) -> None:
    web.sign_in("nsa")
    form = _person_form(web, "nsa")
    form.update(clearance="TS", clearance_expires="2026-12-31", reason="promote myself")
    assert web.post("/ui/people/nsa", data=form).status_code == 403
