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
