"""Actions, reasons, obligations and decisions: the vocabulary of `cix.policy`.

Every rule that can fail has a stable reason code (`Code`), kept as one bit so that a
decision can carry *every* failing rule at once, in the one-by-one and the batch form alike.
The codes are part of the interface: audit records, the CLI and the API print them, and
tests assert them. Never renumber or rename one; add new ones at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, IntFlag
from typing import Any


class Action(Enum):
    """What a subject asks to do with an information object."""

    READ = "read"
    CREATE = "create"
    TRANSMIT = "transmit"
    RELEASE = "release"
    DOWNGRADE = "downgrade"
    DESTROY = "destroy"


ACTION_INDEX: Mapping[Action, int] = {a: i for i, a in enumerate(Action)}
"""A small integer per action, used by the batch form's action column."""


class Code(IntFlag):
    """One bit per rule that can fail; the member's `code` is the stable reason code."""

    CLEARANCE_MISSING = 1 << 0
    CLEARANCE_EXPIRED = 1 << 1
    CLEARANCE_NOT_RECOGNISED = 1 << 2
    CLEARANCE_INSUFFICIENT = 1 << 3
    LEVEL_OUT_OF_SCOPE = 1 << 4
    NATIONALITY_NOT_RELEASED = 1 << 5
    THIRD_PARTY_NATIONAL = 1 << 6
    PROGRAMME_MISSING = 1 << 7
    PROGRAMME_EXPIRED = 1 << 8
    BRIEFING_STALE = 1 << 9
    FACILITY_CLEARANCE_MISSING = 1 << 10
    FACILITY_CLEARANCE_EXPIRED = 1 << 11
    FACILITY_CLEARANCE_INSUFFICIENT = 1 << 12
    GOVERNMENT_ONLY = 1 << 13
    PURPOSE_MISMATCH = 1 << 14
    WRITE_DOWN = 1 << 15
    RECIPIENT_THIRD_PARTY = 1 << 16
    RECIPIENT_NOT_RELEASED = 1 << 17
    RECIPIENT_LEVEL_OUT_OF_SCOPE = 1 << 18
    THIRD_PARTY_CONSENT_MISSING = 1 << 19
    DOWNGRADE_CONSENT_MISSING = 1 << 20

    @property
    def code(self) -> str:
        """The stable reason code, e.g. `clearance-expired`."""
        return str(self.name).lower().replace("_", "-")


REASON_TEXT: Mapping[Code, str] = {
    Code.CLEARANCE_MISSING: "the subject holds no personnel security clearance",
    Code.CLEARANCE_EXPIRED: "the subject's clearance has expired",
    Code.CLEARANCE_NOT_RECOGNISED: "the clearance was issued by a party outside this policy",
    Code.CLEARANCE_INSUFFICIENT: "the clearance does not dominate the classification",
    Code.LEVEL_OUT_OF_SCOPE: "the classification has no equivalent in the clearance's scheme",
    Code.NATIONALITY_NOT_RELEASED: "no nationality of the subject is released to",
    Code.THIRD_PARTY_NATIONAL: "the subject is a national of a third party to the agreement",
    Code.PROGRAMME_MISSING: "the subject is not a member of a programme on the label",
    Code.PROGRAMME_EXPIRED: "the subject's membership of a programme on the label has expired",
    Code.BRIEFING_STALE: "the subject's security briefing is missing or no longer current",
    Code.FACILITY_CLEARANCE_MISSING: "the contractor holds no facility security clearance",
    Code.FACILITY_CLEARANCE_EXPIRED: "the contractor's facility clearance has expired",
    Code.FACILITY_CLEARANCE_INSUFFICIENT: "the facility clearance does not dominate the label",
    Code.GOVERNMENT_ONLY: "the label is government-only and the subject works for a contractor",
    Code.PURPOSE_MISMATCH: "the stated purpose is not the purpose the information was given for",
    Code.WRITE_DOWN: "the new label does not dominate a source it was derived from",
    Code.RECIPIENT_THIRD_PARTY: "the recipient is a third party to the agreement",
    Code.RECIPIENT_NOT_RELEASED: "the label does not release the information to the recipient",
    Code.RECIPIENT_LEVEL_OUT_OF_SCOPE: "the classification is out of scope toward the recipient",
    Code.THIRD_PARTY_CONSENT_MISSING: "release to a third party needs the originator's consent",
    Code.DOWNGRADE_CONSENT_MISSING: "a downgrade needs the originator's consent",
}

ALL_CODES: tuple[Code, ...] = tuple(Code)


@dataclass(frozen=True, slots=True)
class Reason:
    """One failing rule: its stable `code`, a sentence, and details (e.g. which programme)."""

    code: str
    message: str
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        """`{"code", "message"[, "detail"]}`."""
        out = {"code": self.code, "message": self.message}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True, slots=True)
class Obligation:
    """Something the caller must do when acting on a permit, e.g. `mark` or `receipt-required`.

    `params` is a tuple of (name, value) pairs so that the obligation stays hashable.
    """

    code: str
    params: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """`{"code", ...params}`."""
        return {"code": self.code, **dict(self.params)}


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request: permit or deny, every failing rule, and obligations.

    `permit` is true exactly when `reasons` is empty; obligations are given only on a permit.
    """

    permit: bool
    reasons: tuple[Reason, ...]
    obligations: tuple[Obligation, ...]

    @property
    def codes(self) -> frozenset[str]:
        """The reason codes, for callers that only branch on them."""
        return frozenset(r.code for r in self.reasons)

    def to_json(self) -> dict[str, Any]:
        """`{"permit", "reasons", "obligations"}` as the CLI and API print it."""
        return {
            "permit": self.permit,
            "reasons": [r.to_json() for r in self.reasons],
            "obligations": [o.to_json() for o in self.obligations],
        }
