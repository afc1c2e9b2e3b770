"""Registry routes: organisations, people, programmes, memberships (roles: the service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from cix.api.auth import CurrentActor, node_of
from cix.node.schemas import (
    MembershipIn,
    MembershipOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
    PersonIn,
    PersonOut,
    PersonPatch,
    ProgrammeIn,
    ProgrammeOut,
)
from cix.node.text import PlainLine

# The query filters take the ids' own shapes (cix.node.schemas): nothing else can match.
_ENTITY_ID = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
_PROGRAMME_ID = r"^[A-Z0-9][A-Z0-9_-]{0,31}$"
router = APIRouter(tags=["registry"])
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]
ProgrammeIdPath = Annotated[str, Path(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$")]


class Organisations(BaseModel):
    """A list of organisations."""

    items: list[OrganisationOut]


class People(BaseModel):
    """A list of people."""

    items: list[PersonOut]


class Programmes(BaseModel):
    """A list of programmes."""

    items: list[ProgrammeOut]


class Memberships(BaseModel):
    """A list of memberships."""

    items: list[MembershipOut]


@router.get("/organisations")
def list_organisations(request: Request, actor: CurrentActor) -> Organisations:
    """Every organisation."""
    return Organisations(items=node_of(request).registry.list_organisations(actor))


@router.post("/organisations", status_code=201)
def create_organisation(
    request: Request, actor: CurrentActor, body: OrganisationIn
) -> OrganisationOut:
    """Register an organisation (administrator or NSA officer)."""
    return node_of(request).registry.create_organisation(actor, body)


@router.get("/organisations/{org_id}")
def get_organisation(request: Request, actor: CurrentActor, org_id: Id) -> OrganisationOut:
    """One organisation."""
    return node_of(request).registry.get_organisation(actor, org_id)


@router.patch("/organisations/{org_id}")
def update_organisation(
    request: Request, actor: CurrentActor, org_id: Id, body: OrganisationPatch
) -> OrganisationOut:
    """Change an organisation's name or facility clearance."""
    return node_of(request).registry.update_organisation(actor, org_id, body)


@router.get("/me")
def me(request: Request, actor: CurrentActor) -> PersonOut:
    """The authenticated person."""
    return node_of(request).registry.get_person(actor, actor.id)


@router.get("/people")
def list_people(
    request: Request,
    actor: CurrentActor,
    organisation: Annotated[str | None, Query(pattern=_ENTITY_ID)] = None,
) -> People:
    """The people the caller may see."""
    return People(items=node_of(request).registry.list_people(actor, organisation))


@router.post("/people", status_code=201)
def create_person(request: Request, actor: CurrentActor, body: PersonIn) -> PersonOut:
    """Register a person."""
    return node_of(request).registry.create_person(actor, body)


@router.get("/people/{person_id}")
def get_person(request: Request, actor: CurrentActor, person_id: Id) -> PersonOut:
    """One person, if the caller may see them."""
    return node_of(request).registry.get_person(actor, person_id)


@router.patch("/people/{person_id}")
def update_person(
    request: Request, actor: CurrentActor, person_id: Id, body: PersonPatch
) -> PersonOut:
    """Change a person (each field needs the role that may change it; nobody changes their
    own access attributes; a change of one needs a `reason`, which is audited)."""
    return node_of(request).registry.update_person(actor, person_id, body)


@router.get("/programmes")
def list_programmes(request: Request, actor: CurrentActor) -> Programmes:
    """Every programme."""
    return Programmes(items=node_of(request).registry.list_programmes(actor))


@router.post("/programmes", status_code=201)
def create_programme(request: Request, actor: CurrentActor, body: ProgrammeIn) -> ProgrammeOut:
    """Create a programme (NSA officer)."""
    return node_of(request).registry.create_programme(actor, body)


@router.get("/programmes/{programme_id}")
def get_programme(
    request: Request, actor: CurrentActor, programme_id: ProgrammeIdPath
) -> ProgrammeOut:
    """One programme."""
    return node_of(request).registry.get_programme(actor, programme_id)


@router.get("/memberships")
def list_memberships(
    request: Request,
    actor: CurrentActor,
    person: Annotated[str | None, Query(pattern=_ENTITY_ID)] = None,
    programme: Annotated[str | None, Query(pattern=_PROGRAMME_ID)] = None,
) -> Memberships:
    """Memberships the caller may see."""
    items = node_of(request).registry.list_memberships(actor, person=person, programme=programme)
    return Memberships(items=items)


@router.post("/memberships", status_code=201)
def grant_membership(request: Request, actor: CurrentActor, body: MembershipIn) -> MembershipOut:
    """Grant a time-bounded programme membership (NSA officer)."""
    return node_of(request).registry.grant_membership(actor, body)


@router.delete("/memberships/{membership_id}")
def revoke_membership(
    request: Request,
    actor: CurrentActor,
    membership_id: Annotated[int, Path(ge=1, le=2**62)],
    reason: Annotated[str | None, Query(min_length=3, max_length=500), PlainLine] = None,
) -> MembershipOut:
    """Revoke a membership now (NSA officer, never their own; `reason` required, audited)."""
    return node_of(request).registry.revoke_membership(actor, membership_id, reason)
