"""Key access: the node unwraps a document's data key only after a permit, auditing each request.

`grant` takes the permit decision and returns a `Grant` whose audit record (the key access)
the caller makes durable with the decision before `Grant.open` may decrypt; a grant opens
only the object `Expected` describes (the document row's label and id). Every failure is
audited with its precise reason before the opaque `Refused`. What an open checks, what is
cached (`ManifestCache`, `VerifiedBlobs`) and why every byte is still checked on every
open: docs/node.md, "The open fast path".
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from cix.errors import InputError, Refused
from cix.lru import LruCache
from cix.node.auditing import AuditRecord, AuditSink
from cix.node.roles import Actor
from cix.policy import Decision
from cix.store.blobs import BlobNotFound, BlobStore, BlobTooLarge

#: The most a sealed object read whole (`Grant.open(whole=True)`) may be.
WHOLE_READ_LIMIT = 4 << 20


class VerifiedBlobs(LruCache[str, Any]):
    """Blob names whose whole bytes were hashed to the name, with what the open learnt of
    them (`cix.envelope.Known`: their size, the SHA-256 of their bytes outside the payload
    data and of their manifest, where their members lie): a pure function of the name,
    never stale (docs/node.md, "The open fast path")."""


@functools.lru_cache(maxsize=16384)
def policy_uuid_for(document_id: str) -> str:
    """The policy uuid of document `document_id`'s sealed object: its 32 hex digits as a
    UUID (8-4-4-4-12). `ValueError` if the id is not 32 hex digits."""
    return str(uuid.UUID(hex=document_id))


@dataclass(frozen=True)
class Expected:
    """What the sealed object of a key access must be: the document row's label and id.

    For a third party's copy (another party's information released by a peer with the
    originator's consent), `label_json` is the originator's label as received and
    `signers` the originator key the consent chain vouched for: the only key, for that
    party, the object's label may be signed by."""

    label_json: Mapping[str, Any]
    document_id: str
    signers: Mapping[str, Sequence[Any]] = field(default_factory=dict)


class Grant:
    """A permitted key access: `event` must be recorded (then `recorded()`) before `open`."""

    def __init__(
        self, access: KeyAccess, actor: Actor, obj: str, now: datetime, expected: Expected
    ) -> None:
        self._access = access
        self.actor = actor
        self.obj = obj
        self.now = now
        self.expected = expected
        self.event = access.event(actor, obj, now, "permit", ())
        self._recorded = False

    def recorded(self) -> None:
        """Say that `event` is durably in the audit log."""
        self._recorded = True

    def open(
        self,
        blob: str,
        dst: BinaryIO,
        *,
        whole: bool = False,
        record_denial: Callable[[AuditRecord], None] | None = None,
    ) -> None:
        """Decrypt the blob into `dst`; `Refused` (recorded with its reason) on any failure.

        With `whole`, the sealed blob is read into memory first (for small documents). A
        denial is appended to the audit log before `Refused` is raised, unless
        `record_denial` is given: then it is handed the event to record (an event loop
        records it without blocking, before answering)."""
        if not self._recorded:
            raise Refused()
        self._access.decrypt(
            self.actor,
            self.obj,
            blob,
            dst,
            now=self.now,
            whole=whole,
            expected=self.expected,
            record_denial=record_denial,
        )


