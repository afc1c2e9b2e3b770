"""Witnessing between pinned peers: each node cosigns its peers' audit-log checkpoints and
keeps their cosignatures of its own (C2SP tlog-witness, tlog-cosignature/v1).

As a witness (`add_checkpoint`), the node answers a peer's tlog-witness `add-checkpoint`
request: it cosigns the peer's checkpoint only if it extends the last one it cosigned for
that peer (state under `<data dir>/witness/`, see `cix.audit.witness`), and refuses a
rollback (`WitnessConflict`, with the size it knows) and a split view (`SplitView`, evidence
kept). As a log (`checkpoint_request`, `store_cosignature`), the node sends its newest
checkpoint with a consistency proof and stores the peer's cosignature in the table
`peer_cosignatures`. `check_log_against_cosignatures` then refuses a local log cut below,
or different from, a size a peer cosigned, even when the node's own evidence row
(`log_evidence`) was put back to an older genuine checkpoint.

Every decision is audited here (type `witness.*`), the refusals with their reason code; the
caller (the federation route) turns the exceptions into its answer (`tlog_witness_status`)
and needs to audit nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cix.audit.checkpoint import Signer, Verifier, open_checkpoint
from cix.audit.cosignature import CosignerKey, cosigner_from_vkey, verify_cosigned
from cix.audit.errors import (
    AuditInputError,
    CheckpointSignatureInvalid,
    InconsistentCheckpoint,
    LogTruncated,
    MalformedCheckpoint,
    RootMismatch,
    SplitView,
    WitnessConflict,
    WrongKey,
)
from cix.audit.witness import Witness
from cix.audit.witness_protocol import build_add_checkpoint, parse_add_checkpoint
from cix.errors import InputError, ServiceError, VerificationError
from cix.node.auditing import AuditRecord, AuditSink

if TYPE_CHECKING:
    from cix.audit import Log
    from cix.store.db import Database

#: Where a node keeps its witness state and split-view evidence, under its data directory.
WITNESS_DIR: Final = Path("witness")


def _reason(exc: BaseException) -> str:
    """The audit reason code of a refused `add-checkpoint`."""
    if isinstance(exc, WitnessConflict):
        return "witness-conflict"
    if isinstance(exc, InconsistentCheckpoint):
        return "inconsistent-proof"
    if isinstance(exc, SplitView):
        return "split-view"
    if isinstance(exc, WrongKey | CheckpointSignatureInvalid):
        return "not-signed-by-peer"
    return "malformed"


def tlog_witness_status(exc: BaseException) -> int:
    """The tlog-witness HTTP status for a refusal `add_checkpoint` raised: 409 for a
    `WitnessConflict` (body: `build_conflict_body(exc.known_size)`, content type
    `text/x.tlog.size`) and for a `SplitView` at the same size, 422 for an
    `InconsistentCheckpoint`, 403 for a checkpoint the peer's key did not sign, 400 for
    malformed input; anything else is not a refusal of the request (500)."""
    if isinstance(exc, WitnessConflict):
        return 409
    if isinstance(exc, InconsistentCheckpoint):
        return 422
    if isinstance(exc, SplitView):
        return 409
    if isinstance(exc, WrongKey | CheckpointSignatureInvalid):
        return 403
    if isinstance(exc, MalformedCheckpoint | InputError):
        return 400
    return 500


class Witnessing:
    """The node's witnessing of its peers and its record of their cosignatures.

    `db` is the node database, `log` the node's own audit log (opened with its signer, so
    that it holds signed checkpoints; None for a node whose audit sink is not a log: it can
    then witness its peers but has no checkpoint of its own to send), `witness` the node's
    witness (`open_witness`), `audit` where decisions are recorded, `clock` the time of
    stored cosignatures.
    """

    def __init__(
        self,
        db: Database,
        log: Log | None,
        witness: Witness,
        audit: AuditSink,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._log = log
        self._witness = witness
        self._audit = audit
        self._clock = clock

    @property
    def log(self) -> Log:
        """The node's own audit log; `ServiceError` when it has none (see the class)."""
        if self._log is None:
            raise ServiceError("this node's audit sink is not a log: no checkpoint to send")
        return self._log

    @property
    def witness(self) -> Witness:
        """The node's witness (its cosigner key: `witness.cosigner`)."""
        return self._witness

    # -- as a witness of a peer's log ------------------------------------------------------

    def add_checkpoint(
        self, peer_log_verifier: Verifier, request_text: str | bytes, now: datetime
    ) -> str:
        """Answer a pinned peer's `add-checkpoint` request for its log (`peer_log_verifier`,
        the peer's audit-log key): the response body, our tlog-cosignature/v1 line dated
        `now`. Refusals raise (see `tlog_witness_status`) and are audited with their reason;
        a split view's evidence is kept under the witness directory."""
        if now.tzinfo is None:
            raise AuditInputError("now: expected a timezone-aware time")
        origin = peer_log_verifier.name
        try:
            request = parse_add_checkpoint(request_text)
            response = self._witness.add_checkpoint(
                request, peer_log_verifier, timestamp=int(now.timestamp())
            )
        except (VerificationError, InputError) as exc:
            details: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)[:500]}
            if isinstance(exc, WitnessConflict):
                details["known_size"] = exc.known_size
            if isinstance(exc, SplitView):
                details["evidence"] = str(WITNESS_DIR / "evidence")
            self._record("witness.cosign", origin, "deny", now, (_reason(exc),), details)
            raise
        head = open_checkpoint(request.note, peer_log_verifier).checkpoint
        self._record(
            "witness.cosign",
            origin,
            "permit",
            now,
            (),
            {"size": head.size, "root": head.root.hex(), "old_size": request.old_size},
        )
        return response

    # -- as a log that peers witness -------------------------------------------------------

    def checkpoint_request(self, old_size: int) -> str:
        """The `add-checkpoint` request body for our newest signed checkpoint, with the
        consistency proof from `old_size` (the size the peer's witness last cosigned for us:
        `cosigned_size`, or what its 409 answer said). `LogTruncated` if `old_size` is past
        our newest checkpoint: the peer cosigned more of our log than we still have."""
        latest = self.log.latest_checkpoint()
        if latest is None:
            raise ServiceError("the audit log holds no signed checkpoint to send a witness")
        size = latest.checkpoint.size
        if isinstance(old_size, bool) or not isinstance(old_size, int) or old_size < 0:
            raise AuditInputError("old size: expected a non-negative integer")
        if old_size > size:
            raise LogTruncated(
                f"a witness cosigned size {old_size}, our newest checkpoint has size {size}"
            )
        proof = self.log.prove_consistency(old_size, size)
        return build_add_checkpoint(old_size, proof.path, latest.note)

    def cosigned_size(self, witness_name: str) -> int:
        """The largest size of ours that `witness_name` cosigned, as stored (0 if none)."""
        from sqlalchemy import func, select

        from cix.store.models import PeerCosignature

        with self._db.read() as session:
            found = session.scalar(
                select(func.max(PeerCosignature.size)).where(
                    PeerCosignature.witness_name == witness_name
                )
            )
        return int(found or 0)

    def store_cosignature(
        self, witness_name: str, witness_vkey: str, our_note: str, cosignature_line: str
    ) -> int:
        """Verify a peer witness's cosignature of our checkpoint `our_note` and store it;
        return the cosignature's time (seconds since the Epoch).

        `witness_vkey` is the peer's pinned witness key (tlog-cosignature form, or its plain
        note key); its name must be `witness_name`. Raises `WrongKey` when the line is not
        by that key (an unknown witness) or the note not by our log's key,
        `CheckpointSignatureInvalid` when a signature fails, `MalformedCheckpoint` for bad
        text, `RootMismatch` when a different root is already stored for that size. Nothing
        is stored unless everything verifies. Storing the same cosigned size again keeps the
        first row."""
        from sqlalchemy import select

        from cix.store.models import PeerCosignature

        key = cosigner_from_vkey(witness_vkey)
        if key.name != witness_name:
            raise WrongKey(f"witness key is named {key.name!r}, not {witness_name!r}")
        verifier = self.log.verifier
        if verifier is None:
            raise ServiceError("the audit log has no key: it cannot check its own checkpoint")
        signed = open_checkpoint(our_note, verifier)
        timestamp = key.verify_line(signed.checkpoint.text(), cosignature_line)
        line = cosignature_line if cosignature_line.endswith("\n") else cosignature_line + "\n"
        note = signed.note if line in signed.note.split("\n\n", 1)[1] else signed.note + line
        head = signed.checkpoint
        now = self._clock()
        with self._db.write() as session:
            row = session.scalars(
                select(PeerCosignature).where(
                    PeerCosignature.witness_name == witness_name,
                    PeerCosignature.size == head.size,
                )
            ).first()
            if row is not None and row.root != head.root.hex():
                raise RootMismatch(
                    f"{witness_name!r} already cosigned another root at size {head.size}"
                )
            if row is None:
                session.add(
                    PeerCosignature(
                        witness_name=witness_name,
                        size=head.size,
                        root=head.root.hex(),
                        note=note,
                        received_at=now,
                    )
                )
                self._record(
                    "witness.cosignature",
                    witness_name,
                    "permit",
                    now,
                    (),
                    {"size": head.size, "root": head.root.hex(), "time": timestamp},
                )
        return timestamp

    def _record(
        self,
        event_type: str,
        peer: str,
        decision: str,
        now: datetime,
        reasons: tuple[str, ...],
        details: dict[str, Any],
    ) -> None:
        self._audit.append(
            AuditRecord(
                type=event_type,
                actor=peer,
                object=f"log:{peer}",
                action="cosign",
                decision=decision,
                time=now,
                reasons=reasons,
                details=details,
            )
        )


