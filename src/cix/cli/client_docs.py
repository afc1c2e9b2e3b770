"""cix docs …: upload, list, show, open, derive and destroy documents on the node.

Transfers stream (the file is never held in memory) behind a Rich progress bar on stderr.
`open` writes the plaintext through `cix.cli.output_file`: mode 0600, complete or not at all
(a refused or interrupted open leaves no partial output), an existing file kept unless
`--force`, `-o -` for standard output. Text from the node (titles, markings) is shown with
its control characters escaped (`cix.cli.terminal.printable`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cix.cli.client_http import with_session
from cix.cli.doc_ids import DocId, resolved
from cix.cli.listing import Column, Format, FormatOption, chosen, human_size, show_rows
from cix.cli.output_file import is_stdout, output_file
from cix.cli.terminal import JsonOption, consoles, print_json, printable
from cix.errors import InputError

if TYPE_CHECKING:
    from rich.progress import Progress

    from cix.cli.client_http import ClientSession


DOCUMENTS = "/documents"
CHUNK = 256 * 1024
# Response headers that carry the open's obligations (the reader's marking and identity).
OBLIGATION_PREFIX = "cix-"


def register(docs_app: typer.Typer) -> None:
    """Add the document commands to `cix docs`."""
    docs_app.command("upload")(upload)
    docs_app.command("list")(list_documents)
    docs_app.command("show")(show)
    docs_app.command("open")(open_document)
    docs_app.command("derive")(derive)
    docs_app.command("reclassify")(reclassify)
    docs_app.command("history")(history)


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    _, err = consoles()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def _send(
    session: ClientSession,
    path: Path,
    *,
    label: str,
    title: str,
    media_type: str | None,
    sources: list[str] | None = None,
) -> dict[str, Any]:
    with _progress() as progress:
        task = progress.add_task(f"upload {path.name}", total=path.stat().st_size)
        doc = session.documents.upload(
            path,
            label=label,
            title=title,
            media_type=media_type,
            sources=[resolved(session, s) for s in sources or ()],
            progress=lambda n: progress.advance(task, n),
        )
    return doc.raw


_SHOWN = (
    "id",
    "title",
    "banner",
    "media_type",
    "plaintext_size",
    "created_by",
    "created_at",
    "custodian",
    "copies_made",
    "sealed_size",
    "sources",
    "destroyed_at",
    "certificate",
)


def _document_table(doc: dict[str, Any]) -> None:
    """A register entry, a field a line (`field  value`): nothing cut, one line per field
    whatever the terminal's width, so a marking or an id copies and greps whole."""
    shown = {k: doc[k] for k in _SHOWN if doc.get(k) not in (None, "", [])}
    width = max(map(len, shown), default=0)
    for key, value in shown.items():
        if key.endswith("_size") and isinstance(value, int):
            text = f"{human_size(value)} ({value} bytes)"
        elif isinstance(value, list):
            text = ", ".join(map(str, value))
        else:
            text = str(value)
        typer.echo(f"{key:<{width}}  {printable(text)}")


def label_json(text: str) -> str:
    """The label to send: a JSON object as given, or a banner parsed here into canonical JSON.

    A banner carries no creation time, so it is labelled as created now; the node checks the
    label again (and refuses one it may not originate) whatever the client sends.
    """
    import json
    from datetime import UTC, datetime

    text = text.strip()
    if text.startswith("{"):
        try:
            json.loads(text)
        except ValueError as exc:
            raise InputError(f"--label: not valid JSON ({exc})") from None
        return text
    from cix.agreements import bundled_registry
    from cix.labels import parse_label

    label = parse_label(text, registry=bundled_registry(), created=datetime.now(UTC))
    return json.dumps(label.to_json(), ensure_ascii=False, separators=(",", ":"))


