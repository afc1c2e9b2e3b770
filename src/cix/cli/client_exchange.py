"""cix docs transmit / cix transmissions list: send a document to another party's node,
follow its transmissions (through the node's API, as the other client commands)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from cix.cli.client_http import ClientSession, with_session
from cix.cli.doc_ids import DocId, resolved
from cix.cli.listing import Column, FormatOption, chosen, show_rows
from cix.cli.terminal import JsonOption, consoles, print_json, printable
from cix.errors import PeerError

STATES = ("queued", "sent", "receipted", "refused", "overdue")
#: The longest `--wait` (a day): a receipt comes back within seconds or is overdue, and an
#: unbounded wait (`inf`) would be a transmission queued by a command that never returns.
MAX_WAIT = 86_400.0
_SHOWN = (
    "document",
    "to_party",
    "to_node",
    "agreement",
    "purpose",
    "state",
    "refusal_code",
    "requires_receipt",
    "requested_at",
    "receipted_at",
    "overdue",
)


class ReceiptNotYet(PeerError):
    """`--wait` ran out before the peer's receipt (or refusal) came back (exit 3)."""


def register(docs_app: typer.Typer, transmissions_app: typer.Typer) -> None:
    """Add `cix docs transmit` and `cix transmissions list`."""
    docs_app.command("transmit")(transmit)
    transmissions_app.command("list")(list_transmissions)


def _print(item: dict[str, Any]) -> None:
    from rich.table import Table

    out, _ = consoles()
    table = Table(
        title=f"transmission {printable(item.get('id'))}", show_header=False, title_justify="left"
    )
    table.add_column(style="bold")
    table.add_column()
    for key in _SHOWN:
        table.add_row(key, printable(item.get(key)))
    out.print(table)


def transmit(
    doc_id: DocId,
    to: Annotated[str, typer.Option("--to", help="The receiving party (ISO alpha-3, e.g. CAN).")],
    purpose: Annotated[
        str | None, typer.Option("--purpose", help="The purpose the information is sent for.")
    ] = None,
    consent: Annotated[
        str | None, typer.Option("--consent", help="The originator's consent relied on.")
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            max=MAX_WAIT,
            help="Seconds to wait for the receipt (0: do not wait; at most a day).",
        ),
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Transmit a document to the node of party TO (decided and audited by your node)."""

    def work(session: ClientSession) -> dict[str, Any]:
        sent = session.documents.transmit(
            resolved(session, doc_id), to=to, purpose=purpose, consent=consent, wait=wait
        )
        if wait and sent.state in ("queued", "sent"):
            raise ReceiptNotYet(
                f"transmission {sent.id}: no receipt within {wait:g} s "
                f"(still {sent.state}); see `cix transmissions list`"
            )
        return sent.raw

    item = with_session(work)
    print_json(item) if as_json else _print(item)
    if item.get("state") == "refused":
        raise typer.Exit(1)


def _state(item: Mapping[str, Any]) -> str:
    shown = str(item.get("state", ""))
    if item.get("refusal_code"):
        shown = f"{shown} ({item['refusal_code']})"
    if item.get("overdue"):
        shown = f"{shown}, overdue"
    return shown


_LISTED = (
    Column("id", "id", whole=True),
    Column("document", "document", whole=True),
    Column("to", "to_party"),
    Column("state", _state),
    Column("requested", lambda i: str(i.get("requested_at") or "")[:19].replace("T", " ")),
    Column("receipted", lambda i: str(i.get("receipted_at") or "")[:19].replace("T", " ")),
)


def list_transmissions(
    state: Annotated[
        str | None,
        typer.Option("--state", help=f"Only those in this state ({', '.join(STATES)})."),
    ] = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """This node's transmissions, newest first, with their states."""
    listed = with_session(lambda s: s.transmissions.list(state))
    items = [t.raw for t in listed]
    page = {"items": items}
    form = chosen(fmt, as_json)
    show_rows(items, _LISTED, fmt=form, title=f"{len(items)} transmissions", raw=page)
