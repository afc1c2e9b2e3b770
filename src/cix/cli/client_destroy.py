"""cix docs destroy and cix docs certificate: certified destruction, asked for with care.

A destruction cannot be undone, so `destroy` shows what it is about to destroy and asks
(`--yes` skips the question; without a terminal to ask on, `--yes` is required) and needs a
reason. The certificate the node signs is printed whole, every field and the signature,
never cut to the terminal's width; `--json` prints it as the node returned it, and
`cix docs certificate ID` fetches it again later.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from cix.cli.client_http import with_session
from cix.cli.doc_ids import DocId, resolved
from cix.cli.terminal import JsonOption, consoles, print_json, printable
from cix.errors import InputError

DOCUMENTS = "/documents"

#: The order a certificate's fields are printed in (any others follow, sorted).
_FIELDS = (
    "id",
    "document",
    "title",
    "label",
    "sealed_sha256",
    "copies_made",
    "destroyed_by",
    "destroyed_at",
    "method",
    "reason",
    "party",
    "signer",
    "signature",
)


def register(docs_app: typer.Typer) -> None:
    """Add `cix docs destroy` and `cix docs certificate`."""
    docs_app.command("destroy")(destroy)
    docs_app.command("certificate")(certificate)


def destroy(
    doc_id: DocId,
    reason: Annotated[
        str, typer.Option("--reason", help="Why the document is destroyed (required).")
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Destroy without asking for confirmation.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Destroy a document (its sealed object and wrapped data keys are deleted) and print the
    signed destruction certificate. Asks first, showing the document, unless --yes."""
    if not reason.strip():
        raise InputError("--reason: a destruction needs a reason")
    if not yes:
        if not sys.stdin.isatty():
            raise InputError("destroy: no terminal to confirm on; pass --yes to destroy")
        doc = with_session(lambda s: s.documents.get(resolved(s, doc_id)).raw)
        # What is destroyed is what was shown and confirmed, not a fresh resolution.
        doc_id = str(doc.get("id", doc_id))
        _, err = consoles()
        err.print(
            f"destroy {printable(doc.get('id', doc_id))}: {printable(doc.get('title', ''))}\n"
            f"  {printable(doc.get('banner', ''))}\n"
            "This cannot be undone.",
            markup=False,
        )
        if not typer.confirm("Destroy it?", default=False, err=True):
            raise typer.Exit(1)
    cert = with_session(lambda s: s.documents.destroy(resolved(s, doc_id), reason=reason))
    _print_certificate(cert, as_json=as_json)


def certificate(
    doc_id: Annotated[str, typer.Argument(help="The destroyed document's whole id.")],
    as_json: JsonOption = False,
) -> None:
    """Print a destroyed document's signed destruction certificate (its destroyer, its
    custodian, an NSA officer or an auditor)."""
    cert = with_session(lambda s: s.documents.certificate(doc_id))
    _print_certificate(cert, as_json=as_json)


def _print_certificate(cert: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print_json(cert)
        return
    out, _ = consoles()
    keys = [k for k in _FIELDS if k in cert] + sorted(set(cert) - set(_FIELDS))
    width = max(len(k) for k in keys)
    out.print("DESTRUCTION CERTIFICATE", markup=False)
    for key in keys:
        value = cert[key]
        if key == "label" and isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
        # One field a line, never cut: a hash or signature must survive copying.
        out.print(
            f"{key.ljust(width)}  {printable(str(value))}",
            markup=False,
            overflow="ignore",
            crop=False,
            soft_wrap=True,
        )
