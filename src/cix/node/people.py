"""The registry's people and the authenticated principal a request acts for.

| change | roles |
|---|---|
| person: create, update basic fields | administrator, NSA officer, FSO (own organisation) |
| person: clearance | NSA officer |
| person: roles reader/originator | administrator, NSA officer, FSO (own organisation) |
| person: any other role | administrator |

Nobody changes their own access attributes (`PERSON_ACCESS_FIELDS`), and each change of one
carries a reason, which the audit record keeps (docs/node.md, "The access attributes").
People are read by administrators, NSA officers and auditors, by an FSO for their own
organisation, and by each person for themselves.

`actor_for` and `subject_for` run on every request: what they read (the person, their
organisation and their unrevoked memberships with start and end) is cached per person until
the next database write (`cix.node.cache`); which memberships count is decided from the
cached start and end against each call's `now`, so a membership that ends (or starts) takes
effect at that moment without any write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

if TYPE_CHECKING:
    from cix.policy import Subject

from cix.node.cache import GenerationCache
from cix.node.errors import Conflict, NotFound, Unauthenticated
from cix.node.registry_part import RegistryPart, existing, resolve_clearance
from cix.node.roles import SYSTEM, Actor, Role
from cix.node.schemas import PersonIn, PersonOut, PersonPatch, stored_clearance
from cix.policy import Clearance as PolicyClearance
from cix.store.models import Membership, OrganisationRow, Person

_BASIC_ROLES = frozenset({Role.READER, Role.ORIGINATOR})
_READ_ALL = (Role.ADMINISTRATOR, Role.NSA_OFFICER, Role.AUDITOR)
PERSON_ACCESS_FIELDS = frozenset(
    {"organisation", "nationalities", "clearance", "briefed_at", "briefed_until", "roles", "active"}
)
"""A person's fields the decision function (or authentication) reads: never changed by the
person themselves, and changed only with a reason, which the audit record keeps."""


def _policy_clearance(
    level: str | None, party: str | None, expires: datetime | None
) -> PolicyClearance | None:
    """The decision function's form of a clearance stored in three columns (None if unset)."""
    stored = stored_clearance(level, party, expires)
    return None if stored is None else PolicyClearance(stored.party, stored.level, stored.expires)


