"""cix node identity / cix peer add|list|remove: pairing this node with another nation's.

These are the operator's commands, run at the node's data directory (`--dir`), as
`cix init` is: pinning a peer's keys is an out-of-band act (the identity documents are
exchanged by hand and their fingerprints compared by phone), so no API route does it. The
actor recorded in the audit log is the operator as the operating system names them.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from cix.cli.listing import Column, FormatOption, chosen, show_rows
from cix.cli.node import DirOption
from cix.cli.terminal import JsonOption, consoles, printable
from cix.errors import InputError

node_app = typer.Typer(help="This node's own identity, for pairing.", no_args_is_help=True)
peer_app = typer.Typer(help="The peer nodes this node federates with.", no_args_is_help=True)

_MAX_INPUT = 1 << 20


def _read(path: Path, what: str) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_INPUT + 1)
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot read ({exc.strerror})") from None
    if len(data) > _MAX_INPUT:
        raise InputError(f"{what} {path}: larger than {_MAX_INPUT} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} {path}: not UTF-8 text") from None


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


@node_app.command("identity")
def identity(
    data_dir: DirOption,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the document to FILE instead of standard output."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Print this node's signed identity document (its fingerprint on standard error, to
    read out to the other operator by phone)."""
    from cix.cli.output_file import check_output, output_file
    from cix.node.exchange.peers import tls_files
    from cix.node.service import Node

    if out is not None:
        check_output(out, force=force)
    node = Node.open(data_dir, unlock=True)
    try:
        document = node.peers.own_identity_document()
        identity = node.peers.own_identity()
        cert = tls_files(node.settings).cert
    finally:
        node.close()
    if out is None:
        typer.echo(document, nl=False)
    else:
        with output_file(out, force=force) as handle:
            handle.write(document.encode("utf-8"))
    _, stderr = consoles()
    stderr.print(f"node {identity.node_id} ({identity.party}) at {printable(identity.url)}")
    stderr.print(f"fingerprint: {_grouped(identity.fingerprint)}")
    if identity.tls_fingerprint is not None:
        stderr.print(f"TLS certificate: {printable(cert)} (hand it over with the identity)")


def _grouped(fingerprint: str) -> str:
    # Groups of four hex digits: what two people read to each other over the phone.
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


@peer_app.command("add")
def add(
    data_dir: DirOption,
    agreement: Annotated[
        str, typer.Option("--agreement", help="The agreement to federate under (e.g. kor-can).")
    ],
    identity_file: Annotated[
        Path, typer.Option("--identity", help="The peer's signed identity document.")
    ],
    url: Annotated[
        str | None,
        typer.Option("--url", help="Reach the peer here instead of at its identity's URL."),
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option("--cert", help="The peer's TLS certificate (PEM), for mutual TLS."),
    ] = None,
) -> None:
    """Pin a peer node under an agreement (compare its fingerprint with its operator first)."""
    from cix.node.exchange.peers import local_operator
    from cix.node.service import Node

    text = _read(identity_file, "--identity")
    cert_text = _read(cert, "--cert") if cert is not None else None
    node = Node.open(data_dir, unlock=False)
    try:
        info = node.peers.add(
            local_operator(_operator()), text, agreement=agreement, url=url, tls_cert=cert_text
        )
    finally:
        node.close()
    typer.echo(
        f"pinned {info.node_id} ({info.party}) under {', '.join(info.agreements)} "
        f"at {printable(info.url)}"
    )
    typer.echo(f"fingerprint: {_grouped(info.fingerprint)}")
    if info.has_tls_cert:
        typer.echo(f"TLS certificate: {info.tls_fingerprint}")
    elif info.tls_fingerprint is not None:
        typer.echo("TLS certificate named by the identity, not pinned: add it with --cert")


_PEER_COLUMNS = (
    Column("node id", "node_id", whole=True),
    Column("party", "party"),
    Column("agreements", "agreements"),
    Column("url", "url"),
    Column("fingerprint", "fingerprint", whole=True),
    Column("tls", "tls"),
)


@peer_app.command("list")
def list_peers(data_dir: DirOption, fmt: FormatOption = None, as_json: JsonOption = False) -> None:
    """List the pinned peers."""
    from cix.node.service import Node

    node = Node.open(data_dir, unlock=False)
    try:
        peers = node.peers.list()
    finally:
        node.close()
    rows = [
        {
            "node_id": p.node_id,
            "party": p.party,
            "agreements": list(p.agreements),
            "url": p.url,
            "fingerprint": p.fingerprint,
            "tls": "pinned" if p.has_tls_cert else ("named" if p.tls_fingerprint else "-"),
        }
        for p in peers
    ]
    raw = {"items": [p.to_json() for p in peers]}
    show_rows(rows, _PEER_COLUMNS, fmt=chosen(fmt, as_json), title=f"{len(rows)} peers", raw=raw)


@peer_app.command("remove")
def remove(
    data_dir: DirOption,
    node_id: Annotated[str, typer.Argument(help="The node id of the peer to unpin.")],
) -> None:
    """Unpin a peer: this node no longer federates with it."""
    from cix.node.exchange.peers import local_operator
    from cix.node.service import Node

    node = Node.open(data_dir, unlock=False)
    try:
        node.peers.remove(local_operator(_operator()), node_id)
    finally:
        node.close()
    typer.echo(f"removed {printable(node_id)}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `cix` app."""
    app.add_typer(node_app, name="node")
    app.add_typer(peer_app, name="peer")
