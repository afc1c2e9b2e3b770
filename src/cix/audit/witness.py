"""A witness: cosigns another log's checkpoints, never two histories of the same log.

For each log it watches (identified by the log's verifier key) the witness keeps the last
checkpoint it cosigned: its size, root and signed note. A new checkpoint is cosigned only if
it is signed by the log's key, is not older than that one, and a consistency proof shows it
extends that one (C2SP tlog-witness `add-checkpoint`). An older checkpoint, or a request
whose old size is not the one cosigned, is a `WitnessConflict` carrying the known size (the
protocol's 409). Two roots for one size, or a proof that fails, mean the log has shown a
split view: the witness refuses (`SplitView`, `InconsistentCheckpoint`) and writes both
signed checkpoints and the proof to its evidence directory. The cosignature is a
tlog-cosignature/v1 line dated by the caller (`timestamp`: no clock here).

State is one small JSON file per log, replaced atomically (write, fsync, rename) while a
lock file is held, so a crash never leaves a witness without its last cosigned checkpoint
and two processes never both advance it from the same size (the race tlog-witness warns of).
A crash between the write and the rename leaves a stray `.tmp` file, which is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from cix.audit.checkpoint import SignedCheckpoint, Signer, Verifier, open_checkpoint
from cix.audit.cosignature import CosignerKey, add_cosignature, cosigner_of
from cix.audit.errors import (
    AuditInputError,
    InconsistentCheckpoint,
    MalformedWitnessRequest,
    SplitView,
    WitnessConflict,
)
from cix.audit.proofs import ConsistencyProof, verify_consistency
from cix.audit.witness_protocol import AddCheckpointRequest
from cix.filelock import FileLock


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Witness:
    """A witness with key `signer`, keeping its state under `directory`."""

    def __init__(self, directory: Path, signer: Signer) -> None:
        self._dir = directory
        self._signer = signer
        self._locks: dict[Path, FileLock] = {}
        self._locks_guard = threading.Lock()
        (directory / "state").mkdir(parents=True, exist_ok=True)
        (directory / "evidence").mkdir(parents=True, exist_ok=True)

    @property
    def verifier(self) -> Verifier:
        """The witness's public key as a note key (its name and Ed25519 key)."""
        return self._signer.verifier

    @property
    def cosigner(self) -> CosignerKey:
        """The witness's public key as logs' clients check its cosignatures (type 0x04)."""
        return cosigner_of(self._signer.verifier)

    def _state_path(self, log_key: Verifier) -> Path:
        digest = hashlib.sha256(log_key.vkey().encode()).hexdigest()[:32]
        return self._dir / "state" / f"{digest}.json"

    def _lock(self, path: Path) -> FileLock:
        with self._locks_guard:
            lock = self._locks.get(path)
            if lock is None:
                lock = self._locks[path] = FileLock(path.with_suffix(".lock"))
            return lock

    def last_cosigned(self, log_key: Verifier) -> SignedCheckpoint | None:
        """The last checkpoint of the log with `log_key` this witness cosigned, if any."""
        path = self._state_path(log_key)
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise AuditInputError(f"{path}: unreadable witness state: {exc}") from exc
        if not isinstance(state, dict) or state.get("vkey") != log_key.vkey():
            raise AuditInputError(f"{path}: witness state is for another log key")
        signed = open_checkpoint(str(state.get("note")), log_key)
        head = signed.checkpoint
        if (state.get("size"), state.get("root")) != (head.size, head.root.hex()):
            raise AuditInputError(f"{path}: witness state's size and root disagree with its note")
        return signed

    def known_size(self, log_key: Verifier) -> int:
        """The size this witness last cosigned for the log (0 if none): a client's old size."""
        last = self.last_cosigned(log_key)
        return 0 if last is None else last.checkpoint.size

    def cosign(
        self,
        note: str,
        log_key: Verifier,
        proof: ConsistencyProof | None = None,
        *,
        timestamp: int,
    ) -> SignedCheckpoint:
        """Cosign the checkpoint `note` of the log with `log_key`; return it with our
        tlog-cosignature/v1 line dated `timestamp` (seconds since the Epoch) appended.

        The first checkpoint seen for a log is trusted on first use. Later ones need `proof`,
        a consistency proof from the last cosigned size (none when the size is unchanged).
        """
        return self._advance(note, log_key, None, proof, timestamp)

    def add_checkpoint(
        self, request: AddCheckpointRequest, log_key: Verifier, *, timestamp: int
    ) -> str:
        """Answer a tlog-witness `add-checkpoint` request for the log with `log_key`: the
        response body (our cosignature line), or raise: `WitnessConflict` (409, with the
        known size) when the request's old size is not ours or its checkpoint is older,
        `SplitView` (409) for another root at our size, `InconsistentCheckpoint` (422) when
        the proof fails, `WrongKey`/`CheckpointSignatureInvalid` (403) when the log's key did
        not sign it, `MalformedCheckpoint`/`MalformedWitnessRequest` (400)."""
        cosigned = self._advance(request.note, log_key, request.old_size, request.proof, timestamp)
        return cosigned.note[len(request.note) :]

    def _advance(
        self,
        note: str,
        log_key: Verifier,
        old_size: int | None,
        proof: ConsistencyProof | Sequence[bytes] | None,
        timestamp: int,
    ) -> SignedCheckpoint:
        new = open_checkpoint(note, log_key)
        path = self._state_path(log_key)
        with self._lock(path):  # check and persist atomically (tlog-witness's race)
            last = self.last_cosigned(log_key)
            known = 0 if last is None else last.checkpoint.size
            cur = new.checkpoint
            if cur.size < known:
                raise WitnessConflict(
                    f"checkpoint of size {cur.size} is older than the cosigned size {known} "
                    "(replayed or rolled back)",
                    known,
                )
            if old_size is not None and old_size != known:
                raise WitnessConflict(
                    f"old size {old_size} is not the size {known} this witness cosigned", known
                )
            if last is not None:
                self._check_extends(last, new, proof)
            if last is None or cur.size > known:
                state = {
                    "vkey": log_key.vkey(),
                    "size": cur.size,
                    "root": cur.root.hex(),
                    "note": new.note,
                }
                _write_atomic(path, json.dumps(state).encode())
        return add_cosignature(new, self._signer, timestamp)

    def _check_extends(
        self,
        last: SignedCheckpoint,
        new: SignedCheckpoint,
        proof: ConsistencyProof | Sequence[bytes] | None,
    ) -> None:
        old, cur = last.checkpoint, new.checkpoint
        if isinstance(proof, ConsistencyProof) or proof is None:
            given = proof
        else:
            given = ConsistencyProof(old.size, cur.size, tuple(proof))
        if cur.size == old.size:
            if cur.root != old.root:
                self._keep_evidence(last, new, given)
                raise SplitView(f"two different roots signed for size {cur.size}")
            if given is not None and given.path:
                raise MalformedWitnessRequest("proof: must be empty for an unchanged size")
            return
        if given is None:
            raise AuditInputError(
                f"a consistency proof from size {old.size} to {cur.size} is required"
            )
        try:
            verify_consistency(old, cur, given)
        except SplitView as exc:
            self._keep_evidence(last, new, given)
            raise InconsistentCheckpoint(str(exc)) from exc

    def _keep_evidence(
        self, old: SignedCheckpoint, new: SignedCheckpoint, proof: ConsistencyProof | None
    ) -> Path:
        record = {
            "log_key": old.checkpoint.origin,
            "cosigned": old.note,
            "presented": new.note,
            "proof": proof.to_json() if proof else None,
        }
        data = json.dumps(record, indent=2, sort_keys=True).encode()
        path = self._dir / "evidence" / f"split-view-{hashlib.sha256(data).hexdigest()[:16]}.json"
        _write_atomic(path, data)
        return path

    def evidence(self) -> list[Path]:
        """The split-view evidence files kept so far."""
        return sorted((self._dir / "evidence").glob("split-view-*.json"))
