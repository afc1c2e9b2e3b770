"""cix audit …: the tamper-evident audit log (append, tail, checkpoint, prove, verify, witness,
and a node's peers' cosignatures).

LOG is a SQLite file path or a PostgreSQL URL. Keys are encrypted at rest under the
passphrase in `CIX_PASSPHRASE` or the file named by `CIX_PASSPHRASE_FILE`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cix.cli.terminal import escaped_json_line, json_text, printable
from cix.errors import InputError

if TYPE_CHECKING:
    from cix.audit import Log

audit_app = typer.Typer(
    name="audit",
    help="The tamper-evident audit log: append, tail, checkpoint, prove, verify, witness.",
    no_args_is_help=True,
)
witness_app = typer.Typer(
    name="witness", help="Cosign other logs' checkpoints; refuse split views.", no_args_is_help=True
)
audit_app.add_typer(witness_app)

LogOption = Annotated[str, typer.Option("--log", help="SQLite path or postgresql:// URL.")]
KeyOption = Annotated[Path, typer.Option("--key", help="The log's signing key file.")]


def register(app: typer.Typer) -> None:
    """Add `cix audit …` to the `cix` app."""
    app.add_typer(audit_app)


def _passphrase() -> bytes:
    from cix.audit.errors import AuditInputError

    value = os.environ.get("CIX_PASSPHRASE")
    if value:
        return value.encode()
    file = os.environ.get("CIX_PASSPHRASE_FILE")
    if file:
        try:
            return Path(file).read_text().rstrip("\n").encode()
        except OSError as exc:
            raise AuditInputError(f"CIX_PASSPHRASE_FILE {file}: {exc.strerror}") from exc
    raise AuditInputError("set CIX_PASSPHRASE or CIX_PASSPHRASE_FILE to unlock the key")


def _open(log: str, *, create: bool = False) -> Log:
    from cix.audit import open_log

    return open_log(log, create=create)


def _refuse(reason: str) -> typer.Exit:
    typer.echo(f"refused: {reason}", err=True)
    return typer.Exit(1)


@audit_app.command()
def keygen(
    name: Annotated[str, typer.Option(help="Key name: the log's origin, e.g. kor.cix/audit.")],
    out: Annotated[Path, typer.Option(help="Key file to create (and OUT.pub beside it).")],
) -> None:
    """Create an encrypted Ed25519 signing key for a log or a witness."""
    from cix.audit import generate_signer, save_signer

    signer = generate_signer(name)
    save_signer(out, signer, _passphrase())
    typer.echo(signer.verifier.vkey())


@audit_app.command()
def append(
    log: LogOption,
    node: Annotated[
        str | None, typer.Option(help="Node for lines without one (default: $CIX_NODE).")
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", help="Also sign a checkpoint with this key.")
    ] = None,
) -> None:
    """Append JSON lines from stdin as entries, all or none; fills in seq, time and node."""
    from datetime import UTC, datetime

    from cix.audit import event_from_json, load_signer
    from cix.audit.errors import AuditInputError

    default_node = node or os.environ.get("CIX_NODE") or None
    now = datetime.now(UTC)
    seqs: list[int | None] = []
    events = []
    for number, line in enumerate(sys.stdin.buffer, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AuditInputError(f"stdin line {number}: not JSON: {exc}") from exc
        try:
            seq, event = event_from_json(obj, default_time=now, default_node=default_node)
        except AuditInputError as exc:
            hint = " (give --node or set CIX_NODE)" if str(exc) == "node: missing" else ""
            raise type(exc)(f"stdin line {number}: {exc}{hint}") from exc
        seqs.append(seq)
        events.append(event)
    signer = load_signer(key, _passphrase()) if key else None
    with _open(log, create=True) as audit_log:
        entries = audit_log.append_batch(events, seqs=seqs)
        if signer is not None:
            typer.echo(audit_log.checkpoint(signer).note, nl=False)
    if entries:
        typer.echo(
            f"appended {len(entries)} entries ({entries[0].seq}..{entries[-1].seq})", err=True
        )
    else:
        typer.echo("appended nothing (no lines on stdin)", err=True)


DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="A node's data directory: its log, checked with the node's audit key."
    ),
]


def _log_and_key(log: str | None, data_dir: Path | None) -> tuple[str, Path | None]:
    """The log named by exactly one of --log and --dir, and the node's pinned audit key."""
    from cix.audit.errors import AuditInputError

    if (log is None) == (data_dir is None):
        raise AuditInputError("give exactly one of --log and --dir")
    if data_dir is None:
        assert log is not None
        return log, None
    from cix.audit.keyfile import public_path
    from cix.node.keyring import AUDIT_KEY, KEYS_DIR
    from cix.settings import load_settings

    settings = load_settings(data_dir)
    node_key = public_path(settings.data_dir / KEYS_DIR / AUDIT_KEY)
    return settings.audit_log.reveal(), node_key if node_key.exists() else None