def person_out(row: Person) -> PersonOut:
    """The API form of a person row."""
    clearance = stored_clearance(row.clearance_level, row.clearance_party, row.clearance_expires)
    return PersonOut(
        id=row.id,
        name=row.name,
        organisation=row.organisation_id,
        nationalities=list(row.nationalities),
        clearance=clearance,
        briefed_at=row.briefed_at,
        briefed_until=row.briefed_until,
        roles=[Role(r) for r in row.roles],
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_NEVER_BEFORE = datetime.min.replace(tzinfo=UTC)
_NEVER_AFTER = datetime.max.replace(tzinfo=UTC)


@dataclass(slots=True)
class _PersonView:
    """What `actor_for` and `subject_for` read of one active person, as of one generation."""

    actor: Actor
    subject: dict[str, Any]  # make_subject's arguments but `programmes`
    memberships: tuple[tuple[str, datetime, datetime], ...]  # programme, from, until
    # The last subject built, and the interval [from, until) in which no membership starts
    # or ends, so that the same subject holds.
    last: tuple[datetime, datetime, Subject] | None = None

    def subject_at(self, now: datetime) -> Subject:
        from cix.policy import make_subject

        last = self.last
        if last is not None and last[0] <= now < last[1]:
            return last[2]
        programmes: dict[str, datetime] = {}
        since, until = _NEVER_BEFORE, _NEVER_AFTER
        for programme, valid_from, valid_until in self.memberships:
            for moment in (valid_from, valid_until):
                if moment <= now:
                    since = max(since, moment)
                else:
                    until = min(until, moment)
            if valid_from <= now < valid_until and (
                programme not in programmes or valid_until > programmes[programme]
            ):
                programmes[programme] = valid_until
        subject = make_subject(**self.subject, programmes=programmes)
        self.last = (since, until, subject)
        return subject


class People(RegistryPart):
    """People, changed only by the right roles; at most `cache_size` of them are cached for
    `actor_for`/`subject_for` (module docstring)."""

    _people: GenerationCache[str, _PersonView]

    def actor_for(self, person_id: str) -> Actor:
        """The actor for `person_id`; raises `Unauthenticated` if unknown or deactivated."""
        return self._view(person_id).actor

    def cached_actor(self, person_id: str) -> Actor | None:
        """`actor_for` from the cache only: None where it would need the database."""
        view = self._people.get(person_id, self.db.generation)
        return None if view is None else view.actor

    def _view(self, person_id: str) -> _PersonView:
        generation = self.db.generation
        view = self._people.get(person_id, generation)
        if view is None:
            view = self._read_view(person_id)
            self._people.put(person_id, generation, view)
        return view

    def _read_view(self, person_id: str) -> _PersonView:
        with self.db.read() as session:
            person = session.get(Person, person_id)
            if person is None or not person.active:
                raise Unauthenticated(f"no active person {person_id!r}")
            org = session.get(OrganisationRow, person.organisation_id)
            assert org is not None  # the foreign key guarantees it
            memberships = session.execute(
                select(Membership.programme_id, Membership.valid_from, Membership.valid_until)
                .where(Membership.person_id == person_id, Membership.revoked_at.is_(None))
                .order_by(Membership.id)
            ).all()
        from cix.policy import Organisation as PolicyOrganisation
        from cix.policy import OrganisationKind

        actor = Actor(
            id=person.id,
            roles=frozenset(Role(r) for r in person.roles),
            organisation_id=org.id,
            organisation_kind=org.kind,
            party=org.party,
        )
        clearance = _policy_clearance(
            person.clearance_level, person.clearance_party, person.clearance_expires
        )
        facility = _policy_clearance(org.facility_level, org.facility_party, org.facility_expires)
        subject = {
            "id": person.id,
            "nationalities": frozenset(person.nationalities),
            "clearance": clearance,
            "briefed_until": person.briefed_until,
            "roles": frozenset(person.roles),
            "organisation": PolicyOrganisation(
                id=org.id,
                kind=OrganisationKind(org.kind),
                party=org.party,
                facility_clearance=facility,
            ),
        }
        return _PersonView(actor, subject, tuple((p, f, u) for p, f, u in memberships))

    def subject_for(self, person_id: str, now: datetime) -> Subject:
        """The decision function's view of `person_id` at `now` (current memberships only)."""
        return self._subject(self._view(person_id), now)

    def cached_subject(self, person_id: str, now: datetime) -> Subject | None:
        """`subject_for` from the cache only: None where it would need the database."""
        view = self._people.get(person_id, self.db.generation)
        return None if view is None else self._subject(view, now)

    @staticmethod
    def _subject(view: _PersonView, now: datetime) -> Subject:
        return view.subject_at(now)

    def _check_person_change(
        self,
        actor: Actor,
        obj: str,
        action: str,
        *,
        person_id: str,
        organisations: set[str],
        fields: set[str],
        roles: frozenset[Role] | None,
    ) -> None:
        event = "registry.person"
        if actor.has(Role.ADMINISTRATOR, Role.NSA_OFFICER):
            pass
        elif actor.has(Role.FSO):
            if organisations != {actor.organisation_id}:
                raise self.refusals.deny(actor, event, obj, action, "fso-other-organisation")
        else:
            raise self.refusals.deny(
                actor,
                event,
                obj,
                action,
                "role-required:administrator|facility-security-officer|nsa-officer",
            )
        changes_access = bool(fields & PERSON_ACCESS_FIELDS) or roles is not None
        if changes_access and person_id == actor.id:
            # Nobody, whatever their roles, changes what the decision function reads of
            # themselves: not even to restore a briefing or nationality an officer changed.
            raise self.refusals.deny(actor, event, obj, action, "self-grant")
        if "clearance" in fields:
            self.refusals.require(actor, (Role.NSA_OFFICER,), event, obj, action)
        if roles is not None and not roles <= _BASIC_ROLES:
            self.refusals.require(actor, (Role.ADMINISTRATOR,), event, obj, action)

    def create_person(self, actor: Actor, spec: PersonIn) -> PersonOut:
        """Register a person with their organisation, nationalities, clearance and roles."""
        obj = f"person:{spec.id}"
        if spec.id == SYSTEM.id:
            raise Conflict(f"person id {spec.id!r} is reserved for the node itself")
        fields = {k for k in spec.model_fields_set if getattr(spec, k) is not None}
        roles = frozenset(spec.roles)
        self._check_person_change(
            actor,
            obj,
            "create",
            person_id=spec.id,
            organisations={spec.organisation},
            fields=fields,
            roles=roles if roles - {Role.READER} else None,
        )
        now = self.clock()
        clearance = resolve_clearance(spec.clearance, "clearance")
        row = Person(
            id=spec.id,
            name=spec.name,
            organisation_id=spec.organisation,
            nationalities=sorted(set(spec.nationalities)),
            clearance_level=clearance.level if clearance else None,
            clearance_party=clearance.party if clearance else None,
            clearance_expires=clearance.expires if clearance else None,
            briefed_at=spec.briefed_at,
            briefed_until=spec.briefed_until,
            roles=sorted(r.value for r in roles),
            active=True,
            created_at=now,
            updated_at=now,
        )
        with self.db.write() as session:
            if session.get(OrganisationRow, spec.organisation) is None:
                raise NotFound(f"no organisation {spec.organisation!r}")
            if session.get(Person, spec.id) is not None:
                raise Conflict(f"person {spec.id!r} already exists")
            session.add(row)
            self._flush(session, f"person {spec.id!r}")
            self.refusals.record(
                actor, "registry.person", obj, "create", details=spec.model_dump(mode="json")
            )
        return person_out(row)

    def update_person(self, actor: Actor, person_id: str, patch: PersonPatch) -> PersonOut:
        """Change a person; each field changed needs the role that may change it."""
        obj = f"person:{person_id}"
        fields = set(patch.model_fields_set)
        with self.db.write() as session:
            row = existing(session, Person, person_id, "person")
            organisations = {row.organisation_id}
            if "organisation" in fields and patch.organisation is not None:
                organisations.add(patch.organisation)
            new_roles = (
                frozenset(patch.roles) if "roles" in fields and patch.roles is not None else None
            )
            changed_roles = None
            if new_roles is not None:
                old_roles = frozenset(Role(r) for r in row.roles)
                changed_roles = new_roles ^ old_roles
            self._check_person_change(
                actor,
                obj,
                "update",
                person_id=person_id,
                organisations=organisations,
                fields=fields,
                roles=changed_roles,
            )
            access = sorted(fields & PERSON_ACCESS_FIELDS)
            reason = self._reason(actor, patch.reason, ", ".join(access)) if access else None
            if patch.organisation is not None:
                if session.get(OrganisationRow, patch.organisation) is None:
                    raise NotFound(f"no organisation {patch.organisation!r}")
                row.organisation_id = patch.organisation
            if patch.name is not None:
                row.name = patch.name
            if patch.nationalities is not None:
                row.nationalities = sorted(set(patch.nationalities))
            if "clearance" in fields:
                clearance = resolve_clearance(patch.clearance, "clearance")
                row.clearance_level = clearance.level if clearance else None
                row.clearance_party = clearance.party if clearance else None
                row.clearance_expires = clearance.expires if clearance else None
            if "briefed_at" in fields:
                row.briefed_at = patch.briefed_at
            if "briefed_until" in fields:
                row.briefed_until = patch.briefed_until
            if row.briefed_at and row.briefed_until and row.briefed_until <= row.briefed_at:
                raise Conflict("briefed_until must be after briefed_at")
            if new_roles is not None:
                row.roles = sorted(r.value for r in new_roles)
            if patch.active is not None:
                row.active = patch.active
            row.updated_at = self.clock()
            self._flush(session, f"person {person_id!r}")
            details = patch.model_dump(mode="json", exclude_unset=True)
            if reason is not None:
                details["reason"] = reason
            self.refusals.record(actor, "registry.person", obj, "update", details=details)
            return person_out(row)

    def _may_read_person(self, actor: Actor, person: Person) -> bool:
        if actor.has(*_READ_ALL) or person.id == actor.id:
            return True
        return actor.has(Role.FSO) and person.organisation_id == actor.organisation_id

    def list_people(self, actor: Actor, organisation: str | None = None) -> list[PersonOut]:
        """The people the actor may see, optionally those of one organisation."""
        with self.db.read() as session:
            query = select(Person).order_by(Person.id)
            if organisation is not None:
                query = query.where(Person.organisation_id == organisation)
            if not actor.has(*_READ_ALL):
                if actor.has(Role.FSO):
                    query = query.where(
                        (Person.organisation_id == actor.organisation_id) | (Person.id == actor.id)
                    )
                else:
                    query = query.where(Person.id == actor.id)
            return [person_out(r) for r in session.scalars(query)]

    def get_person(self, actor: Actor, person_id: str) -> PersonOut:
        """One person, if the actor may see them (otherwise indistinguishable from absent)."""
        with self.db.read() as session:
            row = session.get(Person, person_id)
            if row is None or not self._may_read_person(actor, row):
                raise NotFound(f"no person {person_id!r}")
            return person_out(row)
