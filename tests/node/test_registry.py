"""The registry service: who may change what, every change and refusal audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cix.node.auditing import MemoryAuditSink
from cix.node.errors import Conflict, Forbidden, NotFound, Unauthenticated
from cix.node.roles import SYSTEM, Actor, Role
from cix.node.schemas import (
    MembershipIn,
    OrganisationIn,
    OrganisationPatch,
    PersonIn,
    PersonPatch,
    ProgrammeIn,
    RegistryClearance,
)
from cix.node.service import Node
from tests.node_support import T0, Clock, events, seed_people

EXPIRES = T0 + timedelta(days=365)


@pytest.fixture
def cast(node: Node) -> Node:
    seed_people(node)
    return node


def _actor(node: Node, person_id: str) -> Actor:
    return node.registry.actor_for(person_id)


def test_actor_carries_roles_and_organisation(cast: Node) -> None:
    actor = _actor(cast, "fso")
    assert actor.roles == {Role.FSO}
    assert (actor.organisation_id, actor.organisation_kind, actor.party) == (
        "acme",
        "contractor",
        "CAN",
    )


def test_unknown_or_inactive_person_is_unauthenticated(cast: Node) -> None:
    with pytest.raises(Unauthenticated):
        cast.registry.actor_for("mallory")
    cast.registry.update_person(
        _actor(cast, "admin2"), "alice", PersonPatch(active=False, reason="left the service")
    )
    with pytest.raises(Unauthenticated):
        cast.registry.actor_for("alice")


def test_reader_cannot_create_organisation_and_refusal_is_audited(
    cast: Node, audit: MemoryAuditSink
) -> None:
    before = len(audit.events)
    spec = OrganisationIn(id="evil", name="Evil", kind="government", party="CAN")
    with pytest.raises(Forbidden):
        cast.registry.create_organisation(_actor(cast, "alice"), spec)
    [event] = audit.events[before:]
    assert (event.decision, event.actor, event.object) == ("deny", "alice", "organisation:evil")
    assert event.reasons == ("role-required:administrator|nsa-officer",)
    with pytest.raises(NotFound):
        cast.registry.get_organisation(_actor(cast, "alice"), "evil")


def test_only_nsa_officer_sets_facility_clearance(cast: Node) -> None:
    patch = OrganisationPatch(
        facility_clearance=RegistryClearance(level="SECRET", party="CAN", expires=EXPIRES),
        reason="facility inspected",
    )
    with pytest.raises(Forbidden):
        cast.registry.update_organisation(_actor(cast, "admin2"), "acme", patch)
    updated = cast.registry.update_organisation(_actor(cast, "nsa"), "acme", patch)
    assert updated.facility_clearance is not None
    assert updated.facility_clearance.level == "S"  # national name resolved to the level code


def test_government_body_holds_no_facility_clearance(cast: Node) -> None:
    patch = OrganisationPatch(
        facility_clearance=RegistryClearance(level="SECRET", party="CAN", expires=EXPIRES),
        reason="facility inspected",
    )
    with pytest.raises(Conflict, match="not a contractor"):
        cast.registry.update_organisation(SYSTEM, "dnd", patch)


def test_fso_registers_people_of_own_organisation_only(cast: Node) -> None:
    fso = _actor(cast, "fso")
    own = PersonIn(id="carol", name="Carol", organisation="acme", nationalities=["CAN"])
    assert cast.registry.create_person(fso, own).organisation == "acme"
    other = PersonIn(id="dave", name="Dave", organisation="dnd", nationalities=["CAN"])
    with pytest.raises(Forbidden):
        cast.registry.create_person(fso, other)
    with pytest.raises(Forbidden):
        cast.registry.update_person(fso, "carol", PersonPatch(organisation="dnd"))


def test_fso_cannot_grant_clearance_or_privileged_roles(cast: Node) -> None:
    fso = _actor(cast, "fso")
    with pytest.raises(Forbidden):
        cast.registry.update_person(
            fso,
            "bob",
            PersonPatch(clearance=RegistryClearance(level="SECRET", party="CAN", expires=EXPIRES)),
        )
    with pytest.raises(Forbidden):
        cast.registry.update_person(fso, "bob", PersonPatch(roles=[Role.NSA_OFFICER]))
    granted = cast.registry.update_person(
        fso, "bob", PersonPatch(roles=[Role.READER, Role.ORIGINATOR], reason="drafts reports")
    )
    assert set(granted.roles) == {Role.READER, Role.ORIGINATOR}


def test_administrator_cannot_grant_clearance(cast: Node) -> None:
    with pytest.raises(Forbidden):
        cast.registry.update_person(
            _actor(cast, "admin2"),
            "bob",
            PersonPatch(clearance=RegistryClearance(level="SECRET", party="CAN", expires=EXPIRES)),
        )


def test_nobody_grants_themselves_roles_or_clearance(cast: Node, audit: MemoryAuditSink) -> None:
    with pytest.raises(Forbidden):
        cast.registry.update_person(
            _actor(cast, "admin2"),
            "admin2",
            PersonPatch(roles=[Role.ADMINISTRATOR, Role.NSA_OFFICER]),
        )
    with pytest.raises(Forbidden):
        cast.registry.update_person(
            _actor(cast, "nsa"),
            "nsa",
            PersonPatch(
                clearance=RegistryClearance(level="TOP-SECRET", party="CAN", expires=EXPIRES)
            ),
        )
    assert [e.reasons for e in audit.events[-2:]] == [("self-grant",), ("self-grant",)]
    assert cast.registry.get_person(_actor(cast, "nsa"), "nsa").clearance is None


def test_membership_grant_and_revoke(cast: Node, clock: Clock, audit: MemoryAuditSink) -> None:
    nsa = _actor(cast, "nsa")
    cast.registry.create_programme(nsa, ProgrammeIn(id="CPSP", title="Submarines", party="CAN"))
    grant = cast.registry.grant_membership(
        nsa,
        MembershipIn(
            person="alice",
            programme="CPSP",
            valid_until=T0 + timedelta(days=30),
            justification="Project office engineer",
        ),
    )
    assert grant.granted_by == "nsa"
    assert grant.valid_from == T0
    assert dict(cast.registry.subject_for("alice", T0).programmes) == {
        "CPSP": T0 + timedelta(days=30)
    }
    assert dict(cast.registry.subject_for("alice", T0 + timedelta(days=31)).programmes) == {}
    clock.advance(days=1)
    revoked = cast.registry.revoke_membership(nsa, grant.id, "left the project")
    assert revoked.revoked_by == "nsa"
    assert dict(cast.registry.subject_for("alice", clock()).programmes) == {}
    assert [e.action for e in events(audit, "registry.membership")] == ["grant", "revoke"]


def test_membership_needs_nsa_officer_and_not_self(cast: Node) -> None:
    spec = MembershipIn(
        person="nsa", programme="CPSP", valid_until=T0 + timedelta(days=1), justification="me!"
    )
    with pytest.raises(Forbidden):
        cast.registry.grant_membership(_actor(cast, "admin2"), spec)
    with pytest.raises(Forbidden):
        cast.registry.grant_membership(_actor(cast, "nsa"), spec)


def test_people_visibility(cast: Node) -> None:
    assert [p.id for p in cast.registry.list_people(_actor(cast, "alice"))] == ["alice"]
    assert {p.id for p in cast.registry.list_people(_actor(cast, "fso"))} == {"bob", "fso"}
    assert len(cast.registry.list_people(_actor(cast, "auditor"))) == 7
    with pytest.raises(NotFound):
        cast.registry.get_person(_actor(cast, "bob"), "alice")


def test_duplicate_id_is_a_conflict_and_changes_nothing(cast: Node) -> None:
    spec = OrganisationIn(id="dnd", name="Other", kind="government", party="CAN")
    with pytest.raises(Conflict):
        cast.registry.create_organisation(_actor(cast, "nsa"), spec)
    assert cast.registry.get_organisation(_actor(cast, "nsa"), "dnd").name == "DND"


def test_audit_failure_aborts_the_change(cast: Node) -> None:
    class Broken:
        def append(self, event: object) -> None:
            from cix.errors import StorageError

            raise StorageError("disk full")

    cast.registry.audit = Broken()
    from cix.errors import StorageError

    with pytest.raises(StorageError):
        cast.registry.create_programme(
            _actor(cast, "nsa"), ProgrammeIn(id="X1", title="X", party="CAN")
        )
    with pytest.raises(NotFound):
        cast.registry.get_programme(_actor(cast, "nsa"), "X1")


def test_unknown_clearance_level_is_refused_naming_it(cast: Node) -> None:
    from cix.errors import InputError

    with pytest.raises(InputError, match=r"clearance: .*ULTRA"):
        cast.registry.update_person(
            _actor(cast, "nsa"),
            "bob",
            PersonPatch(
                clearance=RegistryClearance(level="ULTRA", party="CAN", expires=EXPIRES),
                reason="vetted",
            ),
        )
    assert cast.registry.get_person(_actor(cast, "nsa"), "bob").clearance is None


def test_registry_is_split_into_modules_of_one_idea_each() -> None:
    from pathlib import Path

    import cix.node

    node_dir = Path(cix.node.__file__).parent
    for name in ("registry", "registry_part", "organisations", "people", "programmes"):
        lines = (node_dir / f"{name}.py").read_text(encoding="utf-8").count("\n")
        assert lines < 400, f"node/{name}.py has {lines} lines"


def test_registry_refuses_only_through_the_one_audited_refusal_helper() -> None:
    from cix.node.registry import PersonnelRegistry

    # Every part records and refuses through cix.node.refusals.Refusals, none on its own.
    for private in ("_deny", "_require", "_record"):
        assert not hasattr(PersonnelRegistry, private)
