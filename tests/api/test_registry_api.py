"""Registry routes through the in-process client: status, rows, audit events, problems."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from cix.node.auditing import MemoryAuditSink
from cix.node.service import Node
from tests.node_support import SQLITE_ONLY, T0, ApiClient, assert_problem, events

ACME2 = {"id": "acme2", "name": "Acme Two", "kind": "contractor", "party": "CAN"}


def test_create_organisation_201_row_and_audit(
    api: ApiClient, node: Node, audit: MemoryAuditSink
) -> None:
    response = api.as_("nsa").post("/api/v1/organisations", json=ACME2)
    assert response.status_code == 201, response.text
    assert response.json()["id"] == "acme2"
    listed = api.get("/api/v1/organisations").json()["items"]
    assert "acme2" in [o["id"] for o in listed]
    event = events(audit, "registry.organisation")[-1]
    assert (event.actor, event.object, event.action, event.decision) == (
        "nsa",
        "organisation:acme2",
        "create",
        "permit",
    )
    assert event.details["name"] == "Acme Two"


def test_reader_gets_403_problem_nothing_changed_refusal_audited(
    api: ApiClient, audit: MemoryAuditSink
) -> None:
    response = api.as_("alice").post("/api/v1/organisations", json=ACME2)
    body = assert_problem(response, 403)
    # Issue 14 #2: the role an action needs is the caller's own business, so it is named.
    assert body["detail"] == "role required: administrator or nsa-officer"
    assert_problem(api.as_("nsa").get("/api/v1/organisations/acme2"), 404)
    assert events(audit, "registry.organisation")[-1].decision == "deny"


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ACME2, "party": "Canada"}, "party"),
        ({**ACME2, "kind": "militia"}, "kind"),
        ({**ACME2, "id": "../etc"}, "id"),
        ({**ACME2, "surprise": 1}, "surprise"),
        ({k: v for k, v in ACME2.items() if k != "name"}, "name"),
        (
            {
                **ACME2,
                "kind": "government",
                "facility_clearance": {
                    "level": "SECRET",
                    "party": "CAN",
                    "expires": "2027-01-01T00:00:00Z",
                },
            },
            "body",
        ),
    ],
)
def test_bad_organisation_is_422_naming_the_field_and_changes_nothing(
    api: ApiClient, audit: MemoryAuditSink, body: dict[str, object], field: str
) -> None:
    before = len(audit.events)
    problem = assert_problem(api.as_("nsa").post("/api/v1/organisations", json=body), 422)
    assert any(field in "/".join(e["loc"]) + e["msg"] for e in problem["errors"]), problem
    assert_problem(api.get(f"/api/v1/organisations/{ACME2['id']}"), 404)
    assert len(audit.events) == before


@SQLITE_ONLY
def test_malformed_json_is_a_problem(api: ApiClient) -> None:
    response = api.as_("nsa").post(
        "/api/v1/organisations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422)


@SQLITE_ONLY
def test_naive_datetime_is_refused(api: ApiClient) -> None:
    body = {
        **ACME2,
        "facility_clearance": {"level": "SECRET", "party": "CAN", "expires": "2027-01-01T00:00"},
    }
    assert_problem(api.as_("nsa").post("/api/v1/organisations", json=body), 422)


def test_duplicate_is_409(api: ApiClient) -> None:
    body = {"id": "dnd", "name": "Again", "kind": "government", "party": "CAN"}
    assert_problem(api.as_("nsa").post("/api/v1/organisations", json=body), 409)
    assert api.get("/api/v1/organisations/dnd").json()["name"] == "DND"


@SQLITE_ONLY
def test_unknown_organisation_is_404(api: ApiClient) -> None:
    problem = assert_problem(api.as_("alice").get("/api/v1/organisations/nowhere"), 404)
    assert "nowhere" in problem["detail"]


def test_person_lifecycle_through_the_api(api: ApiClient, audit: MemoryAuditSink) -> None:
    person = {
        "id": "carol",
        "name": "Carol",
        "organisation": "acme",
        "nationalities": ["CAN"],
        "briefed_at": T0.isoformat(),
        "briefed_until": (T0 + timedelta(days=365)).isoformat(),
    }
    created = api.as_("fso").post("/api/v1/people", json=person)
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["reader"]
    clearance = {"level": "SECRET", "party": "CAN", "expires": "2027-03-01T00:00:00Z"}
    assert_problem(api.patch("/api/v1/people/carol", json={"clearance": clearance}), 403)
    cleared = api.as_("nsa").patch(
        "/api/v1/people/carol", json={"clearance": clearance, "reason": "vetting completed"}
    )
    assert cleared.status_code == 200
    assert cleared.json()["clearance"]["level"] == "S"
    assert [(e.action, e.decision) for e in events(audit, "registry.person")][-3:] == [
        ("create", "permit"),
        ("update", "deny"),
        ("update", "permit"),
    ]
    # The FSO sees their organisation's people, a reader only themselves.
    assert {p["id"] for p in api.as_("fso").get("/api/v1/people").json()["items"]} == {
        "bob",
        "carol",
        "fso",
    }
    assert [p["id"] for p in api.as_("alice").get("/api/v1/people").json()["items"]] == ["alice"]
    assert_problem(api.as_("alice").get("/api/v1/people/carol"), 404)


@SQLITE_ONLY
def test_briefing_interval_must_be_ordered(api: ApiClient) -> None:
    person = {
        "id": "erin",
        "name": "Erin",
        "organisation": "dnd",
        "nationalities": ["CAN"],
        "briefed_at": T0.isoformat(),
        "briefed_until": (T0 - timedelta(days=1)).isoformat(),
    }
    assert_problem(api.as_("nsa").post("/api/v1/people", json=person), 422)


def test_programme_and_membership_through_the_api(api: ApiClient, audit: MemoryAuditSink) -> None:
    api.as_("nsa")
    created = api.post("/api/v1/programmes", json={"id": "CPSP", "title": "Subs", "party": "CAN"})
    assert created.status_code == 201
    grant = api.post(
        "/api/v1/memberships",
        json={
            "person": "alice",
            "programme": "CPSP",
            "valid_until": (T0 + timedelta(days=90)).isoformat(),
            "justification": "Engineering lead",
        },
    )
    assert grant.status_code == 201, grant.text
    membership_id = grant.json()["id"]
    mine = api.as_("alice").get("/api/v1/memberships").json()["items"]
    assert [m["programme"] for m in mine] == ["CPSP"]
    assert api.as_("bob").get("/api/v1/memberships").json()["items"] == []
    assert_problem(api.as_("alice").delete(f"/api/v1/memberships/{membership_id}"), 403)
    revoked = api.as_("nsa").delete(
        f"/api/v1/memberships/{membership_id}", params={"reason": "left the project"}
    )
    assert revoked.json()["revoked_by"] == "nsa"
    assert_problem(
        api.delete(f"/api/v1/memberships/{membership_id}", params={"reason": "again"}), 409
    )
    assert [(e.action, e.decision) for e in events(audit, "registry.membership")] == [
        ("grant", "permit"),
        ("revoke", "deny"),
        ("revoke", "permit"),
    ]


@SQLITE_ONLY
def test_membership_without_justification_is_422(api: ApiClient) -> None:
    body = {"person": "alice", "programme": "CPSP", "valid_until": "2027-01-01T00:00:00Z"}
    assert_problem(api.as_("nsa").post("/api/v1/memberships", json=body), 422)


@SQLITE_ONLY
def test_oversized_body_is_413(api: ApiClient, node: Node) -> None:
    big = "x" * (node.settings.max_request_bytes + 1)
    response = api.as_("nsa").post(
        "/api/v1/organisations", content=big, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)


@SQLITE_ONLY
def test_oversized_chunked_body_is_413(api: ApiClient, node: Node) -> None:
    limit = node.settings.max_request_bytes

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    response = api.as_("nsa").post(
        "/api/v1/organisations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)


@SQLITE_ONLY
def test_wrong_method_is_a_problem(api: ApiClient) -> None:
    assert_problem(api.as_("alice").request("PUT", "/api/v1/organisations"), 405)


# -- issue 10 #2: nobody restores their own access attributes ------------------------------

YEAR_AHEAD = (T0 + timedelta(days=365)).isoformat()
STALE = (T0 - timedelta(days=1)).isoformat()


def _officer_sets(api: ApiClient, person: str, body: dict[str, object]) -> None:
    changed = api.as_("nsa").patch(
        f"/api/v1/people/{person}", json={**body, "reason": "periodic review"}
    )
    assert changed.status_code == 200, changed.text


@pytest.mark.parametrize("person", ["alice", "fso"])
def test_person_cannot_restore_own_briefing(
    api: ApiClient, audit: MemoryAuditSink, person: str
) -> None:
    _officer_sets(api, person, {"briefed_at": (T0 - timedelta(days=30)).isoformat()})
    _officer_sets(api, person, {"briefed_until": STALE})
    restore = {"briefed_until": "2099-01-01T00:00:00Z", "reason": "I was briefed"}
    assert_problem(api.as_(person).patch(f"/api/v1/people/{person}", json=restore), 403)
    assert (
        api.as_("nsa")
        .get(f"/api/v1/people/{person}")
        .json()["briefed_until"]
        .startswith(STALE[:10])
    )
    denied = events(audit, "registry.person")[-1]
    assert (denied.actor, denied.decision) == (person, "deny")
    if person == "fso":  # a reader is refused for want of a role before that
        assert denied.reasons == ("self-grant",)


@pytest.mark.parametrize("person", ["alice", "fso"])
def test_person_cannot_restore_own_nationalities(api: ApiClient, person: str) -> None:
    _officer_sets(api, person, {"nationalities": ["CAN", "DEU"]})
    restore = {"nationalities": ["CAN"], "reason": "DEU renounced"}
    assert_problem(api.as_(person).patch(f"/api/v1/people/{person}", json=restore), 403)
    shown = api.as_("nsa").get(f"/api/v1/people/{person}").json()
    assert shown["nationalities"] == ["CAN", "DEU"]


@pytest.mark.parametrize(
    "change",
    [
        {"nationalities": ["CAN", "USA"]},
        {"briefed_until": "2099-01-01T00:00:00Z"},
        {"organisation": "acme"},
        {"clearance": {"level": "TS", "party": "CAN", "expires": "2099-01-01T00:00:00Z"}},
        {"roles": ["nsa-officer", "administrator"]},
        {"active": True},
    ],
)
def test_security_officer_cannot_change_own_attributes(
    api: ApiClient, audit: MemoryAuditSink, change: dict[str, object]
) -> None:
    for officer in ("nsa", "admin2"):
        before = api.as_(officer).get("/api/v1/me").json()
        body = {**change, "reason": "my own review"}
        assert_problem(api.patch(f"/api/v1/people/{officer}", json=body), 403)
        assert api.get("/api/v1/me").json() == before
        denied = events(audit, "registry.person")[-1]
        assert (denied.actor, denied.decision, denied.reasons) == (officer, "deny", ("self-grant",))


def test_access_attribute_change_without_reason_is_400_and_changes_nothing(
    api: ApiClient, audit: MemoryAuditSink
) -> None:
    before = len(audit.events)
    problem = assert_problem(
        api.as_("nsa").patch("/api/v1/people/alice", json={"briefed_until": YEAR_AHEAD}), 400
    )
    assert "reason" in problem["detail"]
    assert api.get("/api/v1/people/alice").json()["briefed_until"] is None
    assert len(audit.events) == before
    # A name is not an access attribute: no reason needed.
    assert api.patch("/api/v1/people/alice", json={"name": "Alice B."}).status_code == 200


def test_access_attribute_change_is_audited_with_who_and_why(
    api: ApiClient, audit: MemoryAuditSink
) -> None:
    _officer_sets(api, "alice", {"nationalities": ["CAN", "DEU"]})
    event = events(audit, "registry.person")[-1]
    assert (event.actor, event.object, event.action, event.decision) == (
        "nsa",
        "person:alice",
        "update",
        "permit",
    )
    assert event.details["reason"] == "periodic review"
    assert event.details["nationalities"] == ["CAN", "DEU"]


def test_membership_revocation_needs_a_reason_and_is_never_ones_own(
    api: ApiClient, audit: MemoryAuditSink, node: Node
) -> None:
    from cix.node.roles import SYSTEM
    from cix.node.schemas import MembershipIn, ProgrammeIn

    reg = node.registry
    reg.create_programme(SYSTEM, ProgrammeIn(id="CPSP", title="Subs", party="CAN"))
    grant = MembershipIn(
        person="nsa", programme="CPSP", valid_until=T0 + timedelta(days=9), justification="lead"
    )
    own = reg.grant_membership(SYSTEM, grant).id
    other = reg.grant_membership(SYSTEM, grant.model_copy(update={"person": "alice"})).id
    api.as_("nsa")
    assert_problem(api.delete(f"/api/v1/memberships/{own}", params={"reason": "done"}), 403)
    assert events(audit, "registry.membership")[-1].reasons == ("self-grant",)
    assert_problem(api.delete(f"/api/v1/memberships/{other}"), 400)
    revoked = api.delete(f"/api/v1/memberships/{other}", params={"reason": "left"})
    assert revoked.status_code == 200, revoked.text
    assert events(audit, "registry.membership")[-1].details["reason"] == "left"
