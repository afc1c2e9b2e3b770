"""cix seal / open / inspect / rewrap: sealed objects.

Outputs go through `cix.cli.output_file`: written mode 0600 to a temporary file beside OUTPUT
and renamed into place only when the operation succeeded, so a refused object never leaves
plaintext behind, and a failed write (a full disk) never leaves a partial file (exit 3, one
line naming OUTPUT); an existing OUTPUT is kept unless `--force`; OUTPUT is never INPUT;
`-o -` writes standard output.

`cix seal` and `cix open` read a regular INPUT through a read-only mapping (no copy into
the process). The one thing a stream would survive and a mapping does not: were another
process to truncate INPUT meanwhile, the kernel would stop cix with SIGBUS, leaving the
hidden temporary file (mode 0600) behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer

from cix.cli.keys import passphrase
from cix.cli.output_file import is_stdout, output_file
from cix.cli.terminal import json_text
from cix.errors import InputError

_PROGRESS_FROM = 16 << 20


class LabelInputError(InputError):
    """The --label file cannot be read."""


def _label_text(label: str) -> str:
    path = Path(label[1:] if label.startswith("@") else label)
    try:
        is_file = label.startswith("@") or path.is_file()
    except (OSError, ValueError):  # inline label text that cannot be a file name
        is_file = False
    if is_file:
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LabelInputError(f"--label {path}: cannot read it ({exc})") from None
    return label


def _label_inputs(
    label: str, agreement_id: str | None, purpose: str | None
) -> tuple[bytes, dict[str, Any]]:
    """The label's STANAG 4774 XML and canonical JSON, parsed and checked by `cix.labels`.

    LABEL is a banner (`SECRET//REL TO CAN, KOR`), a JSON object or 4774 XML, given inline,
    as a file path or as @PATH. A banner's creation time is now.
    """
    from datetime import UTC, datetime

    from cix.agreements import bundled_registry, load_agreement, registry_of
    from cix.labels import parse_label, to_4774_xml

    agreement = None
    if agreement_id is None:
        registry = bundled_registry()
    else:
        if agreement_id.endswith(".toml") or "/" in agreement_id:
            agreement = load_agreement(agreement_id)
        else:
            agreement = bundled_registry().get(agreement_id)
        registry = registry_of(agreement)
    parsed = parse_label(
        _label_text(label),
        agreement,
        registry=registry,
        created=datetime.now(UTC),
        purpose=purpose,
    )
    return to_4774_xml(parsed, registry), parsed.to_json()


def _input(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None


@contextlib.contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    if total < _PROGRESS_FROM:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


_TRUST_HELP = (
    "PARTY=sign.pub: a key trusted to sign the labels PARTY originates (e.g. KOR=kor/sign.pub);"
    " repeatable."
)


def _trusted(entries: list[str]) -> dict[str, list[Any]]:
    """`PARTY=PATH` entries as the envelope's trusted signers, by party."""
    from cix.keys import load_verify_key

    trusted: dict[str, list[Any]] = {}
    for entry in entries:
        party, sep, path = entry.partition("=")
        if not sep or not path or not re.fullmatch("[A-Z]{3}", party):
            raise typer.BadParameter(
                f"{entry!r}: give the party whose labels the key signs, as PARTY=sign.pub "
                "(PARTY: three capital letters, e.g. KOR)",
                param_hint="--trust",
            )
        trusted.setdefault(party, []).append(load_verify_key(Path(path)))
    return trusted


def seal_command(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="File to seal.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Sealed object to write.")],
    label: Annotated[
        str, typer.Option(help="Banner, JSON or 4774 XML label; inline, a file or @PATH.")
    ],
    to: Annotated[list[Path], typer.Option(help="Recipient KEM public key (.pub); repeatable.")],
    sign: Annotated[Path, typer.Option(help="Originator's signing key (sign.key).")],
    agreement: Annotated[
        str | None,
        typer.Option("--agreement", "-a", help="Agreement or national policy of the label."),
    ] = None,
    purpose: Annotated[str | None, typer.Option(help="Purpose, for a banner label.")] = None,
    attribute: Annotated[
        list[str] | None, typer.Option(help="OpenTDF data attribute FQN; repeatable.")
    ] = None,
    segment_size: Annotated[int, typer.Option(help="Plaintext bytes per segment.")] = 2 << 20,
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Seal INPUT for the --to recipients, binding the label with the --sign key."""
    from cix.envelope import mapped_input, seal
    from cix.keys import load_kem_public, load_signing_key

    xml, label_json = _label_inputs(label, agreement, purpose)
    recipients = [load_kem_public(p) for p in to]
    signer = load_signing_key(sign, passphrase())
    with (
        _input(input_path) as src,
        output_file(output, force=force, inputs=(input_path,)) as dst,
        mapped_input(src) as source,
    ):
        size = os.fstat(src.fileno()).st_size
        with _progress(size, "sealing") as progress:
            result = seal(
                source,
                dst,
                label_xml=xml,
                label_json=label_json,
                recipients=recipients,
                signer=signer,
                attributes=attribute or (),
                segment_size=segment_size,
                size_hint=size,
                progress=progress,
            )
    typer.echo(
        f"sealed {result.plaintext_size} bytes in {result.segments} segments for "
        f"{len(result.kids)} recipient(s) -> {output}",
        err=True,
    )


def open_command(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Sealed object.")],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Plaintext file to write (mode 0600); - for stdout."),
    ],
    key: Annotated[Path, typer.Option(help="Recipient's private KEM key (kem.key).")],
    trust: Annotated[list[str] | None, typer.Option(help=_TRUST_HELP)] = None,
    unsafe_allow_unlabelled: Annotated[
        bool,
        typer.Option(help="Unsafe: open an object that carries no cix label (plain OpenTDF)."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Verify and decrypt INPUT into OUTPUT; print the verified label as JSON."""
    from cix import envelope
    from cix.keys import load_kem_private

    trusted = _trusted(trust or [])
    private = load_kem_private(key, passphrase())
    with (
        _input(input_path) as src,
        output_file(output, force=force, inputs=(input_path,)) as dst,
        envelope.mapped_input(src) as source,
    ):
        size = os.fstat(src.fileno()).st_size
        with _progress(size, "opening") as progress:
            opened = envelope.open(
                source,
                dst,
                private_key=private,
                trusted_signers=trusted,
                unsafe_allow_unlabelled=unsafe_allow_unlabelled,
                progress=progress,
            )
    if opened.label_json is None:
        typer.echo("warning: the object carries no cix label", err=True)
    summary = {"label": opened.label_json, "signer": opened.signer_kid, "bytes": opened.written}
    # With the plaintext on standard output, the summary goes to standard error.
    typer.echo(json_text(summary), err=is_stdout(output))


