"""What can go wrong between nodes, split by who is at fault (cix/errors.py's families).

A message from a peer that does not verify is the peer's fault (`MessageRefused`, a
`PeerError`): the receiver answers it with the refusal's code, stores nothing of it but the
refusal in its audit log, and the sender records the code against what it sent. An identity
document handed over out of band that does not verify is the operator's input
(`IdentityInvalid`, an `InputError`): the command that was given it names what is wrong.
"""

from __future__ import annotations

import enum

from cix.errors import InputError, PeerError


class MessageRefusal(enum.StrEnum):
    """Why a federation message was refused: the code the receiver answers and audits."""

    MALFORMED = "malformed"
    UNKNOWN_SENDER = "unknown-sender"
    SIGNATURE_INVALID = "signature-invalid"
    WRONG_AUDIENCE = "wrong-audience"
    WRONG_TARGET = "wrong-target"
    AGREEMENT_NOT_HELD = "agreement-not-held"
    NOT_PEERED_UNDER_AGREEMENT = "not-peered-under-agreement"
    CLOCK_SKEW = "clock-skew"
    MESSAGE_ID_REUSED = "message-id-reused"


class MessageRefused(PeerError):
    """A federation message failed verification; `reason` is the code to answer and audit,
    `detail` the words for the audit record (never key material)."""

    def __init__(self, reason: MessageRefusal, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class IdentityInvalid(InputError):
    """A node identity document is malformed, or its signatures do not verify."""