#: The most entries `tail` reads back through when filtering (newest first).
TAIL_SCAN = 200_000
_TAIL_WINDOW = 2_000


@audit_app.command()
def tail(
    log: Annotated[
        str | None, typer.Option("--log", help="SQLite path or postgresql:// URL.")
    ] = None,
    data_dir: DirOption = None,
    n: Annotated[int, typer.Option("-n", min=1, max=100_000, help="How many entries.")] = 10,
    actor: Annotated[str | None, typer.Option(help="Only this actor's entries.")] = None,
    document: Annotated[
        str | None, typer.Option(help="Only entries about this document (its id).")
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--type", help="Only this type (document, registry, …).")
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action (read, transmit, …).")
    ] = None,
    decision: Annotated[str | None, typer.Option(help="Only permit or deny.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only at or after this time (ISO 8601 with a zone).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Only before this time (ISO 8601).")] = None,
    readable: Annotated[
        bool, typer.Option("--readable", help="One readable line an entry instead of JSON.")
    ] = False,
) -> None:
    """Print the last N entries (of a log, or of a node with --dir), oldest first, as JSON
    lines or --readable; the filters read back through at most 200,000 entries."""
    from cix.policy.subject import parse_instant

    log, _ = _log_and_key(log, data_dir)
    start = parse_instant(since, "--since") if since is not None else None
    end = parse_instant(until, "--until") if until is not None else None
    if decision is not None and decision not in ("permit", "deny"):
        raise InputError(f"--decision: {decision!r} is not permit or deny")

    def wanted(event: Any) -> bool:
        return (
            (actor is None or event.actor == actor)
            and (kind is None or event.type == kind)
            and (action is None or event.action == action)
            and (decision is None or event.decision == decision)
            and (document is None or (event.object or "").endswith(f":{document}"))
            and (start is None or event.time >= start)
            and (end is None or event.time < end)
        )

    found: list[Any] = []
    with _open(log) as audit_log:
        upper = audit_log.size()
        floor = max(0, upper - TAIL_SCAN)
        while upper > floor and len(found) < n:
            lower = max(floor, upper - _TAIL_WINDOW)
            window = [e for e in audit_log.entries(lower, upper) if wanted(e.event)]
            found = window[-(n - len(found)) :] + found
            upper = lower
    for entry in found:
        typer.echo(_readable(entry) if readable else escaped_json_line(entry.body.decode()))


def _readable(entry: Any) -> str:
    event = entry.event
    when = event.time.strftime("%Y-%m-%d %H:%M:%SZ")
    words = [f"#{entry.seq}", when, event.type, event.action or "-", event.decision or "-",
             event.actor, event.object or "-"]  # fmt: skip
    if event.reasons:
        words.append("(" + ", ".join(event.reasons) + ")")
    return printable("  ".join(words))


@audit_app.command()
def checkpoint(log: LogOption, key: KeyOption) -> None:
    """Sign the current tree head with the log's key, store it and print it."""
    from cix.audit import load_signer

    signer = load_signer(key, _passphrase())
    with _open(log) as audit_log:
        typer.echo(audit_log.checkpoint(signer).note, nl=False)


