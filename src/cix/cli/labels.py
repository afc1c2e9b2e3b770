"""cix label …: check, translate and render classification labels.

LABEL is a banner line or portion mark (`SECRET//CPSP//REL TO CAN, KOR`), a JSON object
(`{"policy": …}`) or STANAG 4774 XML; `@PATH` reads it from a file and `-` from stdin.
Bad input exits 2 with a message naming the problem.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from cix.agreements import Agreement, Registry
    from cix.labels import AlternativeLabel, Label

label_app = typer.Typer(
    name="label",
    help="Check, translate and render classification labels.",
    no_args_is_help=True,
)

LabelArg = Annotated[
    str,
    typer.Argument(
        help="A banner, portion mark, JSON object or 4774 XML; @PATH reads a file, - stdin."
    ),
]
AgreementOpt = Annotated[
    str | None,
    typer.Option(
        "--agreement",
        "-a",
        help="Agreement or national policy: a bundled id (kor-can) or a TOML file path.",
    ),
]
CreatedOpt = Annotated[
    str | None,
    typer.Option(
        "--created",
        help="Creation time for a banner (RFC 3339 with offset); default: now.",
    ),
]
PurposeOpt = Annotated[
    str | None, typer.Option("--purpose", help="Purpose for a banner (e.g. research).")
]


def _read(label: str) -> str:
    from cix.errors import InputError

    if label == "-":
        return sys.stdin.read()
    if label.startswith("@"):
        path = Path(label[1:])
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read the label: {exc}") from None
    return label


def _context(agreement_id: str | None) -> tuple[Agreement | None, Registry]:
    from cix.agreements import bundled_registry, load_agreement, registry_of

    if agreement_id is None:
        return None, bundled_registry()
    if agreement_id.endswith(".toml") or "/" in agreement_id:
        agreement = load_agreement(agreement_id)
    else:
        agreement = bundled_registry().get(agreement_id)
    return agreement, registry_of(agreement)


def _parse(
    label: str, agreement_id: str | None, created: str | None, purpose: str | None
) -> tuple[Label | AlternativeLabel, Agreement, Registry]:
    from cix.labels import AlternativeLabel, parse_any, parse_time

    agreement, registry = _context(agreement_id)
    moment = parse_time(created, "--created") if created else datetime.now(UTC)
    parsed = parse_any(
        _read(label), agreement=agreement, registry=registry, created=moment, purpose=purpose
    )
    original = parsed.label if isinstance(parsed, AlternativeLabel) else parsed
    return parsed, registry.get(original.policy), registry


@label_app.command("check")
def check(
    label: LabelArg,
    agreement: AgreementOpt = None,
    created: CreatedOpt = None,
    purpose: PurposeOpt = None,
) -> None:
    """Validate LABEL and print its canonical JSON (the originator's label)."""
    from cix.labels import AlternativeLabel, canonical_json

    parsed, _, _ = _parse(label, agreement, created, purpose)
    original = parsed.label if isinstance(parsed, AlternativeLabel) else parsed
    typer.echo(canonical_json(original).decode("utf-8"))


@label_app.command("translate")
def translate(
    label: LabelArg,
    agreement: Annotated[
        str, typer.Option("--agreement", "-a", help="The agreement to translate under.")
    ],
    to: Annotated[str, typer.Option("--to", help="The party whose scheme to mark in.")],
    language: Annotated[
        str | None,
        typer.Option("--language", "-l", help="en, fr, ko or de; default: the party's own."),
    ] = None,
    portion: Annotated[bool, typer.Option("--portion", help="Print a portion mark.")] = False,
    created: CreatedOpt = None,
    purpose: PurposeOpt = None,
) -> None:
    """Print the equivalent marking of LABEL in party TO's scheme, naming the originator."""
    from cix.labels import AlternativeLabel, alternative_label, banner

    parsed, policy, _ = _parse(label, agreement, created, purpose)
    original = parsed.label if isinstance(parsed, AlternativeLabel) else parsed
    scheme = policy.scheme(to.strip().upper())
    marking: Label | AlternativeLabel = original
    if scheme.party != original.originator:
        marking = alternative_label(original, policy, scheme.party)
    typer.echo(banner(marking, policy, language or scheme.language, portion=portion))


@label_app.command("xml")
def xml(
    label: LabelArg,
    agreement: AgreementOpt = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Write the alternative label in this party's scheme."),
    ] = None,
    created: CreatedOpt = None,
    purpose: PurposeOpt = None,
) -> None:
    """Print LABEL as STANAG 4774 XML (the alternative label with --to)."""
    from cix.labels import AlternativeLabel, alternative_label, to_4774_xml

    parsed, policy, registry = _parse(label, agreement, created, purpose)
    marking: Label | AlternativeLabel = parsed
    if to is not None:
        original = parsed.label if isinstance(parsed, AlternativeLabel) else parsed
        party = policy.scheme(to.strip().upper()).party
        marking = (
            original if party == original.originator else alternative_label(original, policy, party)
        )
    sys.stdout.write(to_4774_xml(marking, registry).decode("utf-8"))


@label_app.command("banner")
def banner_command(
    label: LabelArg,
    agreement: AgreementOpt = None,
    language: Annotated[str, typer.Option("--language", "-l", help="en, fr, ko or de.")] = "en",
    portion: Annotated[bool, typer.Option("--portion", help="Print a portion mark.")] = False,
    created: CreatedOpt = None,
    purpose: PurposeOpt = None,
) -> None:
    """Print LABEL's banner line (or portion mark) in a language."""
    from cix.labels import banner

    parsed, policy, _ = _parse(label, agreement, created, purpose)
    typer.echo(banner(parsed, policy, language, portion=portion))


@label_app.command("visibility")
def visibility(
    label: LabelArg,
    agreement: AgreementOpt = None,
    created: CreatedOpt = None,
    purpose: PurposeOpt = None,
) -> None:
    """Print LABEL as an Accumulo-style visibility expression."""
    from cix.labels import AlternativeLabel, visibility_expression

    parsed, policy, _ = _parse(label, agreement, created, purpose)
    original = parsed.label if isinstance(parsed, AlternativeLabel) else parsed
    typer.echo(visibility_expression(original, policy))


def register(app: typer.Typer) -> None:
    """Add `cix label …` to the `cix` app."""
    app.add_typer(label_app)
