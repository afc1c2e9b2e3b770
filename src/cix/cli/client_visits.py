"""cix visits list|show|draft|send|approve|deny|revoke: requests for visit between the two
authorities, through the node's API (`cix login` first).

`draft` (an FSO or the NSA officer) and `send` (the NSA officer) run at the visiting
party's node; `approve`, `deny` and `revoke` at the host's, by its NSA officer. The
visitor's personal data is read from a JSON file (`--visitor`), so that it stays out of
shell history and process lists. The node checks every value, rule and role; the client
shapes the request and shows the answer (or `--json`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cix.cli.client_http import with_session
from cix.cli.listing import Column, Format, FormatOption, chosen, show_rows
from cix.cli.terminal import JsonOption
from cix.errors import InputError

visits_app = typer.Typer(
    help="Requests for visit: draft, send, answer, revoke, show.", no_args_is_help=True
)

COLUMNS = [
    "id",
    "side",
    "state",
    "kind",
    "host_party",
    "first_day",
    "last_day",
    "facility",
    "waiting_on",
    "overdue",
]
DETAIL = [
    *COLUMNS,
    "agreement",
    "requester_node",
    "host_node",
    "highest_level",
    "drafted_by",
    "drafted_at",
    "sent_by",
    "sent_at",
    "conditions",
    "answered_by",
    "answered_at",
    "revoked_at",
]


def register(app: typer.Typer) -> None:
    """Add `cix visits …` to the `cix` app."""
    visits_app.command("list")(list_visits)
    visits_app.command("show")(show_visit)
    visits_app.command("draft")(draft_visit)
    visits_app.command("send")(send_visit)
    visits_app.command("approve")(approve_visit)
    visits_app.command("deny")(deny_visit)
    visits_app.command("revoke")(revoke_visit)
    app.add_typer(visits_app, name="visits")


def _show(
    items: list[dict[str, Any]],
    columns: list[str],
    title: str,
    as_json: bool,
    fmt: Format | None = None,
) -> None:
    one = not title.endswith("s")
    shown = tuple(Column(c, c, whole=c == "id") for c in columns)
    show_rows(
        items,
        shown,
        fmt=chosen(fmt, as_json),
        title=title if one else f"{len(items)} {title}",
        raw=items[0] if one else items,
    )


def list_visits(
    state: Annotated[
        str | None,
        typer.Option(help="Only this state: drafted, sent, approved, denied, revoked, expired."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="Only this kind: one-time, recurring, emergency.")
    ] = None,
    side: Annotated[
        str | None, typer.Option(help="requester (asked by this node) or host (asked of it).")
    ] = None,
    party: Annotated[str | None, typer.Option(help="Only visits with this party.")] = None,
    waiting_on: Annotated[
        str | None,
        typer.Option("--waiting-on", help="The queue: requester (to send) or host (to answer)."),
    ] = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every visit this node asked for or was asked, newest first."""
    wanted = {
        "state": state,
        "kind": kind,
        "side": side,
        "party": party,
        "waiting_on": waiting_on,
    }
    params = {k: v for k, v in wanted.items() if v is not None}
    page = with_session(lambda s: s.json("GET", "/visits", params=params))
    _show(page["items"], COLUMNS, "visits", as_json, fmt)


def show_visit(
    visit_id: Annotated[str, typer.Argument(help="Visit id.")], as_json: JsonOption = False
) -> None:
    """One visit (with the request, the host's signed answer and the history under --json)."""
    info = with_session(lambda s: s.json("GET", f"/visits/{visit_id}"))
    _show([info], DETAIL, "visit", as_json)
    if not as_json:
        for entry in info.get("history") or []:
            typer.echo(f"  {entry['at']}  {entry['step']}  by {entry['by']}")


def _visitor(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--visitor {path}: cannot read: {exc.__class__.__name__}") from None
    except ValueError:
        raise InputError(f"--visitor {path}: not JSON") from None
    if not isinstance(value, dict):
        raise InputError(f"--visitor {path}: a JSON object of the visitor's fields is needed")
    return value


def draft_visit(
    host: Annotated[str, typer.Option("--host", help="The host party, e.g. CAN.")],
    visitor: Annotated[
        Path,
        typer.Option(
            help="JSON file: name, date_of_birth, place_of_birth, nationality, "
            "passport_number, job_title, organisation, clearance_level, clearance_valid_until."
        ),
    ],
    first_day: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    last_day: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD).")],
    facility: Annotated[str, typer.Option(help="The place visited (the host's facility).")],
    level: Annotated[str, typer.Option(help="Highest level to be disclosed (host's code).")],
    purpose: Annotated[str, typer.Option(help="The official purpose of the visit.")],
    contact: Annotated[str, typer.Option(help="The host's point of contact.")],
    contract: Annotated[str, typer.Option(help="The contract or programme.")],
    agreement: Annotated[str, typer.Option(help="The agreement, e.g. kor-can.")],
    kind: Annotated[str, typer.Option(help="one-time, recurring or emergency.")] = "one-time",
    as_json: JsonOption = False,
) -> None:
    """Draft a request for visit to the host's authority (nothing is sent yet)."""
    body = {
        "agreement": agreement,
        "kind": kind,
        "host_party": host,
        "visitor": _visitor(visitor),
        "contract": contract,
        "first_day": first_day,
        "last_day": last_day,
        "purpose": purpose,
        "host_contact": contact,
        "facility": facility,
        "highest_level": level,
    }
    info = with_session(lambda s: s.json("POST", "/visits", json=body))
    _show([info], COLUMNS, "visit drafted", as_json)


def send_visit(
    visit_id: Annotated[str, typer.Argument(help="Visit id (a draft of this node).")],
    as_json: JsonOption = False,
) -> None:
    """Send a drafted request to the host's node (NSA officer, confirming the visitor)."""
    info = with_session(lambda s: s.json("POST", f"/visits/{visit_id}/send"))
    _show([info], COLUMNS, "visit sent", as_json)


def _answer(visit_id: str, action: str, text: str | None, title: str, as_json: bool) -> None:
    body = {"text": text} if text is not None else {}
    info = with_session(lambda s: s.json("POST", f"/visits/{visit_id}/{action}", json=body))
    _show([info], COLUMNS, title, as_json)


def approve_visit(
    visit_id: Annotated[str, typer.Argument(help="Visit id (a request to this node).")],
    conditions: Annotated[str | None, typer.Option(help="Conditions of the visit.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a request made to this node (NSA officer); the signed grant goes back."""
    _answer(visit_id, "approve", conditions, "visit approved", as_json)


def deny_visit(
    visit_id: Annotated[str, typer.Argument(help="Visit id (a request to this node).")],
    reason: Annotated[str | None, typer.Option(help="Why, for the requester.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Deny a request made to this node (NSA officer); a signed denial goes back."""
    _answer(visit_id, "deny", reason, "visit denied", as_json)


def revoke_visit(
    visit_id: Annotated[str, typer.Argument(help="Visit id (approved by this node).")],
    reason: Annotated[str | None, typer.Option(help="Why, for the requester.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke an approved visit (the host's NSA officer); a signed revocation goes back."""
    _answer(visit_id, "revoke", reason, "visit revoked", as_json)
