"""cix decide …: access decisions for a subject, a label and an action.

One request: `cix decide --agreement kor-can --subject alice.json --label 'SECRET//REL TO
CAN, KOR' --action read` prints `{"permit", "reasons", "obligations"}` and exits 0 on a
permit, 1 on a deny, 2 on bad input. A batch: `cix decide --batch requests.jsonl` reads one
`{"subject", "label", "action", "to", "at", ...}` object a line and prints one decision a
line (exit 0 when all permit, 1 when any denies).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cix.cli.terminal import json_text

if TYPE_CHECKING:
    from cix.agreements import Agreement
    from cix.labels import Label
    from cix.policy import Policies, Subject


def register(app: typer.Typer) -> None:
    """Add `cix decide` to the `cix` app."""
    app.command("decide")(decide_command)


def decide_command(
    agreement: Annotated[
        list[str] | None,
        typer.Option(
            "--agreement",
            "-a",
            help="Agreement id (repeatable); national policies of its parties come along.",
        ),
    ] = None,
    subject: Annotated[
        Path | None, typer.Option("--subject", "-s", help="Subject JSON file.")
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", "-l", help="Label: a banner or a JSON object.")
    ] = None,
    action: Annotated[
        str, typer.Option(help="read, create, transmit, release, downgrade or destroy.")
    ] = "read",
    to: Annotated[
        str | None, typer.Option("--to", help="Recipient party of transmit or release.")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Decision time, ISO 8601 with zone (default: now).")
    ] = None,
    consent: Annotated[
        str | None, typer.Option(help="Reference of the originator's consent.")
    ] = None,
    purpose: Annotated[str | None, typer.Option(help="The purpose the subject states.")] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Label of a source (create; repeatable)."),
    ] = None,
    batch: Annotated[
        Path | None, typer.Option("--batch", help="JSON Lines file of requests.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="A node's data directory: decide for --person on --document there."
        ),
    ] = None,
    person: Annotated[
        str | None, typer.Option("--person", help="With --dir: a person of the node's registry.")
    ] = None,
    document: Annotated[
        str | None, typer.Option("--document", help="With --dir: a document id of the node.")
    ] = None,
) -> None:
    """Decide whether a subject may act on information under a label; print the decision.
    With --dir, --person and --document: the decision the node would make now for that
    person on that document (why was alice refused?), audited as the operator's question."""
    from cix.errors import InputError
    from cix.policy import Request, action_of, decide_many

    if data_dir is not None or person is not None or document is not None:
        if subject is not None or label is not None or batch is not None or agreement:
            raise InputError(
                "--dir/--person/--document: not with --subject, --label, --batch or "
                "--agreement (the node's registry and policies are used)"
            )
        if data_dir is None or person is None or document is None:
            raise InputError("give --dir, --person and --document together")
        _explain(data_dir, person, document, action)
    agreement_ids = list(agreement or [])
    if batch is not None:
        if subject is not None or label is not None:
            raise InputError("--batch cannot be combined with --subject or --label")
        requests, policies = _read_batch(batch, agreement_ids)
        decisions = decide_many(requests, agreements=policies)
        for decision in decisions:
            sys.stdout.write(json_text(decision.to_json(), indent=None) + "\n")
        raise typer.Exit(0 if all(d.permit for d in decisions) else 1)

    if not agreement_ids:
        raise InputError("--agreement is required (or use --batch)")
    if subject is None or label is None:
        raise InputError("--subject and --label are required (or use --batch)")
    policies = _policies(agreement_ids)
    now = _instant(at, "--at")
    under = agreement_ids[0]
    request = Request(
        subject=_subject_file(subject, policies),
        label=_label(label, policies, "--label", banner_under=under, at=now),
        action=action_of(action),
        now=now,
        to=_party(to, "--to"),
        consent=consent,
        purpose=purpose,
        sources=tuple(
            _label(s, policies, f"--source {s!r}", banner_under=under, at=now) for s in source or []
        ),
    )
    (decision,) = decide_many([request], agreements=policies)
    sys.stdout.write(json_text(decision.to_json()) + "\n")
    raise typer.Exit(0 if decision.permit else 1)


def _explain(data_dir: Path, person: str, document: str, action: str) -> None:
    import getpass

    from cix.node.exchange.peers import local_operator
    from cix.node.explain import explain
    from cix.node.service import Node
    from cix.policy import action_of

    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        name = "unknown"
    node = Node.open(data_dir, unlock=False)
    try:
        operator = local_operator(name)
        decision = explain(node.documents.reg, operator, person, document, action_of(action))
    finally:
        node.close()
    sys.stdout.write(json_text(decision.to_json()) + "\n")
    raise typer.Exit(0 if decision.permit else 1)


def _policies(agreement_ids: list[str]) -> Policies:
    """The named agreements plus the bundled national policy of each of their parties."""
    from cix.agreements import bundled, bundled_ids
    from cix.policy import Policies

    chosen: dict[str, Agreement] = {}
    for agreement_id in agreement_ids:
        if agreement_id not in chosen:
            chosen[agreement_id] = bundled(agreement_id)
    available = set(bundled_ids())
    for held in list(chosen.values()):
        for party in held.parties:
            national = f"{party.lower()}-national"
            if national in available and national not in chosen:
                chosen[national] = bundled(national)
    return Policies(chosen.values())


