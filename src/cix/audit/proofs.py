"""Inclusion and consistency proofs, and the light verifier: a checkpoint and a key suffice.

A client that holds only the log's verifier key checks that an entry is in the log
(`verify_inclusion`) and that a newer checkpoint extends an older one (`verify_consistency`)
without reading the log itself.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from cix.audit import merkle
from cix.audit.checkpoint import Checkpoint, SignedCheckpoint, Verifier, open_checkpoint
from cix.audit.errors import (
    AuditInputError,
    ConsistencyProofError,
    InclusionProofError,
    SplitView,
)

_MAX_PATH = 64


def _path_from_json(obj: dict[str, Any]) -> tuple[bytes, ...]:
    path = obj.get("path")
    if not isinstance(path, list) or len(path) > _MAX_PATH:
        raise AuditInputError("proof: 'path' must be a list of at most 64 base64 hashes")
    try:
        hashes = tuple(base64.b64decode(h, validate=True) for h in path)
    except (binascii.Error, TypeError) as exc:
        raise AuditInputError("proof: 'path' holds something that is not base64") from exc
    if any(len(h) != 32 for h in hashes):
        raise AuditInputError("proof: every hash in 'path' is 32 bytes")
    return hashes


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AuditInputError(f"proof: {key!r} must be a non-negative integer")
    return value


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Entry `index` is in the tree of `size` entries: the RFC 9162 audit path."""

    index: int
    size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """The JSON form: {"type": "inclusion", "index", "size", "path": [base64, …]}."""
        return {
            "type": "inclusion",
            "index": self.index,
            "size": self.size,
            "path": [base64.b64encode(h).decode() for h in self.path],
        }


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """The tree of `new_size` entries extends the tree of `old_size`: the RFC 9162 proof."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """The JSON form: {"type": "consistency", "old_size", "new_size", "path": […]}."""
        return {
            "type": "consistency",
            "old_size": self.old_size,
            "new_size": self.new_size,
            "path": [base64.b64encode(h).decode() for h in self.path],
        }


def proof_from_json(obj: object) -> InclusionProof | ConsistencyProof:
    """Read either proof from its JSON form, checking every field."""
    if not isinstance(obj, dict):
        raise AuditInputError("proof: expected a JSON object")
    kind = obj.get("type")
    if kind == "inclusion":
        return InclusionProof(_int(obj, "index"), _int(obj, "size"), _path_from_json(obj))
    if kind == "consistency":
        return ConsistencyProof(_int(obj, "old_size"), _int(obj, "new_size"), _path_from_json(obj))
    raise AuditInputError("proof: 'type' must be 'inclusion' or 'consistency'")


def verify_inclusion(
    entry_body: bytes, proof: InclusionProof, checkpoint_note: str, log_key: Verifier
) -> Checkpoint:
    """Check that `entry_body` is in the log signed by `log_key` at the given checkpoint.

    Raises `WrongKey`/`CheckpointSignatureInvalid`/`MalformedCheckpoint` for the checkpoint and
    `InclusionProofError` for the proof; returns the verified checkpoint.
    """
    checkpoint = open_checkpoint(checkpoint_note, log_key).checkpoint
    if proof.size != checkpoint.size:
        raise InclusionProofError(
            f"proof is for size {proof.size}, the checkpoint has size {checkpoint.size}"
        )
    merkle.verify_inclusion(
        merkle.leaf_hash(entry_body), proof.index, proof.size, proof.path, checkpoint.root
    )
    return checkpoint


def verify_consistency(old: Checkpoint, new: Checkpoint, proof: ConsistencyProof) -> None:
    """Check that checkpoint `new` extends `old` (both already signature-checked).

    Equal sizes with different roots, or a proof that fails, mean the log showed two
    histories: `SplitView`. A proof for other sizes is `ConsistencyProofError`.
    """
    if old.origin != new.origin:
        raise ConsistencyProofError("the checkpoints are of different logs")
    if (proof.old_size, proof.new_size) != (old.size, new.size):
        raise ConsistencyProofError(
            f"proof is for sizes {proof.old_size}->{proof.new_size}, "
            f"the checkpoints have {old.size}->{new.size}"
        )
    try:
        merkle.verify_consistency(old.size, new.size, old.root, new.root, proof.path)
    except ConsistencyProofError as exc:
        raise SplitView(f"size {new.size} does not extend size {old.size}: {exc}") from exc


def verify_signed_consistency(
    old: SignedCheckpoint, new_note: str, proof: ConsistencyProof, log_key: Verifier
) -> SignedCheckpoint:
    """Verify `new_note` with `log_key`, refuse a rollback below `old`, check it extends `old`."""
    new = open_checkpoint(new_note, log_key, not_before=old.checkpoint)
    verify_consistency(old.checkpoint, new.checkpoint, proof)
    return new