@audit_app.command()
def prove(
    log: LogOption,
    index: Annotated[int | None, typer.Option(help="Prove this entry's inclusion.")] = None,
    old_size: Annotated[
        int | None, typer.Option(help="Prove the tree extends the one of this size.")
    ] = None,
    size: Annotated[int | None, typer.Option(help="Tree size (default: current).")] = None,
) -> None:
    """Print an inclusion proof (--index) or a consistency proof (--old-size) as JSON."""
    from cix.audit.errors import AuditInputError

    if (index is None) == (old_size is None):
        raise AuditInputError("give exactly one of --index or --old-size")
    with _open(log) as audit_log:
        if index is not None:
            proof = audit_log.prove_inclusion(index, size).to_json()
            proof["entry"] = audit_log.entries(index, index + 1)[0].to_json()
        else:
            assert old_size is not None
            proof = audit_log.prove_consistency(old_size, size).to_json()
    typer.echo(json_text(proof))


@audit_app.command()
def verify(
    log: Annotated[
        str | None, typer.Option("--log", help="SQLite path or postgresql:// URL.")
    ] = None,
    log_key: Annotated[
        str | None, typer.Option(help="Verifier key (file or text) instead of the pinned one.")
    ] = None,
    data_dir: DirOption = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes to verify with (default: one per CPU; 1: this one)."),
    ] = None,
) -> None:
    """Recompute the whole log; exit 0 when intact, 1 naming the first thing broken."""
    from cix.audit import load_verifier
    from cix.errors import VerificationError

    log, node_key = _log_and_key(log, data_dir)
    if log_key is None and node_key is not None:
        log_key = str(node_key)
    verifier = load_verifier(log_key) if log_key else None
    cosigned: list[tuple[str, int]] = []
    with _open(log) as audit_log:
        try:
            report = audit_log.verify(log_key=verifier, workers=workers)
            if data_dir is not None:
                cosigned = _check_against_node_database(data_dir, audit_log)
        except VerificationError as exc:
            raise _refuse(f"{type(exc).__name__}: {exc}") from None
    typer.echo(
        f"intact: {report.size} entries, root {report.root.hex()}, "
        f"{report.checkpoints} signed checkpoints checked"
    )
    if data_dir is not None:
        if not cosigned:
            typer.echo("no peer has cosigned this log yet")
        for witness, size in cosigned:
            typer.echo(f"reaches size {size}, cosigned by {witness}")


def _check_against_node_database(data_dir: Path, audit_log: Log) -> list[tuple[str, int]]:
    """A node's log must reach the checkpoint its database recorded and every size a peer
    cosigned (a cut tail is caught); the (witness, size) pairs checked."""
    from cix.node.logcheck import check_node_log

    return check_node_log(data_dir, audit_log)