def _label(text: str, policies: Policies, where: str, *, banner_under: str, at: datetime) -> Label:
    """A label from a JSON object, 4774 XML, or a banner read under agreement `banner_under`.

    A banner carries no creation time; the decision time stands in for it (no rule reads it).
    """
    from cix.agreements import Registry
    from cix.errors import InputError
    from cix.labels import parse_label

    held = {p.agreement.id: p.agreement for p in policies.policies.values()}
    registry = Registry(held)
    stripped = text.lstrip()
    try:
        if stripped.startswith(("{", "<")):
            return parse_label(stripped, registry=registry)
        return parse_label(stripped, held[banner_under], registry=registry, created=at)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _coded(obj: Any, policies: Policies) -> Any:
    """`obj` (a subject's JSON) with each clearance level given by its name (`SECRET`,
    `군사Ⅱ급비밀`) replaced by its code in the issuing party's scheme, as the node's API and
    `cix registry` take them; anything else is left for the subject's checks to judge."""
    if not isinstance(obj, dict):
        return obj

    def code(clearance: Any) -> Any:
        if not isinstance(clearance, dict) or not isinstance(clearance.get("level"), str):
            return clearance
        for policy in policies.policies.values():
            scheme = policy.agreement.schemes.get(str(clearance.get("party")))
            found = scheme.find(clearance["level"]) if scheme is not None else None
            if found is not None:
                return {**clearance, "level": found.code}
        return clearance

    coded = dict(obj)
    if "clearance" in coded:
        coded["clearance"] = code(coded["clearance"])
    org = coded.get("organisation")
    if isinstance(org, dict) and "facility_clearance" in org:
        coded["organisation"] = {**org, "facility_clearance": code(org["facility_clearance"])}
    return coded


def _subject_file(path: Path, policies: Policies) -> Subject:
    from cix.errors import InputError
    from cix.policy import subject_from_json

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the subject file ({exc})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from None
    return subject_from_json(_coded(obj, policies), where=str(path))


def _instant(text: str | None, where: str) -> datetime:
    from cix.policy.subject import parse_instant

    if text is None:
        return datetime.now(UTC)
    return parse_instant(text, where)


def _party(text: str | None, where: str) -> str | None:
    from cix.errors import InputError

    if text is None:
        return None
    if len(text) != 3 or not text.isascii() or not text.isupper() or not text.isalpha():
        raise InputError(f"{where}: {text!r} is not a party (an ISO alpha-3 code such as CAN)")
    return text


def _read_batch(path: Path, agreement_ids: list[str]) -> tuple[list[Any], Policies]:
    """Parse every line first, so that a bad line stops the batch before any output."""
    from cix.errors import InputError
    from cix.policy import Request, action_of, subject_from_json

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the batch file ({exc})") from None
    objects: list[tuple[int, dict[str, Any]]] = []
    ids = list(agreement_ids)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object")
        allowed = {
            "subject", "label", "action", "to", "at", "consent", "purpose", "sources", "agreement"
        }  # fmt: skip
        unknown = sorted(set(obj) - allowed)
        if unknown:
            raise InputError(f"{where}: unknown key {unknown[0]!r} (allowed: {sorted(allowed)})")
        line_agreement = obj.get("agreement")
        if line_agreement is not None and not isinstance(line_agreement, str):
            raise InputError(f"{where}.agreement: expected an agreement id")
        if line_agreement is not None:
            ids.append(line_agreement)
        objects.append((number, obj))
    if not ids:
        raise InputError("--agreement is required unless every line names its agreement")
    policies = _policies(ids)

    subjects: dict[str, Subject] = {}
    requests = []
    for number, obj in objects:
        where = f"{path}:{number}"
        for key in ("subject", "label"):
            if key not in obj:
                raise InputError(f"{where}: missing key {key!r}")
        raw_subject = obj["subject"]
        if isinstance(raw_subject, str):
            # a path, relative to the batch file; each file is read once
            if raw_subject not in subjects:
                subjects[raw_subject] = _subject_file(path.parent / raw_subject, policies)
            subject = subjects[raw_subject]
        else:
            subject = subject_from_json(_coded(raw_subject, policies), where=f"{where}.subject")
        raw_label = obj["label"]
        label_text = raw_label if isinstance(raw_label, str) else json.dumps(raw_label)
        sources = obj.get("sources", [])
        if not isinstance(sources, list):
            raise InputError(f"{where}.sources: expected a list of labels")
        for key in ("action", "to", "at", "consent", "purpose"):
            if obj.get(key) is not None and not isinstance(obj[key], str):
                raise InputError(f"{where}.{key}: expected a string")
        under = obj.get("agreement") or ids[0]
        try:
            now = _instant(obj.get("at"), "at")
            requests.append(
                Request(
                    subject=subject,
                    label=_label(label_text, policies, "label", banner_under=under, at=now),
                    action=action_of(obj.get("action") or "read"),
                    now=now,
                    to=_party(obj.get("to"), "to"),
                    consent=obj.get("consent"),
                    purpose=obj.get("purpose"),
                    sources=tuple(
                        _label(
                            s if isinstance(s, str) else json.dumps(s),
                            policies,
                            "sources",
                            banner_under=under,
                            at=now,
                        )
                        for s in sources
                    ),
                )
            )
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    return requests, policies
