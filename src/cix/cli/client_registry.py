"""cix registry …: list and add organisations, people, programmes and memberships; and
`cix token list|revoke`: the caller's API tokens on the node.

The node checks every value and every role (the same pydantic models as its API); the client
only shapes the request and shows the answer as a table (or `--json`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from cix.cli.client_http import with_session
from cix.cli.listing import Column, Format, FormatOption, chosen, show_rows
from cix.cli.terminal import JsonOption, consoles
from cix.errors import InputError

DateOption = Annotated[str | None, typer.Option(help="ISO 8601 date or time (UTC if no zone).")]


def register(
    orgs: typer.Typer, people: typer.Typer, programmes: typer.Typer, memberships: typer.Typer
) -> None:
    """Add the list/add commands to each registry group."""
    orgs.command("list")(list_organisations)
    orgs.command("add")(add_organisation)
    people.command("list")(list_people)
    people.command("add")(add_person)
    programmes.command("list")(list_programmes)
    programmes.command("add")(add_programme)
    memberships.command("list")(list_memberships)
    memberships.command("add")(add_membership)


def register_tokens(token_app: typer.Typer) -> None:
    """Add `list` and `revoke` (of API tokens on the node) to the `cix token` group."""
    token_app.command("list")(list_tokens)
    token_app.command("revoke")(revoke_token)


def iso_time(option: str, value: str) -> str:
    """`value` as an ISO 8601 instant with a zone (UTC when none given); InputError if bad."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} {value!r}: not an ISO 8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _clearance(option: str, level: str | None, party: str | None, expires: str | None) -> Any:
    if level is None and party is None and expires is None:
        return None
    if level is None or party is None or expires is None:
        raise InputError(f"{option}: give the level, the party and the expiry together")
    return {"level": level, "party": party, "expires": iso_time(f"{option}-expires", expires)}


def _cell(name: str) -> Column:
    """The column `name` of a registry item: ids whole, a clearance as `PARTY LEVEL until DAY`."""

    def value(item: Mapping[str, Any]) -> object:
        found = item.get(name)
        if isinstance(found, dict) and "level" in found:
            return f"{found['party']} {found['level']} until {str(found['expires'])[:10]}"
        return found

    return Column(name, value, whole=name in ("id", "person", "organisation", "parent"))


def _show(
    items: Any, columns: list[str], title: str, as_json: bool, fmt: Format | None = None
) -> None:
    rows = items if isinstance(items, list) else [items]
    form = chosen(fmt, as_json)
    shown = f"{len(rows)} {title}" if isinstance(items, list) else title
    show_rows(rows, tuple(map(_cell, columns)), fmt=form, title=shown, raw=items)


ORG_COLUMNS = ["id", "name", "kind", "party", "facility_clearance"]
PERSON_COLUMNS = ["id", "name", "organisation", "nationalities", "clearance", "roles"]
PROGRAMME_COLUMNS = ["id", "title", "party"]
TOKEN_COLUMNS = ["id", "person", "name", "expires_at", "parent", "revoked_at"]
MEMBERSHIP_COLUMNS = ["id", "person", "programme", "valid_until", "granted_by", "revoked_at"]


def list_organisations(fmt: FormatOption = None, as_json: JsonOption = False) -> None:
    """Every organisation."""
    page = with_session(lambda s: s.json("GET", "/organisations"))
    _show(page["items"], ORG_COLUMNS, "organisations", as_json, fmt)


