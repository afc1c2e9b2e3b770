"""Registry forms: new organisations, people, programmes and memberships.

Each form builds the API's own request model (`OrganisationIn`, `PersonIn`, `ProgrammeIn`,
`MembershipIn`, with their checks) and calls the registry service the REST route calls, so
the role rules are the API's: an administrator or NSA officer registers organisations, only
an NSA officer grants a clearance, creates a programme or grants a membership, only an
administrator gives roles beyond the basic ones, nobody changes their own access. A form the
person may not use is refused by the service (and audited), not hidden by the page alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from cix.errors import InputError
from cix.node.dates import current_zone, end_of, last_day
from cix.node.roles import Role
from cix.node.schemas import (
    MembershipIn,
    OrganisationIn,
    PersonIn,
    PersonOut,
    PersonPatch,
    ProgrammeIn,
)
from cix.web.render import PREFIX
from cix.web.session import WebUser, node_of
from cix.web.signin import ChangingUser, ReadingUser, renderer_of

router = APIRouter()
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]
Spec = TypeVar("Spec", bound=BaseModel)


@dataclass
class Field:
    """One input of a form."""

    name: str
    label: str
    kind: str = "text"
    required: bool = True
    options: Sequence[tuple[str, str]] = ()
    value: Any = ""
    multiple: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.multiple = self.kind == "checkboxes"
        if self.multiple and self.value == "":
            self.value = []


def _date(text: str, where: str) -> datetime | None:
    """A date field (YYYY-MM-DD) as the end of that whole day where the node is
    (`cix.node.dates`, the one rule for dates); None when empty."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise InputError(f"{where}: not a date (YYYY-MM-DD)") from None
    return end_of(day, current_zone())


def _day(end: datetime) -> str:
    """The form's value for a validity ending at `end`: the day it closes, where the node is."""
    return last_day(end, current_zone()).isoformat()


def _message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ())) or "form"
        parts.append(f"{where}: {error.get('msg', 'not valid')}")
    return "; ".join(parts)


