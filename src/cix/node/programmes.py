"""The registry's need-to-know programmes and the time-bounded memberships in them.

| change | roles |
|---|---|
| programme: create | NSA officer |
| membership: grant (with a justification), revoke (with a reason) | NSA officer, never their own |

Programmes are read by anyone authenticated; memberships like people (`cix.node.people`).
"""

from __future__ import annotations

from sqlalchemy import select

from cix.node.errors import Conflict, NotFound
from cix.node.registry_part import RegistryPart, existing
from cix.node.roles import Actor, Role
from cix.node.schemas import MembershipIn, MembershipOut, ProgrammeIn, ProgrammeOut
from cix.store.models import Membership, Person, Programme

_READ_ALL = (Role.ADMINISTRATOR, Role.NSA_OFFICER, Role.AUDITOR)


def programme_out(row: Programme) -> ProgrammeOut:
    """The API form of a programme row."""
    return ProgrammeOut(id=row.id, title=row.title, party=row.party, created_at=row.created_at)


def membership_out(row: Membership) -> MembershipOut:
    """The API form of a membership row."""
    return MembershipOut(
        id=row.id,
        person=row.person_id,
        programme=row.programme_id,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        justification=row.justification,
        granted_by=row.granted_by,
        granted_at=row.granted_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )


class Programmes(RegistryPart):
    """Programmes and memberships, changed only by NSA officers."""

    def create_programme(self, actor: Actor, spec: ProgrammeIn) -> ProgrammeOut:
        """Create a need-to-know programme (NSA officer)."""
        event, obj = "registry.programme", f"programme:{spec.id}"
        self.refusals.require(actor, (Role.NSA_OFFICER,), event, obj, "create")
        row = Programme(id=spec.id, title=spec.title, party=spec.party, created_at=self.clock())
        with self.db.write() as session:
            if session.get(Programme, spec.id) is not None:
                raise Conflict(f"programme {spec.id!r} already exists")
            session.add(row)
            self._flush(session, f"programme {spec.id!r}")
            self.refusals.record(actor, event, obj, "create", details=spec.model_dump(mode="json"))
        return programme_out(row)

    def list_programmes(self, actor: Actor) -> list[ProgrammeOut]:
        """Every programme (any authenticated actor)."""
        with self.db.read() as session:
            rows = session.scalars(select(Programme).order_by(Programme.id))
            return [programme_out(r) for r in rows]

    def get_programme(self, actor: Actor, programme_id: str) -> ProgrammeOut:
        """One programme (any authenticated actor)."""
        with self.db.read() as session:
            row = existing(session, Programme, programme_id, "programme")
            return programme_out(row)

    def grant_membership(self, actor: Actor, spec: MembershipIn) -> MembershipOut:
        """Grant a person a time-bounded programme membership (NSA officer, never to self)."""
        event, obj = "registry.membership", f"programme:{spec.programme}/person:{spec.person}"
        self.refusals.require(actor, (Role.NSA_OFFICER,), event, obj, "grant")
        if spec.person == actor.id:
            raise self.refusals.deny(actor, event, obj, "grant", "self-grant")
        now = self.clock()
        valid_from = spec.valid_from or now
        if spec.valid_until <= valid_from:
            raise Conflict("valid_until must be after valid_from")
        with self.db.write() as session:
            if session.get(Person, spec.person) is None:
                raise NotFound(f"no person {spec.person!r}")
            if session.get(Programme, spec.programme) is None:
                raise NotFound(f"no programme {spec.programme!r}")
            row = Membership(
                person_id=spec.person,
                programme_id=spec.programme,
                valid_from=valid_from,
                valid_until=spec.valid_until,
                justification=spec.justification,
                granted_by=actor.id,
                granted_at=now,
            )
            session.add(row)
            self._flush(session, "membership")
            self.refusals.record(
                actor, event, obj, "grant", details={**spec.model_dump(mode="json"), "id": row.id}
            )
            return membership_out(row)

    def revoke_membership(
        self, actor: Actor, membership_id: int, reason: str | None = None
    ) -> MembershipOut:
        """End a membership now (NSA officer, never their own; `reason` is audited)."""
        event, obj = "registry.membership", f"membership:{membership_id}"
        self.refusals.require(actor, (Role.NSA_OFFICER,), event, obj, "revoke")
        with self.db.write() as session:
            row = session.get(Membership, membership_id)
            if row is None:
                raise NotFound(f"no membership {membership_id}")
            if row.person_id == actor.id:
                raise self.refusals.deny(actor, event, obj, "revoke", "self-grant")
            why = self._reason(actor, reason, "a membership")
            if row.revoked_at is not None:
                raise Conflict(f"membership {membership_id} is already revoked")
            row.revoked_at = self.clock()
            row.revoked_by = actor.id
            self.refusals.record(
                actor, event, obj, "revoke", details={"person": row.person_id, "reason": why}
            )
            return membership_out(row)

    def list_memberships(
        self, actor: Actor, *, person: str | None = None, programme: str | None = None
    ) -> list[MembershipOut]:
        """Memberships the actor may see, filtered by person and/or programme."""
        with self.db.read() as session:
            query = select(Membership).order_by(Membership.id)
            if person is not None:
                query = query.where(Membership.person_id == person)
            if programme is not None:
                query = query.where(Membership.programme_id == programme)
            if not actor.has(*_READ_ALL):
                visible = select(Person.id).where(Person.id == actor.id)
                if actor.has(Role.FSO):
                    visible = select(Person.id).where(
                        (Person.organisation_id == actor.organisation_id) | (Person.id == actor.id)
                    )
                query = query.where(Membership.person_id.in_(visible))
            return [membership_out(r) for r in session.scalars(query)]
