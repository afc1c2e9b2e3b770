"""The tamper-evident audit log: RFC 9162 Merkle tree, checkpoints, proofs, witnesses.

The public API, by task (everything else is internal):

- record: `Event` (validated on construction), `open_log(address)` -> `Log`,
  `Log.append(event)` / `Log.append_batch(events)` (group commit) -> `Entry`;
- sign: `generate_signer(name)`, `load_signer(path, passphrase)`, `Log.checkpoint(signer)`;
- prove: `Log.prove_inclusion(index, size)`, `Log.prove_consistency(old, new)`;
- check without the log: `open_checkpoint(note, key)`, `verify_inclusion(...)`,
  `verify_consistency(...)`; check the whole log: `Log.verify()`;
- witness: `Witness` cosigns another log's checkpoints (tlog-cosignature/v1 lines,
  `cosignature_line`, `verify_cosigned`, `cosigner_from_vkey`) and refuses split views; the
  tlog-witness `add-checkpoint` bodies are `build_add_checkpoint`/`parse_add_checkpoint`.

Errors are in `cix.audit.errors`: one `VerificationError` subclass per kind of falsified
history, `AuditInputError` (an `InputError`) for bad input.
"""

from __future__ import annotations

from cix.audit.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    Signer,
    Verifier,
    generate_signer,
    open_checkpoint,
    verifier_from_vkey,
)
from cix.audit.cosignature import (
    CosignerKey,
    cosignature_line,
    cosigner_from_vkey,
    verify_cosigned,
)
from cix.audit.entry import MAX_ENTRY_BYTES, Entry, Event, entry_from_bytes, event_from_json
from cix.audit.keyfile import load_signer, load_verifier, save_signer
from cix.audit.log import Log, VerifyReport
from cix.audit.proofs import (
    ConsistencyProof,
    InclusionProof,
    proof_from_json,
    verify_consistency,
    verify_inclusion,
    verify_signed_consistency,
)
from cix.audit.storage import open_log
from cix.audit.witness import Witness
from cix.audit.witness_protocol import (
    AddCheckpointRequest,
    build_add_checkpoint,
    parse_add_checkpoint,
)

__all__ = [
    "MAX_ENTRY_BYTES",
    "AddCheckpointRequest",
    "Checkpoint",
    "ConsistencyProof",
    "CosignerKey",
    "Entry",
    "Event",
    "InclusionProof",
    "Log",
    "SignedCheckpoint",
    "Signer",
    "Verifier",
    "VerifyReport",
    "Witness",
    "build_add_checkpoint",
    "cosignature_line",
    "cosigner_from_vkey",
    "entry_from_bytes",
    "event_from_json",
    "generate_signer",
    "load_signer",
    "load_verifier",
    "open_checkpoint",
    "open_log",
    "parse_add_checkpoint",
    "proof_from_json",
    "save_signer",
    "verifier_from_vkey",
    "verify_consistency",
    "verify_cosigned",
    "verify_inclusion",
    "verify_signed_consistency",
]
