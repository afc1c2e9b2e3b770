"""cix consents list|show|request|approve|deny: the originator's consent, through the node's
API (`cix login` first).

`request` runs at the node holding a received copy (the request goes to the originator's
node); `approve` and `deny` at the originator's node, by its NSA officer. The node checks
every value and role; the client shapes the request and shows the answer (or `--json`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cix.cli.client_http import with_session
from cix.cli.client_registry import iso_time
from cix.cli.listing import Column, Format, FormatOption, chosen, show_rows
from cix.cli.terminal import JsonOption
from cix.errors import InputError

consents_app = typer.Typer(
    help="The originator's consent: ask, answer, show.", no_args_is_help=True
)

COLUMNS = ["id", "side", "state", "act", "document_id", "to_party", "purpose", "expires_at"]
DETAIL = [
    *COLUMNS,
    "originator_party",
    "originator_node",
    "requester_node",
    "requested_by",
    "requested_at",
    "reason",
    "conditions",
    "answered_by",
    "answered_at",
    "used_at",
]


def register(app: typer.Typer) -> None:
    """Add `cix consents …` to the `cix` app."""
    consents_app.command("list")(list_consents)
    consents_app.command("show")(show_consent)
    consents_app.command("request")(request_consent)
    consents_app.command("approve")(approve_consent)
    consents_app.command("deny")(deny_consent)
    app.add_typer(consents_app, name="consents")


def _show(
    items: list[dict[str, Any]],
    columns: list[str],
    title: str,
    as_json: bool,
    fmt: Format | None = None,
) -> None:
    one = not title.endswith("s")
    shown = tuple(Column(c, c, whole=c in ("id", "document_id")) for c in columns)
    show_rows(
        items,
        shown,
        fmt=chosen(fmt, as_json),
        title=title if one else f"{len(items)} {title}",
        raw=items[0] if one else items,
    )


def list_consents(
    state: Annotated[
        str | None,
        typer.Option(help="Only this state: requested, approved, denied, used, expired."),
    ] = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every consent this node asked for or was asked, newest first."""
    params = {"state": state} if state else {}
    page = with_session(lambda s: s.json("GET", "/consents", params=params))
    _show(page["items"], COLUMNS, "consents", as_json, fmt)


def show_consent(
    consent_id: Annotated[str, typer.Argument(help="Consent id.")], as_json: JsonOption = False
) -> None:
    """One consent (with the originator's signed statement under --json)."""
    info = with_session(lambda s: s.json("GET", f"/consents/{consent_id}"))
    _show([info], DETAIL, "consent", as_json)


def request_consent(
    document: Annotated[str, typer.Argument(help="This node's id of the received copy.")],
    reason: Annotated[str, typer.Option(help="Why (the originator's officer reads it).")],
    to: Annotated[str | None, typer.Option("--to", help="The third party, e.g. DEU.")] = None,
    purpose: Annotated[str | None, typer.Option(help="The purpose, e.g. research.")] = None,
    act: Annotated[
        str, typer.Option(help="release (to --to), downgrade (to --new-label), purpose.")
    ] = "release",
    new_label: Annotated[
        str | None, typer.Option(help="The new label as JSON (a downgrade).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Ask the originator's node for consent to one act on a received copy."""
    body: dict[str, Any] = {"document": document, "act": act, "reason": reason}
    if to is not None:
        body["to_party"] = to
    if purpose is not None:
        body["purpose"] = purpose
    if new_label is not None:
        try:
            body["new_label"] = json.loads(new_label)
        except ValueError:
            raise InputError("--new-label: not JSON") from None
    info = with_session(lambda s: s.json("POST", "/consents", json=body))
    _show([info], COLUMNS, "consent requested", as_json)


def approve_consent(
    consent_id: Annotated[str, typer.Argument(help="Consent id (a request to this node).")],
    conditions: Annotated[str | None, typer.Option(help="Conditions of the consent.")] = None,
    expires: Annotated[
        str | None, typer.Option(help="Expiry (ISO 8601; default 30 days, at most 365).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a request made to this node (NSA officer); the signed answer goes back."""
    body: dict[str, Any] = {}
    if conditions is not None:
        body["conditions"] = conditions
    if expires is not None:
        body["expires_at"] = iso_time("--expires", expires)
    info = with_session(lambda s: s.json("POST", f"/consents/{consent_id}/approve", json=body))
    _show([info], COLUMNS, "consent approved", as_json)


def deny_consent(
    consent_id: Annotated[str, typer.Argument(help="Consent id (a request to this node).")],
    conditions: Annotated[str | None, typer.Option(help="Why, for the requester.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Deny a request made to this node (NSA officer); a signed denial goes back."""
    body = {"conditions": conditions} if conditions is not None else {}
    info = with_session(lambda s: s.json("POST", f"/consents/{consent_id}/deny", json=body))
    _show([info], COLUMNS, "consent denied", as_json)