def upload(
    file: Annotated[
        Path, typer.Argument(help="The file to seal and register (- for standard input).")
    ],
    label: Annotated[str, typer.Option("--label", "-l", help="Label: a banner or a JSON object.")],
    title: Annotated[
        str | None, typer.Option("--title", help="Title (default: the file name).")
    ] = None,
    media_type: Annotated[
        str | None, typer.Option("--media-type", help="Media type (default: from the name).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Upload FILE: the node seals it under LABEL and registers it (`-`: standard input,
    streamed; give --title)."""
    if is_stdout(file):
        if not title:
            raise InputError("--title: required when the content comes from standard input")
        stdin_title = title
        sent = with_session(
            lambda s: (
                s.documents.upload(
                    sys.stdin.buffer,
                    label=label_json(label),
                    title=stdin_title,
                    media_type=media_type,
                ).raw
            )
        )
        print_json(sent) if as_json else _document_table(sent)
        return
    path = existing_file(file)
    doc = with_session(
        lambda s: _send(
            s, path, label=label_json(label), title=title or path.name, media_type=media_type
        )
    )
    print_json(doc) if as_json else _document_table(doc)


def derive(
    file: Annotated[Path, typer.Argument(help="The new document's content.")],
    source: Annotated[
        list[str], typer.Option("--from", help="Id of a source document (repeatable).")
    ],
    label: Annotated[
        str, typer.Option("--label", "-l", help="Label; must dominate every source's label.")
    ],
    title: Annotated[str | None, typer.Option("--title", help="Title.")] = None,
    media_type: Annotated[str | None, typer.Option("--media-type", help="Media type.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Upload FILE as a document derived from the --from sources (rule 11: no write-down)."""
    path = existing_file(file)
    doc = with_session(
        lambda s: _send(
            s,
            path,
            label=label_json(label),
            title=title or path.name,
            media_type=media_type,
            sources=source,
        )
    )
    print_json(doc) if as_json else _document_table(doc)


_LISTED = (
    Column("id", "id", whole=True),
    Column("marking", lambda d: d.get("banner") or d.get("classification"), whole=True),
    Column("title", "title"),
    Column("size", "plaintext_size", size=True),
    Column("created", lambda d: str(d.get("created_at", ""))[:19].replace("T", " ")),
)


def list_documents(
    query: Annotated[
        str | None,
        typer.Option(
            "--query", "-q", help="Words the title must hold, in any order, any case or accents."
        ),
    ] = None,
    classification: Annotated[
        str | None,
        typer.Option(help="A level's code or name (its equivalents under each agreement too)."),
    ] = None,
    programme: Annotated[str | None, typer.Option(help="Only this programme's.")] = None,
    originator: Annotated[
        str | None, typer.Option(help="Only those this party originated (e.g. KOR).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Created on or after (a date, or a time with a zone).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Created on or before (a date: all of it).")
    ] = None,
    received_from: Annotated[
        str | None, typer.Option(help="Copies received from this node or party.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Page size.")] = 50,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Continue after this page cursor.")
    ] = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """The documents you may read, newest first (one page; --cursor for the next)."""
    given = {
        "classification": classification,
        "programme": programme,
        "originator": originator,
        "since": since,
        "until": until,
        "received_from": received_from,
    }
    filters = {k: v for k, v in given.items() if v is not None}
    docs, after = with_session(
        lambda s: s.documents.page(query, cursor=cursor, limit=limit, **filters)
    )
    items = [d.raw for d in docs]
    page = {"items": items, "next_cursor": after}
    form = chosen(fmt, as_json)
    show_rows(items, _LISTED, fmt=form, title=f"{len(items)} documents", raw=page)
    if form is Format.TABLE and page.get("next_cursor"):
        _, notes = consoles()
        notes.print(f"more: cix docs list --cursor {printable(page['next_cursor'])}")


def show(doc_id: DocId, as_json: JsonOption = False) -> None:
    """A document's register entry and label (if you may read it)."""
    doc = with_session(lambda s: s.documents.get(resolved(s, doc_id)).raw)
    print_json(doc) if as_json else _document_table(doc)


def _receive(session: ClientSession, doc_id: str, out: Path, *, force: bool) -> dict[str, str]:
    doc_id = resolved(session, doc_id)
    with session.documents.open(doc_id) as (opened, chunks):
        with _progress() as progress, output_file(out, force=force) as handle:
            task = progress.add_task(f"open {doc_id}", total=opened.size)
            for chunk in chunks:
                handle.write(chunk)
                progress.advance(task, len(chunk))
        return opened.obligations


def open_document(
    doc_id: DocId,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Where to write the plaintext (mode 0600; - for stdout)."
        ),
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
) -> None:
    """Open a document: the node decides, unwraps the key and streams the plaintext to OUT."""
    from cix.cli.output_file import check_output

    check_output(output, force=force)  # before the open is asked for (and audited)
    obligations = with_session(lambda s: _receive(s, doc_id, output, force=force))
    out, err = consoles()
    # With the plaintext on standard output, everything else goes to standard error.
    notes = err if is_stdout(output) else out
    if not is_stdout(output):
        notes.print(f"wrote {output} ({output.stat().st_size} bytes)", markup=False)
    for key, value in sorted(obligations.items()):
        notes.print(f"{printable(key.lower())}: {printable(value)}", markup=False)


def existing_file(path: Path) -> Path:
    """`path` if it is a readable regular file; InputError naming it otherwise."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return path


def reclassify(
    doc_id: DocId,
    label: Annotated[
        str, typer.Option("--label", help="The new label: a banner or the label's JSON.")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why the classification changes.")],
    as_json: JsonOption = False,
) -> None:
    """Change the classification of a document this node originated (rule 3); every node
    holding a copy is sent the originator's signed notice."""
    # The banner is parsed by the node, under the document's own agreement, with the
    # document's creation time and purpose.
    done = with_session(
        lambda s: s.documents.reclassify(resolved(s, doc_id), label=label, reason=reason)
    )
    if as_json:
        print_json(done)
        return
    out, notes = consoles()
    out.print(f"{printable(done['document'])}: {printable(done['banner'])}", markup=False)
    notes.print(
        f"revision {done['revision']}; notice queued for "
        f"{printable(', '.join(done['notified']) or 'no node (no copy was sent)')}",
        markup=False,
    )


_HISTORY = (
    Column("revision", "revision"),
    Column("side", "side"),
    Column(
        "classification",
        lambda r: f"{r['previous_label']['classification']} → {r['label']['classification']}",
        whole=True,
    ),
    Column("by", "changed_by"),
    Column("at", "changed_at"),
    Column("reason", "reason"),
)


def history(doc_id: DocId, fmt: FormatOption = None, as_json: JsonOption = False) -> None:
    """A document's classification changes, oldest first."""
    rows = with_session(lambda s: s.documents.history(resolved(s, doc_id)))
    show_rows(rows, _HISTORY, fmt=chosen(fmt, as_json), title="label history")
