"""cix registry … show | update | revoke, and cix docs reproduce: the registry's changes.

Everything the API can do to the registry, the command line can: show one entry; change a
person (name, organisation, nationalities, roles, clearance, briefing, active) or an
organisation (name, facility clearance); revoke a membership; account for a reproduction.
Each change is decided by the node (the roles of docs/node.md) and audited there with the
`--reason` given; a change to an access attribute needs one.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cix.cli.client_http import with_session
from cix.cli.client_registry import (
    ORG_COLUMNS,
    PERSON_COLUMNS,
    PROGRAMME_COLUMNS,
    DateOption,
    _clearance,
    _show,
    iso_time,
)
from cix.cli.doc_ids import DocId, resolved
from cix.cli.terminal import JsonOption, print_json, printable
from cix.errors import InputError

ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", help="Why (recorded in the audit log; needed to change access)."),
]


def register(
    orgs: typer.Typer, people: typer.Typer, programmes: typer.Typer, memberships: typer.Typer,
    docs: typer.Typer,
) -> None:  # fmt: skip
    """Add show/update/revoke to the registry groups and `reproduce` to `cix docs`."""
    orgs.command("show")(show_organisation)
    orgs.command("update")(update_organisation)
    people.command("show")(show_person)
    people.command("update")(update_person)
    programmes.command("show")(show_programme)
    memberships.command("revoke")(revoke_membership)
    docs.command("reproduce")(reproduce)


def show_person(
    person_id: Annotated[str, typer.Argument(help="Person id.")], as_json: JsonOption = False
) -> None:
    """One person's registry entry (if you may see it)."""
    person = with_session(lambda s: s.registry.person(person_id).raw)
    _show(person, [*PERSON_COLUMNS, "briefed_until", "active"], f"person {person_id}", as_json)


def update_person(
    person_id: Annotated[str, typer.Argument(help="Person id.")],
    name: Annotated[str | None, typer.Option(help="New full name.")] = None,
    organisation: Annotated[str | None, typer.Option(help="Move to this organisation.")] = None,
    nationality: Annotated[
        list[str] | None, typer.Option(help="The nationalities, all of them (repeatable).")
    ] = None,
    role: Annotated[
        list[str] | None, typer.Option(help="The roles, all of them (repeatable).")
    ] = None,
    clearance_level: Annotated[str | None, typer.Option(help="New clearance level.")] = None,
    clearance_party: Annotated[str | None, typer.Option(help="Party that issued it.")] = None,
    clearance_expires: DateOption = None,
    withdraw_clearance: Annotated[
        bool, typer.Option("--withdraw-clearance", help="Withdraw the personal clearance.")
    ] = False,
    briefed_until: DateOption = None,
    active: Annotated[
        bool | None,
        typer.Option("--active/--deactivate", help="Reactivate, or deactivate (no access)."),
    ] = None,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a person's entry: only what is given changes (administrator, NSA officer, or
    the FSO of their organisation, as for adding them)."""
    given = {
        "name": name,
        "organisation": organisation,
        "nationalities": nationality,
        "roles": role,
        "active": active,
    }
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    clearance = _clearance("--clearance", clearance_level, clearance_party, clearance_expires)
    if clearance is not None and withdraw_clearance:
        raise InputError("--withdraw-clearance: not with a new clearance")
    if clearance is not None or withdraw_clearance:
        changes["clearance"] = clearance
    if briefed_until is not None:
        changes["briefed_until"] = iso_time("--briefed-until", briefed_until)
    if not changes:
        raise InputError("update: nothing to change (give an option)")
    if reason is not None:
        changes["reason"] = reason
    person = with_session(lambda s: s.registry.update_person(person_id, **changes).raw)
    _show(person, [*PERSON_COLUMNS, "briefed_until", "active"], "person updated", as_json)


def show_organisation(
    org_id: Annotated[str, typer.Argument(help="Organisation id.")], as_json: JsonOption = False
) -> None:
    """One organisation's registry entry."""
    org = with_session(lambda s: s.registry.organisation(org_id).raw)
    _show(org, ORG_COLUMNS, f"organisation {org_id}", as_json)


def update_organisation(
    org_id: Annotated[str, typer.Argument(help="Organisation id.")],
    name: Annotated[str | None, typer.Option(help="New full name.")] = None,
    facility_level: Annotated[str | None, typer.Option(help="Facility clearance level.")] = None,
    facility_party: Annotated[str | None, typer.Option(help="Party that issued it.")] = None,
    facility_expires: DateOption = None,
    withdraw_facility: Annotated[
        bool, typer.Option("--withdraw-facility", help="Withdraw the facility clearance.")
    ] = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change an organisation's entry (a facility clearance: the NSA officer, with a reason)."""
    changes: dict[str, Any] = {} if name is None else {"name": name}
    facility = _clearance("--facility", facility_level, facility_party, facility_expires)
    if facility is not None and withdraw_facility:
        raise InputError("--withdraw-facility: not with a new facility clearance")
    if facility is not None or withdraw_facility:
        changes["facility_clearance"] = facility
    if not changes:
        raise InputError("update: nothing to change (give an option)")
    if reason is not None:
        changes["reason"] = reason
    org = with_session(lambda s: s.registry.update_organisation(org_id, **changes).raw)
    _show(org, ORG_COLUMNS, "organisation updated", as_json)


def show_programme(
    programme_id: Annotated[str, typer.Argument(help="Programme id.")],
    as_json: JsonOption = False,
) -> None:
    """One programme."""
    programme = with_session(lambda s: s.registry.programme(programme_id).raw)
    _show(programme, PROGRAMME_COLUMNS, f"programme {programme_id}", as_json)


def revoke_membership(
    membership_id: Annotated[
        int, typer.Argument(min=1, help="Membership id (from `memberships list`).")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a programme membership now (NSA officer; never one's own)."""
    revoked = with_session(lambda s: s.registry.revoke_membership(membership_id, reason=reason))
    if as_json:
        print_json(revoked)
        return
    typer.echo(
        f"revoked membership {printable(revoked.get('id'))} of {printable(revoked.get('person'))}"
        f" in {printable(revoked.get('programme'))}"
    )


def reproduce(
    doc_id: DocId,
    holder: Annotated[str, typer.Option("--holder", help="Who holds the copy (a person id).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the copy is made.")],
    as_json: JsonOption = False,
) -> None:
    """Account for a numbered copy of a document (rule 7): its holder must be entitled to it."""
    copy = with_session(
        lambda s: s.documents.reproduce(resolved(s, doc_id), holder=holder, reason=reason)
    )
    if as_json:
        print_json(copy)
        return
    typer.echo(
        f"copy {printable(copy.get('copy_number'))} of {printable(copy.get('document'))}, "
        f"held by {printable(holder)}"
    )