@audit_app.command()
def cosignatures(
    data_dir: Annotated[Path, typer.Option("--dir", help="A node's data directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """List the peers' cosignatures of this node's audit log: witness, peer, size, root,
    and the cosignature's time (verified against the peer's pinned audit key)."""
    from cix.node.logcheck import list_cosignatures

    rows = list_cosignatures(data_dir)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row.to_json(), sort_keys=True))
        return
    if not rows:
        typer.echo("no cosignatures: no peer has witnessed this log yet")
        return
    for row in rows:
        at = row.cosigned_at.isoformat() if row.cosigned_at else "NOT VERIFIED by a pinned key"
        typer.echo(
            f"{row.peer or '(not pinned)'}  {row.witness}  size {row.size}  "
            f"root {row.root[:16]}…  cosigned {at}"
        )


@audit_app.command("check-proof")
def check_proof(
    checkpoint: Annotated[Path, typer.Option(help="Signed checkpoint file.")],
    log_key: Annotated[str, typer.Option(help="The log's verifier key (file or text).")],
    proof: Annotated[Path, typer.Option(help="Proof JSON from `cix audit prove`.")],
    old_checkpoint: Annotated[
        Path | None, typer.Option(help="For a consistency proof: the older checkpoint.")
    ] = None,
) -> None:
    """Check a proof against a signed checkpoint with only the log's public key."""
    from cix.audit import (
        ConsistencyProof,
        load_verifier,
        open_checkpoint,
        proof_from_json,
        verify_inclusion,
        verify_signed_consistency,
    )
    from cix.audit.entry import canonical_json
    from cix.audit.errors import AuditInputError
    from cix.errors import VerificationError

    verifier = load_verifier(log_key)
    obj = _read_json(proof)
    parsed = proof_from_json({k: v for k, v in obj.items() if k != "entry"})
    note = _read_text(checkpoint)
    try:
        if isinstance(parsed, ConsistencyProof):
            if old_checkpoint is None:
                raise AuditInputError("a consistency proof needs --old-checkpoint")
            old = open_checkpoint(_read_text(old_checkpoint), verifier)
            verify_signed_consistency(old, note, parsed, verifier)
            typer.echo(f"consistent: size {parsed.new_size} extends size {parsed.old_size}")
        else:
            if "entry" not in obj:
                raise AuditInputError(f"{proof}: an inclusion proof needs its 'entry'")
            entry = obj["entry"]
            if not isinstance(entry, dict):
                raise AuditInputError(f"{proof}: 'entry' must be a JSON object")
            verify_inclusion(canonical_json(entry), parsed, note, verifier)
            typer.echo(f"included: entry {parsed.index} is in the tree of size {parsed.size}")
    except VerificationError as exc:
        raise _refuse(f"{type(exc).__name__}: {exc}") from None


def _read_text(path: Path) -> str:
    from cix.audit.errors import AuditInputError

    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditInputError(f"{path}: cannot read: {exc}") from exc


def _read_json(path: Path) -> dict[str, object]:
    from cix.audit.errors import AuditInputError

    try:
        obj = json.loads(_read_text(path))
    except ValueError as exc:
        raise AuditInputError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise AuditInputError(f"{path}: expected a JSON object")
    return obj


WitnessDir = Annotated[Path, typer.Option("--dir", help="The witness's state directory.")]


@witness_app.command("init")
def witness_init(
    directory: WitnessDir,
    name: Annotated[str, typer.Option(help="The witness's key name.")],
) -> None:
    """Create a witness: its state directory and encrypted key (DIR/witness.key)."""
    from cix.audit import generate_signer, save_signer
    from cix.audit.errors import AuditInputError

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AuditInputError(f"{directory}: cannot create: {exc.strerror}") from exc
    signer = generate_signer(name)
    save_signer(directory / "witness.key", signer, _passphrase())
    typer.echo(signer.verifier.vkey())


@witness_app.command("cosign")
def witness_cosign(
    directory: WitnessDir,
    checkpoint: Annotated[Path, typer.Option(help="The log's signed checkpoint file.")],
    log_key: Annotated[str, typer.Option(help="The log's verifier key (file or text).")],
    proof: Annotated[
        Path | None, typer.Option(help="Consistency proof from the last cosigned size.")
    ] = None,
) -> None:
    """Cosign a checkpoint if it extends the last one cosigned; print the cosigned note."""
    from cix.audit import ConsistencyProof, load_signer, load_verifier, proof_from_json
    from cix.audit.errors import AuditInputError
    from cix.audit.witness import Witness
    from cix.errors import VerificationError

    verifier = load_verifier(log_key)
    parsed = proof_from_json(_read_json(proof)) if proof else None
    if parsed is not None and not isinstance(parsed, ConsistencyProof):
        raise AuditInputError(f"{proof}: expected a consistency proof")
    witness = Witness(directory, load_signer(directory / "witness.key", _passphrase()))
    try:
        # The cosignature's time is the witness's clock (tlog-cosignature/v1).
        cosigned = witness.cosign(
            _read_text(checkpoint), verifier, parsed, timestamp=int(time.time())
        )
    except VerificationError as exc:
        raise _refuse(f"{type(exc).__name__}: {exc}") from None
    typer.echo(cosigned.note, nl=False)