def add_organisation(
    org_id: Annotated[str, typer.Argument(help="Organisation id, e.g. dnd.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    kind: Annotated[str, typer.Option(help="government or contractor.")],
    party: Annotated[str, typer.Option(help="ISO alpha-3 party, e.g. CAN.")],
    facility_level: Annotated[str | None, typer.Option(help="Facility clearance level.")] = None,
    facility_party: Annotated[str | None, typer.Option(help="Party that issued it.")] = None,
    facility_expires: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register an organisation (administrator or NSA officer)."""
    body: dict[str, Any] = {"id": org_id, "name": name, "kind": kind, "party": party}
    facility = _clearance("--facility", facility_level, facility_party, facility_expires)
    if facility is not None:
        body["facility_clearance"] = facility
    org = with_session(lambda s: s.json("POST", "/organisations", json=body))
    _show(org, ORG_COLUMNS, "organisation added", as_json)


def list_people(
    organisation: Annotated[str | None, typer.Option(help="Only this organisation.")] = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """The people you may see."""
    params = {"organisation": organisation} if organisation else {}
    page = with_session(lambda s: s.json("GET", "/people", params=params))
    _show(page["items"], PERSON_COLUMNS, "people", as_json, fmt)


def add_person(
    person_id: Annotated[str, typer.Argument(help="Person id.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    organisation: Annotated[str, typer.Option(help="Organisation id.")],
    nationality: Annotated[list[str], typer.Option(help="Nationality (repeatable).")],
    role: Annotated[list[str] | None, typer.Option(help="Role (repeatable).")] = None,
    clearance_level: Annotated[str | None, typer.Option(help="Clearance level.")] = None,
    clearance_party: Annotated[str | None, typer.Option(help="Party that issued it.")] = None,
    clearance_expires: DateOption = None,
    briefed_until: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a person (administrator, NSA officer, or FSO of their organisation)."""
    body: dict[str, Any] = {
        "id": person_id,
        "name": name,
        "organisation": organisation,
        "nationalities": nationality,
        "roles": role or ["reader"],
    }
    clearance = _clearance("--clearance", clearance_level, clearance_party, clearance_expires)
    if clearance is not None:
        body["clearance"] = clearance
    if briefed_until is not None:
        body["briefed_until"] = iso_time("--briefed-until", briefed_until)
    person = with_session(lambda s: s.json("POST", "/people", json=body))
    _show(person, PERSON_COLUMNS, "person added", as_json)


def list_programmes(fmt: FormatOption = None, as_json: JsonOption = False) -> None:
    """Every programme."""
    page = with_session(lambda s: s.json("GET", "/programmes"))
    _show(page["items"], PROGRAMME_COLUMNS, "programmes", as_json, fmt)


def add_programme(
    programme_id: Annotated[str, typer.Argument(help="Programme id, e.g. CPSP.")],
    title: Annotated[str, typer.Option(help="Title.")],
    party: Annotated[str, typer.Option(help="Party that owns it.")],
    as_json: JsonOption = False,
) -> None:
    """Create a programme (NSA officer)."""
    body = {"id": programme_id, "title": title, "party": party}
    programme = with_session(lambda s: s.json("POST", "/programmes", json=body))
    _show(programme, PROGRAMME_COLUMNS, "programme added", as_json)


def list_memberships(
    person: Annotated[str | None, typer.Option(help="Only this person.")] = None,
    programme: Annotated[str | None, typer.Option(help="Only this programme.")] = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """Memberships you may see."""
    params = {k: v for k, v in (("person", person), ("programme", programme)) if v}
    page = with_session(lambda s: s.json("GET", "/memberships", params=params))
    _show(page["items"], MEMBERSHIP_COLUMNS, "memberships", as_json, fmt)


def add_membership(
    person: Annotated[str, typer.Option(help="Person id.")],
    programme: Annotated[str, typer.Option(help="Programme id.")],
    until: Annotated[str, typer.Option(help="End of the membership (ISO 8601).")],
    justification: Annotated[str, typer.Option(help="Why the person needs to know.")],
    since: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Grant a time-bounded programme membership (NSA officer)."""
    body: dict[str, Any] = {
        "person": person,
        "programme": programme,
        "valid_until": iso_time("--until", until),
        "justification": justification,
    }
    if since is not None:
        body["valid_from"] = iso_time("--since", since)
    grant = with_session(lambda s: s.json("POST", "/memberships", json=body))
    _show(grant, MEMBERSHIP_COLUMNS, "membership granted", as_json)


def list_tokens(fmt: FormatOption = None, as_json: JsonOption = False) -> None:
    """Your API tokens on the node (an administrator's: everyone's); never the secrets."""
    page = with_session(lambda s: s.json("GET", "/tokens"))
    _show(page["items"], TOKEN_COLUMNS, "api tokens", as_json, fmt)


def revoke_token(
    token_id: Annotated[str, typer.Argument(help="Token id (from `cix token list`).")],
) -> None:
    """Revoke an API token and every token minted with it."""
    with_session(lambda s: s.request("DELETE", f"/tokens/{token_id}"))
    out, _ = consoles()
    out.print(f"revoked api token {token_id} and the tokens minted with it", markup=False)