def open_witness(data_dir: Path, signer: Signer) -> Witness:
    """The node's witness: key `signer`, state and evidence under `<data_dir>/witness/`."""
    return Witness(data_dir / WITNESS_DIR, signer)


def check_log_against_cosignatures(
    db: Database, log: Log, witnesses: Mapping[str, CosignerKey] | None = None
) -> list[tuple[str, int]]:
    """Raise unless the log reaches, with the same root, the largest size each peer witness
    cosigned (the rows of `peer_cosignatures`); return the (witness, size) pairs checked,
    largest size first.

    `LogTruncated` when the log has fewer entries than a cosigned size; `RootMismatch` when
    its root at that size is another, or when a row is not a note our log's key signed for
    that size and root (the row was edited). With `witnesses` (name → pinned key), a row of
    a named witness must also carry that witness's valid cosignature. A database older than
    the table holds no cosignature and passes.
    """
    from sqlalchemy import func, inspect, select

    from cix.store.models import PeerCosignature

    if not inspect(db.reader).has_table(PeerCosignature.__tablename__):
        return []
    with db.read() as session:
        largest = (
            select(PeerCosignature.witness_name, func.max(PeerCosignature.size).label("size"))
            .group_by(PeerCosignature.witness_name)
            .subquery()
        )
        rows = [
            (r.witness_name, r.size, r.root, r.note)
            for r in session.scalars(
                select(PeerCosignature).join(
                    largest,
                    (PeerCosignature.witness_name == largest.c.witness_name)
                    & (PeerCosignature.size == largest.c.size),
                )
            )
        ]
    have = log.size()
    verifier = log.verifier
    checked: list[tuple[str, int]] = []
    for name, size, root, note in sorted(rows, key=lambda r: (-r[1], r[0])):
        if verifier is not None:
            try:
                head = open_checkpoint(note, verifier).checkpoint
            except VerificationError:
                raise RootMismatch(
                    f"the cosignature row of {name!r} at size {size} is not a checkpoint "
                    "the log's key signed"
                ) from None
            if (head.size, head.root.hex()) != (size, root):
                raise RootMismatch(
                    f"the cosignature row of {name!r} disagrees with its own signed note "
                    "(the evidence was edited)"
                )
        if witnesses is not None and name in witnesses:
            verify_cosigned(note, witnesses[name])
        if have < size:
            raise LogTruncated(
                f"truncated: log has {have} entries, witness {name!r} cosigned size {size}"
            )
        if log.root(size).hex() != root:
            raise RootMismatch(
                f"the log's root at size {size} differs from the one witness {name!r} "
                "cosigned (entries rewritten)"
            )
        checked.append((name, size))
    return checked
