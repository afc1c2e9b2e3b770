"""A witness: cosigns another log's checkpoints, never two histories of the same log.

For each log it watches (identified by the log's verifier key) the witness keeps the last
checkpoint it cosigned. A new checkpoint is cosigned only if it is signed by the log's key,
is not older than that one (`CheckpointReplayed`), and a consistency proof shows it extends
that one. Otherwise the log has shown a split view: the witness refuses (`SplitView`) and
writes both signed checkpoints and the proof to its evidence directory.

State is one small JSON file per log, replaced atomically (write, fsync, rename), so a crash
never leaves a witness without its last cosigned checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cix.audit.checkpoint import SignedCheckpoint, Signer, Verifier, add_signature, open_checkpoint
from cix.audit.errors import AuditInputError, CheckpointReplayed, SplitView
from cix.audit.proofs import ConsistencyProof, verify_consistency


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
        (directory / "state").mkdir(parents=True, exist_ok=True)
        (directory / "evidence").mkdir(parents=True, exist_ok=True)

    @property
    def verifier(self) -> Verifier:
        """The witness's public key (logs' clients check cosignatures with it)."""
        return self._signer.verifier

    def _state_path(self, log_key: Verifier) -> Path:
        digest = hashlib.sha256(log_key.vkey().encode()).hexdigest()[:32]
        return self._dir / "state" / f"{digest}.json"

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
        return open_checkpoint(str(state["note"]), log_key)

    def cosign(
        self, note: str, log_key: Verifier, proof: ConsistencyProof | None = None
    ) -> SignedCheckpoint:
        """Cosign the checkpoint `note` of the log with `log_key`; return it with our line.

        The first checkpoint seen for a log is trusted on first use. Later ones need `proof`,
        a consistency proof from the last cosigned size (none when the size is unchanged).
        """
        last = self.last_cosigned(log_key)
        new = open_checkpoint(note, log_key)
        if last is not None:
            old, cur = last.checkpoint, new.checkpoint
            if cur.size < old.size:
                raise CheckpointReplayed(
                    f"checkpoint of size {cur.size} is older than the cosigned size {old.size}"
                )
            if cur.size == old.size:
                if cur.root != old.root:
                    self._keep_evidence(last, new, None)
                    raise SplitView(f"two different roots signed for size {cur.size}")
            else:
                if proof is None:
                    raise AuditInputError(
                        f"a consistency proof from size {old.size} to {cur.size} is required"
                    )
                try:
                    verify_consistency(old, cur, proof)
                except SplitView:
                    self._keep_evidence(last, new, proof)
                    raise
        _write_atomic(
            self._state_path(log_key),
            json.dumps({"vkey": log_key.vkey(), "note": new.note}).encode(),
        )
        return add_signature(new, self._signer)

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
