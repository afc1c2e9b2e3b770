"""Validated inputs and outputs of the registry (pydantic: invalid values cannot be built).

The same models are the REST API's request and response bodies and the CLI's arguments,
so the API, the CLI and the services check input in one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from cix.labels import nationality
from cix.node.dates import DayEnd, DayStart
from cix.node.roles import Role
from cix.node.text import PlainLine, PlainText

Party = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(nationality)]
EntityId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]
ProgrammeId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$")]
LevelCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True), PlainLine
]
Justification = Annotated[str, StringConstraints(min_length=3, max_length=4000), PlainText]
Reason = Annotated[
    str, StringConstraints(min_length=3, max_length=500, strip_whitespace=True), PlainLine
]
"""Why an access attribute changes: recorded in the audit entry of the change."""
Kind = Literal["government", "contractor"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistryClearance(_Strict):
    """A personnel or facility clearance as the registry takes and shows it: the level as a
    code or a national name of the issuing party's scheme (stored as the code). The decision
    function's form is `cix.policy.Clearance`."""

    level: LevelCode
    party: Party
    expires: DayEnd


class OrganisationIn(_Strict):
    """A new organisation; a contractor may carry a facility clearance."""

    id: EntityId
    name: Name
    kind: Kind
    party: Party
    facility_clearance: RegistryClearance | None = None

    @model_validator(mode="after")
    def _facility_only_for_contractors(self) -> OrganisationIn:
        if self.facility_clearance is not None and self.kind != "contractor":
            raise ValueError("only a contractor holds a facility clearance")
        return self


class OrganisationPatch(_Strict):
    """Changes to an organisation: only the fields given change (null clears a clearance)."""

    name: Name | None = None
    facility_clearance: RegistryClearance | None = None
    reason: Reason | None = None
    """Why: required when the facility clearance changes (it goes to the audit record)."""


class OrganisationOut(_Strict):
    """An organisation as the registry holds it."""

    id: str
    name: str
    kind: Kind
    party: str
    facility_clearance: RegistryClearance | None
    created_at: datetime
    updated_at: datetime


class PersonIn(_Strict):
    """A new person registered with this node."""

    id: EntityId
    name: Name
    organisation: EntityId
    nationalities: Annotated[list[Party], Field(min_length=1, max_length=8)]
    clearance: RegistryClearance | None = None
    briefed_at: DayStart | None = None
    briefed_until: DayEnd | None = None
    roles: Annotated[list[Role], Field(max_length=6)] = [Role.READER]

    @model_validator(mode="after")
    def _briefing_interval(self) -> PersonIn:
        _check_briefing(self.briefed_at, self.briefed_until)
        return self


class PersonPatch(_Strict):
    """Changes to a person: only the fields given change (null clears a clearance)."""

    name: Name | None = None
    organisation: EntityId | None = None
    nationalities: Annotated[list[Party], Field(min_length=1, max_length=8)] | None = None
    clearance: RegistryClearance | None = None
    briefed_at: DayStart | None = None
    briefed_until: DayEnd | None = None
    roles: Annotated[list[Role], Field(max_length=6)] | None = None
    active: bool | None = None
    reason: Reason | None = None
    """Why: required when an access attribute changes (it goes to the audit record)."""

    @model_validator(mode="after")
    def _briefing_interval(self) -> PersonPatch:
        _check_briefing(self.briefed_at, self.briefed_until)
        return self


class PersonOut(_Strict):
    """A person as the registry holds them."""

    id: str
    name: str
    organisation: str
    nationalities: list[str]
    clearance: RegistryClearance | None
    briefed_at: datetime | None
    briefed_until: datetime | None
    roles: list[Role]
    active: bool
    created_at: datetime
    updated_at: datetime


class ProgrammeIn(_Strict):
    """A new need-to-know programme."""

    id: ProgrammeId
    title: Name
    party: Party


class ProgrammeOut(_Strict):
    """A programme as the registry holds it."""

    id: str
    title: str
    party: str
    created_at: datetime


class MembershipIn(_Strict):
    """A time-bounded grant of a programme to a person, with its justification."""

    person: EntityId
    programme: ProgrammeId
    valid_from: DayStart | None = None
    valid_until: DayEnd
    justification: Justification

    @model_validator(mode="after")
    def _interval(self) -> MembershipIn:
        if self.valid_from is not None and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class MembershipOut(_Strict):
    """A membership as the registry holds it (revoked ones included, marked)."""

    id: int
    person: str
    programme: str
    valid_from: datetime
    valid_until: datetime
    justification: str
    granted_by: str
    granted_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None


def _check_briefing(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise ValueError("briefed_until must be after briefed_at")


def stored_clearance(
    level: str | None, party: str | None, expires: datetime | None
) -> RegistryClearance | None:
    """The clearance a row's three columns hold, or None where any of them is empty."""
    if level and party and expires:
        return RegistryClearance(level=level, party=party, expires=expires)
    return None
