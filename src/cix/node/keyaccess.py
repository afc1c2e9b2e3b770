"""Key access: the node unwraps a document's data key only after a permit, auditing each request.

The sealed object's data key is wrapped to the node's KEM key. `open_permitted` takes the
permit decision that authorised the access and refuses without one; it records the key
access (granted) before decrypting, and any integrity or key failure (with its precise
reason from the envelope) as a denied key access before the caller sees the opaque
`Refused`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, BinaryIO

from cix.errors import Refused
from cix.node.auditing import AuditEvent, AuditSink
from cix.node.roles import Actor
from cix.policy import Decision
from cix.store.blobs import BlobStore


class KeyAccess:
    """Opens sealed blobs for permitted requests (see the module docstring)."""

    def __init__(self, keys: Any, audit: AuditSink, blobs: BlobStore) -> None:
        self._keys = keys
        self.audit = audit
        self.blobs = blobs

    def _event(
        self, actor: Actor, obj: str, now: datetime, decision: str, reasons: tuple[str, ...]
    ) -> None:
        self.audit.append(
            AuditEvent(
                type="key-access",
                actor=actor.id,
                object=obj,
                action="unwrap",
                decision=decision,
                time=now,
                reasons=reasons,
                details={"kid": self._keys.kem.kid},
            )
        )

    def open_permitted(
        self,
        actor: Actor,
        obj: str,
        blob: str,
        dst: BinaryIO,
        *,
        now: datetime,
        permit: Decision,
    ) -> None:
        """Decrypt the blob into `dst` for a request `permit` allowed; audited either way."""
        from cix import envelope

        if not permit.permit:
            self._event(actor, obj, now, "deny", ("no-permit",))
            raise Refused()
        self._event(actor, obj, now, "permit", ())
        reasons: list[str] = []

        def hook(error: Exception) -> None:
            reasons.append(str(getattr(error, "reason", type(error).__name__)))

        try:
            with self.blobs.open(blob) as src:
                envelope.open(
                    src,
                    dst,
                    private_key=self._keys.kem,
                    trusted_signers=[self._keys.verify_key],
                    audit_hook=hook,
                )
        except Refused:
            self._event(actor, obj, now, "deny", tuple(reasons) or ("refused",))
            raise
