"""The outbox: a federation message is queued in the same transaction as the audited
decision that caused it, so that it is sent exactly when that decision is committed.

`enqueue` adds the `OutboxItem` in the caller's session; `cix.node.exchange.delivery`
sends it (signed afresh at every attempt, with the same message id, which the receiver's
inbox deduplicates for good).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cix.federation import canonical_json, new_message_id
from cix.store.models import OutboxItem

QUEUED = "queued"
"""Waiting to be (re)sent: picked once `next_attempt_at` has come."""
DELIVERED = "delivered"
"""The peer's signed answer accepted it."""
REFUSED = "refused"
"""The peer's signed answer refused it (its code is in `last_error`); never resent."""

_KIND = re.compile(r"[a-z][a-z0-9-]{0,31}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def enqueue(
    session: Session,
    *,
    peer: str,
    kind: str,
    agreement: str,
    body: dict[str, Any],
    now: datetime,
    blob_hash: str | None = None,
    message_id: str | None = None,
) -> str:
    """Queue one message for `peer` in the caller's transaction; return its message id.

    With `blob_hash`, the stored blob travels as the message's body (to the documents
    route). The body must be JSON without floats (it is signed as RFC 8785 JSON): a body
    that is not raises `TypeError` here, at the caller, not later in the worker.
    """
    if not _KIND.match(kind):
        raise ValueError(f"message kind {kind!r} is malformed")
    if blob_hash is not None and not _HEX64.match(blob_hash):
        raise ValueError("blob_hash must be 64 lower-case hex digits")
    canonical_json(body)  # refuses what could not be signed
    message_id = message_id or new_message_id()
    session.add(
        OutboxItem(
            message_id=message_id,
            peer=peer,
            kind=kind,
            agreement=agreement,
            body=body,
            blob_hash=blob_hash,
            state=QUEUED,
            attempts=0,
            next_attempt_at=now,
            last_error=None,
            answer=None,
            created_at=now,
            delivered_at=None,
        )
    )
    return message_id