class KeyAccess:
    """Opens sealed blobs for permitted requests (see the module docstring)."""

    def __init__(
        self,
        keys: Any,
        audit: AuditSink,
        blobs: BlobStore,
        manifests: Any = None,
        verified: VerifiedBlobs | None = None,
        *,
        party: str,
        pinned: Mapping[str, Sequence[Any]] | None = None,
    ) -> None:
        """`party`: this node's party, whose labels its own key signs; `pinned`: the keys
        pinned for other parties' labels (by party)."""
        self._keys = keys
        self._party = party
        self._pinned = pinned or {}
        self.audit = audit
        self.blobs = blobs
        self._manifests = manifests
        self._verified = verified

    def _trusted_signers(self) -> Mapping[str, Sequence[Any]]:
        """The label signers this node trusts, by party: its own party's key (the labels it
        originates) and the keys pinned for other parties."""
        trusted = {party: list(keys) for party, keys in self._pinned.items()}
        trusted.setdefault(self._party, []).append(self._keys.verify_key)
        return trusted

    def event(
        self, actor: Actor, obj: str, now: datetime, decision: str, reasons: tuple[str, ...]
    ) -> AuditRecord:
        """The audit record of one key access."""
        return AuditRecord(
            type="key-access",
            actor=actor.id,
            object=obj,
            action="unwrap",
            decision=decision,
            time=now,
            reasons=reasons,
            details={"kid": self._keys.kem.kid},
        )

    def grant(
        self, actor: Actor, obj: str, *, now: datetime, permit: Decision, expected: Expected
    ) -> Grant:
        """A grant for a request `permit` allowed, to open the object `expected` describes;
        without a permit, the refusal is recorded and `Refused` raised."""
        if not permit.permit:
            self.audit.append(self.event(actor, obj, now, "deny", ("no-permit",)))
            raise Refused()
        return Grant(self, actor, obj, now, expected)

    def decrypt(
        self,
        actor: Actor,
        obj: str,
        blob: str,
        dst: BinaryIO,
        *,
        now: datetime,
        whole: bool,
        expected: Expected,
        record_denial: Callable[[AuditRecord], None] | None = None,
    ) -> None:
        """Decrypt for a recorded `Grant` only (call `Grant.open`): only the object
        `expected` describes (see the module docstring)."""
        from cix import envelope

        deny = record_denial or self.audit.append

        reasons: list[str] = []

        try:
            policy_uuid = policy_uuid_for(expected.document_id)
        except ValueError:  # not a document id this node made: no object can be its
            deny(self.event(actor, obj, now, "deny", ("policy-uuid-mismatch",)))
            raise Refused() from None

        def hook(error: envelope.ObjectRefused) -> None:
            if error.reason is envelope.RefusalReason.OBJECT_DIGEST_MISMATCH:
                # Not the bytes of the blob this name was hashed to: what the hash says.
                reasons.append("blob-hash-mismatch")
                return
            reasons.append(error.reason.value)

        def run(src: Any, known: envelope.Known | None = None) -> Any:
            return envelope.open(
                src,
                dst,
                private_key=self._keys.kem,
                trusted_signers={**self._trusted_signers(), **expected.signers},
                audit_hook=hook,
                manifest_cache=self._manifests,
                expected_label=expected.label_json,
                expected_policy_uuid=policy_uuid,
                known=known,
            )

        try:
            if whole:
                try:
                    # Only small documents are read whole: a bigger file under this name is
                    # not the object the row describes, and must not be pulled into memory.
                    data = self.blobs.read(blob, limit=WHOLE_READ_LIMIT)
                except BlobTooLarge:
                    reasons.append("blob-size-mismatch")
                    raise Refused() from None
                known = self._verified.get(blob) if self._verified is not None else None
                if known is not None:
                    run(data, known)  # its bytes must be the hashed blob's (see above)
                else:
                    if hashlib.sha256(data).hexdigest() != blob:
                        reasons.append("blob-hash-mismatch")
                        raise Refused()
                    opened = run(data)
                    if self._verified is not None:
                        self._verified.put(blob, opened.known)
            else:
                with self.blobs.open(blob) as src:
                    run(src)
        except Refused:
            deny(self.event(actor, obj, now, "deny", tuple(reasons) or ("refused",)))
            raise
        except BlobNotFound as exc:
            # The row names a blob the store no longer holds as a file: an integrity
            # failure of our own storage, refused and audited as the others are.
            deny(self.event(actor, obj, now, "deny", (exc.reason,)))
            raise Refused() from None
        except InputError as exc:
            # The stored object does not even parse (a damaged container or manifest): an
            # integrity failure of our own storage, not the caller's input. Opaque, audited.
            reason = str(getattr(exc, "reason", "")) or type(exc).__name__
            deny(self.event(actor, obj, now, "deny", (reason,)))
            raise Refused() from None
