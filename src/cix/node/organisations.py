"""The registry's organisations: government bodies and contractors with facility clearances.

| change | roles |
|---|---|
| organisation: create, rename | administrator, NSA officer |
| organisation: facility clearance | NSA officer, never of their own organisation, with a reason |

Organisations are read by anyone authenticated.
"""

from __future__ import annotations

from sqlalchemy import select

from cix.node.errors import Conflict
from cix.node.registry_part import RegistryPart, existing, resolve_clearance
from cix.node.roles import Actor, Role
from cix.node.schemas import (
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
    stored_clearance,
)
from cix.store.models import OrganisationRow


def organisation_out(row: OrganisationRow) -> OrganisationOut:
    """The API form of an organisation row."""
    facility = stored_clearance(row.facility_level, row.facility_party, row.facility_expires)
    return OrganisationOut(
        id=row.id,
        name=row.name,
        kind="contractor" if row.kind == "contractor" else "government",
        party=row.party,
        facility_clearance=facility,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class Organisations(RegistryPart):
    """Organisations, changed only by the right roles."""

    def create_organisation(self, actor: Actor, spec: OrganisationIn) -> OrganisationOut:
        """Register an organisation (administrator or NSA officer; clearance: NSA officer)."""
        event, obj = "registry.organisation", f"organisation:{spec.id}"
        self.refusals.require(actor, (Role.ADMINISTRATOR, Role.NSA_OFFICER), event, obj, "create")
        if spec.facility_clearance is not None:
            self.refusals.require(actor, (Role.NSA_OFFICER,), event, obj, "create")
        now = self.clock()
        facility = resolve_clearance(spec.facility_clearance, "facility_clearance")
        row = OrganisationRow(
            id=spec.id,
            name=spec.name,
            kind=spec.kind,
            party=spec.party,
            facility_level=facility.level if facility else None,
            facility_party=facility.party if facility else None,
            facility_expires=facility.expires if facility else None,
            created_at=now,
            updated_at=now,
        )
        with self.db.write() as session:
            if session.get(OrganisationRow, spec.id) is not None:
                raise Conflict(f"organisation {spec.id!r} already exists")
            session.add(row)
            self._flush(session, f"organisation {spec.id!r}")
            self.refusals.record(actor, event, obj, "create", details=spec.model_dump(mode="json"))
        return organisation_out(row)

    def update_organisation(
        self, actor: Actor, org_id: str, patch: OrganisationPatch
    ) -> OrganisationOut:
        """Change an organisation's name or facility clearance."""
        event, obj = "registry.organisation", f"organisation:{org_id}"
        fields = patch.model_fields_set
        self.refusals.require(actor, (Role.ADMINISTRATOR, Role.NSA_OFFICER), event, obj, "update")
        reason = None
        if "facility_clearance" in fields:
            self.refusals.require(actor, (Role.NSA_OFFICER,), event, obj, "update")
            if org_id == actor.organisation_id:
                raise self.refusals.deny(actor, event, obj, "update", "self-grant")
            reason = self._reason(actor, patch.reason, "facility_clearance")
        with self.db.write() as session:
            row = existing(session, OrganisationRow, org_id, "organisation")
            if "name" in fields and patch.name is not None:
                row.name = patch.name
            if "facility_clearance" in fields:
                facility = resolve_clearance(patch.facility_clearance, "facility_clearance")
                if facility is not None and row.kind != "contractor":
                    raise Conflict(f"organisation {org_id!r} is not a contractor")
                row.facility_level = facility.level if facility else None
                row.facility_party = facility.party if facility else None
                row.facility_expires = facility.expires if facility else None
            row.updated_at = self.clock()
            details = patch.model_dump(mode="json", exclude_unset=True)
            if reason is not None:
                details["reason"] = reason
            self.refusals.record(actor, event, obj, "update", details=details)
            return organisation_out(row)

    def list_organisations(self, actor: Actor) -> list[OrganisationOut]:
        """Every organisation (any authenticated actor)."""
        with self.db.read() as session:
            rows = session.scalars(select(OrganisationRow).order_by(OrganisationRow.id))
            return [organisation_out(r) for r in rows]

    def get_organisation(self, actor: Actor, org_id: str) -> OrganisationOut:
        """One organisation (any authenticated actor)."""
        with self.db.read() as session:
            row = existing(session, OrganisationRow, org_id, "organisation")
            return organisation_out(row)