def _render(
    request: Request,
    *,
    heading: str,
    action: str,
    fields: list[Field],
    submit: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return renderer_of(request).page(
        request,
        "form.html",
        status=status,
        heading=heading,
        action=action,
        fields=fields,
        submit=submit,
        error=error,
    )


def _filled(fields: list[Field], form: FormData) -> list[Field]:
    for f in fields:
        f.value = (
            [str(v) for v in form.getlist(f.name)] if f.multiple else str(form.get(f.name) or "")
        )
    return fields


async def _submit(
    request: Request,
    user: WebUser,
    *,
    heading: str,
    action: str,
    fields: list[Field],
    submit: str,
    build: Callable[[Mapping[str, Any]], Spec],
    call: Callable[[Spec], Any],
    done: Callable[[Any], str],
) -> Response:
    form = await request.form()
    _filled(fields, form)
    values = {f.name: f.value for f in fields}
    try:
        spec = build(values)
        result = await anyio.to_thread.run_sync(call, spec)
    except ValidationError as exc:
        return _render(
            request,
            heading=heading,
            action=action,
            fields=fields,
            submit=submit,
            error=_message(exc),
            status=400,
        )
    except InputError as exc:
        return _render(
            request,
            heading=heading,
            action=action,
            fields=fields,
            submit=submit,
            error=str(exc),
            status=400,
        )
    return RedirectResponse(f"{PREFIX}{done(result)}", status_code=303)


# -- organisations -----------------------------------------------------------------------


def _organisation_fields(party: str) -> list[Field]:
    return [
        Field("id", "Id (letters, digits, . _ @ -)"),
        Field("name", "Name"),
        Field(
            "kind",
            "Kind",
            "select",
            options=[("government", "government"), ("contractor", "contractor")],
        ),
        Field("party", "Party", value=party),
    ]


@router.get("/organisations/new")
async def new_organisation(request: Request, user: ReadingUser) -> Response:
    """The form for a new organisation (administrators and NSA officers)."""
    fields = _organisation_fields(node_of(request).settings.party)
    return _render(
        request,
        heading="New organisation",
        action="/organisations",
        fields=fields,
        submit="Register",
    )


@router.post("/organisations")
async def create_organisation(request: Request, user: ChangingUser) -> Response:
    """Register the organisation (the registry's `create_organisation`)."""
    node = node_of(request)
    return await _submit(
        request,
        user,
        heading="New organisation",
        action="/organisations",
        fields=_organisation_fields(node.settings.party),
        submit="Register",
        build=lambda v: OrganisationIn(
            id=v["id"], name=v["name"], kind=v["kind"], party=v["party"]
        ),
        call=lambda spec: node.registry.create_organisation(user.actor, spec),
        done=lambda _: "/organisations",
    )


# -- programmes --------------------------------------------------------------------------


def _programme_fields(party: str) -> list[Field]:
    return [
        Field("id", "Id (capitals and digits, e.g. CPSP)"),
        Field("title", "Title"),
        Field("party", "Party", value=party),
    ]


@router.get("/programmes/new")
async def new_programme(request: Request, user: ReadingUser) -> Response:
    """The form for a new programme (NSA officers)."""
    fields = _programme_fields(node_of(request).settings.party)
    return _render(
        request, heading="New programme", action="/programmes", fields=fields, submit="Create"
    )


@router.post("/programmes")
async def create_programme(request: Request, user: ChangingUser) -> Response:
    """Create the programme (the registry's `create_programme`)."""
    node = node_of(request)
    return await _submit(
        request,
        user,
        heading="New programme",
        action="/programmes",
        fields=_programme_fields(node.settings.party),
        submit="Create",
        build=lambda v: ProgrammeIn(id=v["id"], title=v["title"], party=v["party"]),
        call=lambda spec: node.registry.create_programme(user.actor, spec),
        done=lambda _: "/programmes",
    )


# -- people ------------------------------------------------------------------------------


async def _person_fields(request: Request, user: WebUser) -> list[Field]:
    node = node_of(request)
    orgs = await anyio.to_thread.run_sync(node.registry.list_organisations, user.actor)
    scheme = renderer_of(request).marker.scheme
    return [
        Field("id", "Id (letters, digits, . _ @ -)"),
        Field("name", "Name"),
        Field("organisation", "Organisation", "select", options=[(o.id, o.name) for o in orgs]),
        Field(
            "nationalities",
            "Nationalities (party codes, comma-separated)",
            value=node.settings.party,
        ),
        Field(
            "roles",
            "Roles",
            "checkboxes",
            required=False,
            options=[(r.value, r.value) for r in Role],
            value=[Role.READER.value],
        ),
        Field(
            "clearance",
            "Clearance (NSA officers)",
            "select",
            required=False,
            options=[(lv.code, lv.name("en", scheme.language)) for lv in reversed(scheme.levels)],
        ),
        Field("clearance_expires", "Clearance valid until", "date", required=False),
        Field("briefed_until", "Briefed until", "date", required=False),
    ]


@router.get("/people/new")
async def new_person(request: Request, user: ReadingUser) -> Response:
    """The form for a new person."""
    fields = await _person_fields(request, user)
    return _render(
        request, heading="New person", action="/people", fields=fields, submit="Register"
    )


@router.post("/people")
async def create_person(request: Request, user: ChangingUser) -> Response:
    """Register the person (the registry's `create_person`, with its role rules)."""
    node = node_of(request)
    party = node.settings.party

    def build(v: Mapping[str, Any]) -> PersonIn:
        spec: dict[str, Any] = {
            "id": v["id"],
            "name": v["name"],
            "organisation": v["organisation"],
            "nationalities": [p.strip() for p in v["nationalities"].split(",") if p.strip()],
            "roles": v["roles"],
        }
        if v["clearance"]:
            expires = _date(v["clearance_expires"], "clearance valid until")
            if expires is None:
                raise InputError("clearance valid until: give the date a clearance ends")
            spec["clearance"] = {"level": v["clearance"], "party": party, "expires": expires}
        briefed = _date(v["briefed_until"], "briefed until")
        if briefed is not None:
            spec["briefed_until"] = briefed
        return PersonIn.model_validate(spec)

    return await _submit(
        request,
        user,
        heading="New person",
        action="/people",
        fields=await _person_fields(request, user),
        submit="Register",
        build=build,
        call=lambda spec: node.registry.create_person(user.actor, spec),
        done=lambda person: f"/people/{person.id}",
    )


# -- memberships -------------------------------------------------------------------------


async def _membership_fields(request: Request, user: WebUser) -> list[Field]:
    node = node_of(request)

    def read() -> tuple[list[Any], list[Any]]:
        return (
            node.registry.list_people(user.actor),
            node.registry.list_programmes(user.actor),
        )

    people, programmes = await anyio.to_thread.run_sync(read)
    return [
        Field(
            "person",
            "Person",
            "select",
            options=[(p.id, f"{p.id} — {p.name}") for p in people],
            value=request.query_params.get("person", ""),
        ),
        Field(
            "programme",
            "Programme",
            "select",
            options=[(p.id, f"{p.id} — {p.title}") for p in programmes],
        ),
        Field("valid_until", "Valid until", "date"),
        Field("justification", "Justification (need to know)", "textarea"),
    ]


@router.get("/memberships/new")
async def new_membership(request: Request, user: ReadingUser) -> Response:
    """The form for granting a programme membership (NSA officers)."""
    fields = await _membership_fields(request, user)
    return _render(
        request,
        heading="Grant a programme membership",
        action="/memberships",
        fields=fields,
        submit="Grant",
    )


@router.post("/memberships")
async def grant_membership(request: Request, user: ChangingUser) -> Response:
    """Grant the membership (the registry's `grant_membership`)."""
    node = node_of(request)

    def build(v: Mapping[str, Any]) -> MembershipIn:
        until = _date(v["valid_until"], "valid until")
        if until is None:
            raise InputError("valid until: give the date the membership ends")
        return MembershipIn(
            person=v["person"],
            programme=v["programme"],
            valid_until=until,
            justification=v["justification"],
        )

    return await _submit(
        request,
        user,
        heading="Grant a programme membership",
        action="/memberships",
        fields=await _membership_fields(request, user),
        submit="Grant",
        build=build,
        call=lambda spec: node.registry.grant_membership(user.actor, spec),
        done=lambda m: f"/people/{m.person}",
    )


# -- changing a person -------------------------------------------------------------------


async def _edit_fields(request: Request, user: WebUser, person: PersonOut) -> list[Field]:
    fields = await _person_fields(request, user)
    fields = [f for f in fields if f.name != "id"]
    current = {
        "name": person.name,
        "organisation": person.organisation,
        "nationalities": ", ".join(person.nationalities),
        "roles": [r.value for r in person.roles],
        "clearance": person.clearance.level if person.clearance else "",
        # The day each validity ends where the node is, as it was typed (`_date` reads it
        # back as that day's end): never the UTC date of the end, a day late west of UTC.
        "clearance_expires": _day(person.clearance.expires) if person.clearance else "",
        "briefed_until": _day(person.briefed_until) if person.briefed_until else "",
    }
    for f in fields:
        f.value = current[f.name]
    active = "yes" if person.active else ""
    return [
        *fields,
        Field(
            "active",
            "Active",
            "checkboxes",
            required=False,
            options=[("yes", "active")],
            value=[active] if active else [],
        ),
        Field(
            "reason", "Reason (required when an access attribute changes; audited)", required=False
        ),
    ]


def _patch(person: PersonOut, v: Mapping[str, Any], party: str) -> PersonPatch:
    """The fields of the form that differ from the person as registered: only those are
    sent, so each needs only the role its own change needs."""
    spec: dict[str, Any] = {}
    if v["name"] != person.name:
        spec["name"] = v["name"]
    if v["organisation"] != person.organisation:
        spec["organisation"] = v["organisation"]
    nationalities = sorted({p.strip() for p in v["nationalities"].split(",") if p.strip()})
    if nationalities != sorted(person.nationalities):
        spec["nationalities"] = nationalities
    if set(v["roles"]) != {r.value for r in person.roles}:
        spec["roles"] = sorted(v["roles"])
    expires = _date(v["clearance_expires"], "clearance valid until")
    was = person.clearance
    if v["clearance"]:
        if expires is None:
            raise InputError("clearance valid until: give the date a clearance ends")
        if was is None or (was.level, _day(was.expires)) != (v["clearance"], _day(expires)):
            spec["clearance"] = {"level": v["clearance"], "party": party, "expires": expires}
    elif was is not None:
        spec["clearance"] = None  # null clears it
    briefed = _date(v["briefed_until"], "briefed until")
    shown = _day(person.briefed_until) if person.briefed_until else None
    if (_day(briefed) if briefed else None) != shown:
        if briefed is None:
            raise InputError("briefed until: a briefing is ended by a date, not cleared")
        spec["briefed_until"] = briefed
    active = "yes" in v["active"]
    if active != person.active:
        spec["active"] = active
    if spec and v["reason"]:
        spec["reason"] = v["reason"]
    return PersonPatch.model_validate(spec)


@router.get("/people/{person_id}/edit")
async def edit_person(request: Request, user: ReadingUser, person_id: Id) -> Response:
    """The form changing a person, filled with them as registered."""
    reg = node_of(request).registry
    person = await anyio.to_thread.run_sync(reg.get_person, user.actor, person_id)
    fields = await _edit_fields(request, user, person)
    return _render(
        request,
        heading=f"Change {person.id}",
        action=f"/people/{person.id}",
        fields=fields,
        submit="Save",
    )


@router.post("/people/{person_id}")
async def update_person(request: Request, user: ChangingUser, person_id: Id) -> Response:
    """Change the person: the registry's `update_person`, each change needing the role the
    API's rules give it (a clearance: an NSA officer; roles: an administrator; one's own
    access: nobody), a reason for an access change."""
    node = node_of(request)
    person = await anyio.to_thread.run_sync(node.registry.get_person, user.actor, person_id)
    return await _submit(
        request,
        user,
        heading=f"Change {person.id}",
        action=f"/people/{person.id}",
        fields=await _edit_fields(request, user, person),
        submit="Save",
        build=lambda v: _patch(person, v, node.settings.party),
        call=lambda patch: node.registry.update_person(user.actor, person_id, patch),
        done=lambda changed: f"/people/{changed.id}",
    )
