"""The audit log's exceptions: one class per way the log or its input can be wrong.

Each way history can be falsified has its own `VerificationError` subclass (docs/design.md:
verification raises, naming what failed), so that a test, an auditor or the node's audit
hook can tell an edited entry from a deleted one, a truncated log from a replayed
checkpoint. Callers outside the trust boundary see only `cix.errors.Refused`; `cix audit
verify` prints the precise reason because its user is the auditor.
"""

from __future__ import annotations

from cix.errors import InputError, StorageError, VerificationError


class AuditInputError(InputError):
    """An entry, proof, checkpoint text, key file or log address given to the log is malformed."""


class EntryTooLarge(AuditInputError):
    """An entry (or one of its fields) exceeds the documented size bounds; nothing was appended."""


class UnknownLog(AuditInputError):
    """The log address names no supported backend, or no log exists there."""


class AuditStorageError(StorageError):
    """The log's database failed or refused a write; the batch was not appended."""


class EntryTampered(VerificationError):
    """A stored entry no longer matches its recorded hash (it was edited)."""


class EntryMissing(VerificationError):
    """A sequence number is missing from the log (an entry was deleted)."""


class EntryOutOfOrder(VerificationError):
    """An entry sits at a position other than its own sequence number (entries reordered)."""


class TreeTampered(VerificationError):
    """A stored interior Merkle node differs from the one recomputed from the entries."""


class LogTruncated(VerificationError):
    """The log is smaller than a checkpoint that was signed for it (entries were cut off)."""


class RootMismatch(VerificationError):
    """A signed checkpoint's root differs from the root recomputed over the log's entries."""


class InclusionProofError(VerificationError):
    """An inclusion proof does not lead from the entry to the checkpoint's root."""


class ConsistencyProofError(VerificationError):
    """A consistency proof does not show the newer tree extends the older one."""


class SplitView(VerificationError):
    """Two checkpoints signed by the same log cannot both be true: the log forked."""


class CheckpointReplayed(VerificationError):
    """A checkpoint older than one already seen was presented as current (rollback)."""


class WrongKey(VerificationError):
    """A checkpoint is not signed by the expected key (different key or key name)."""


class CheckpointSignatureInvalid(VerificationError):
    """A signature line names the expected key but its signature does not verify."""


class MalformedCheckpoint(VerificationError):
    """A checkpoint's text is not a well-formed signed note."""


class MalformedWitnessRequest(AuditInputError):
    """A tlog-witness `add-checkpoint` request or response is not of the format (the message
    names the line and what is wrong with it): tlog-witness answers 400."""


class WitnessConflict(CheckpointReplayed):
    """The request disagrees with the size this witness last cosigned for the log: its old
    size is another, or its checkpoint is older (a rollback). tlog-witness answers 409 with
    `known_size`, so that an honest client can retry with a proof from it."""

    def __init__(self, message: str, known_size: int) -> None:
        super().__init__(message)
        self.known_size = known_size
        """The size of the checkpoint this witness last cosigned for the log (0: none)."""

    def __reduce__(self) -> tuple[type[WitnessConflict], tuple[str, int]]:
        return (type(self), (str(self), self.known_size))


class InconsistentCheckpoint(SplitView):
    """A consistency proof from the checkpoint the witness cosigned to the one presented does
    not verify: the log showed a history that does not extend the one cosigned (tlog-witness
    answers 422). Evidence is kept, as for every split view."""