def inspect_command(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Sealed object.")],
) -> None:
    """Print the manifest summary and the label as JSON, without any key (unverified), with
    the label's banner line (`banner`; null if the label is not under a bundled agreement)."""
    from cix.envelope import inspect

    with _input(input_path) as src:
        summary = inspect(src)
    summary["banner"] = _banner_of(summary.get("label"))
    typer.echo(json_text(summary))


def _banner_of(label_json: object) -> str | None:
    """The banner of a label's JSON under the bundled agreements; None if it names none."""
    from cix.agreements import bundled_registry
    from cix.errors import InputError
    from cix.labels import banner, parse_label

    if not isinstance(label_json, dict):
        return None
    registry = bundled_registry()
    try:
        label = parse_label(json.dumps(label_json), registry=registry)
        return banner(label, registry.get(label.policy))
    except (InputError, KeyError, ValueError):
        return None


def _recipients(entries: list[str], *, parties_required: bool) -> list[tuple[str | None, Path]]:
    """`--to` entries as (party, public key path): `PARTY=PATH`, or a bare PATH where the
    caller turned the releasability check off."""
    recipients: list[tuple[str | None, Path]] = []
    for entry in entries:
        party, sep, path = entry.partition("=")
        if sep and re.fullmatch("[A-Z]{3}", party) and path:
            recipients.append((party, Path(path)))
        elif not parties_required and not sep:
            recipients.append((None, Path(entry)))
        else:
            raise typer.BadParameter(
                f"{entry!r}: name the recipient's party, as PARTY=kem.pub (e.g. DEU=deu/kem.pub),"
                " so that the label's releasability can be checked",
                param_hint="--to",
            )
    return recipients


def rewrap_command(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Sealed object.")],
    key: Annotated[Path, typer.Option(help="A current recipient's private KEM key.")],
    to: Annotated[
        list[str],
        typer.Option(
            help="PARTY=kem.pub: a new recipient's KEM public key and the party it belongs to "
            "(e.g. DEU=deu/kem.pub); repeatable. The label must release to PARTY."
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Rewrapped object to write.")],
    trust: Annotated[list[str], typer.Option(help=_TRUST_HELP)],
    drop_others: Annotated[
        bool, typer.Option(help="Keep only the new recipients' key access objects.")
    ] = False,
    unsafe_ignore_releasability: Annotated[
        bool,
        typer.Option(
            help="Unsafe: add recipients whatever the label releases to (a bare --to PATH is "
            "then accepted); a warning names each recipient not checked."
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Add (or replace) key access objects for --to recipients without touching the payload.

    Each recipient's party must be one the verified label releases to: passing an object on
    to a party the originator did not release it to needs the originator's consent, which
    only a node records (`cix docs transmit`, `cix consents`).
    """
    from cix.envelope import rewrap
    from cix.keys import load_kem_private, load_kem_public

    trusted = _trusted(trust)
    entries = _recipients(to, parties_required=not unsafe_ignore_releasability)
    recipients = [load_kem_public(path) for _, path in entries]
    if unsafe_ignore_releasability:
        for party, path in entries:
            typer.echo(
                f"warning: releasability not checked for {party or 'an unnamed party'} "
                f"({path}): --unsafe-ignore-releasability",
                err=True,
            )
    parties = None if unsafe_ignore_releasability else [p for p, _ in entries if p]
    private = load_kem_private(key, passphrase())
    with _input(input_path) as src, output_file(output, force=force, inputs=(input_path,)) as dst:
        rewrap(
            src,
            dst,
            private_key=private,
            to=recipients,
            trusted_signers=trusted,
            drop_others=drop_others,
            recipient_parties=parties,
        )
    typer.echo(f"rewrapped for {len(recipients)} recipient(s) -> {output}", err=True)


def register(app: typer.Typer) -> None:
    """Add `cix seal`, `cix open`, `cix inspect` and `cix rewrap`."""
    app.command("seal")(seal_command)
    app.command("open")(open_command)
    app.command("inspect")(inspect_command)
    app.command("rewrap")(rewrap_command)
