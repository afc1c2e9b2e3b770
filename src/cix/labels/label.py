"""The label of one information object, and the receiving party's alternative label.

A `Label` is checked for form when it is built (codes, sets, a UTC creation time); whether
its level, caveats and purpose exist under its policy is checked against the policy by
`cix.agreements.Agreement.check_label`, which every parser and `make_label` call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cix.labels.errors import LabelError, LabelSyntaxError
from cix.labels.scheme import CODE_PATTERN, check_party

GOVONLY = "GOVONLY"
"""Caveat: government personnel only; no contractor access even when cleared."""
ORCON = "ORCON"
"""Caveat: originator-controlled; any further dissemination needs the originator's consent."""
CAVEATS = frozenset({GOVONLY, ORCON})
"""Every caveat cix knows how to enforce; an agreement may use only these."""

POLICY_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,63}")
PROGRAMME_PATTERN = re.compile(r"[A-Z][A-Z0-9_-]{0,31}")
PURPOSE_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,63}")


def _frozen_codes(
    values: Iterable[str], pattern: re.Pattern[str], what: str, *, party: bool = False
) -> frozenset[str]:
    if isinstance(values, str):
        raise LabelError(f"{what}: expected a set of codes, got the string {values!r}")
    result = frozenset(values)
    for value in result:
        if party:
            check_party(value, what)
        elif not isinstance(value, str) or not pattern.fullmatch(value):
            raise LabelError(f"{what}: {value!r} is not a valid code ({pattern.pattern})")
    return result


def utc(moment: datetime, what: str = "created") -> datetime:
    """Return `moment` in UTC; a naive datetime (no offset) is refused as ambiguous."""
    if not isinstance(moment, datetime):
        raise LabelError(f"{what}: {moment!r} is not a datetime")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise LabelError(f"{what}: {moment.isoformat()} has no UTC offset")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Label:
    """A confidentiality label (STANAG 4774 in spirit) of one information object.

    `classification` is a level code of the originator's scheme. `releasable_to` is
    permissive (a subject needs one of its nationalities) and always names the originator;
    `programmes` and `caveats` are restrictive (all are required). `created` is in UTC.
    Equal labels have equal fields; the label is hashable.
    """

    policy: str
    originator: str
    classification: str
    releasable_to: frozenset[str]
    programmes: frozenset[str] = frozenset()
    caveats: frozenset[str] = frozenset()
    purpose: str | None = None
    created: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.policy, str) or not POLICY_PATTERN.fullmatch(self.policy):
            raise LabelError(f"policy: {self.policy!r} is not a policy identifier")
        check_party(self.originator, "originator")
        if not isinstance(self.classification, str) or not CODE_PATTERN.fullmatch(
            self.classification
        ):
            raise LabelError(f"classification: {self.classification!r} is not a level code")
        rel = _frozen_codes(self.releasable_to, PROGRAMME_PATTERN, "releasable_to", party=True)
        if self.originator not in rel:
            raise LabelError(
                f"releasable_to: must include the originator {self.originator}"
                f" (got {', '.join(sorted(rel)) or 'nothing'})"
            )
        programmes = _frozen_codes(self.programmes, PROGRAMME_PATTERN, "programmes")
        clash = programmes & CAVEATS
        if clash:
            raise LabelError(f"programmes: {', '.join(sorted(clash))} is a caveat, not a programme")
        caveats = _frozen_codes(self.caveats, PROGRAMME_PATTERN, "caveats")
        unknown = caveats - CAVEATS
        if unknown:
            raise LabelError(
                f"caveats: unknown caveat {', '.join(sorted(unknown))}"
                f" (known: {', '.join(sorted(CAVEATS))})"
            )
        if self.purpose is not None and (
            not isinstance(self.purpose, str) or not PURPOSE_PATTERN.fullmatch(self.purpose)
        ):
            raise LabelError(f"purpose: {self.purpose!r} is not a purpose identifier")
        object.__setattr__(self, "releasable_to", rel)
        object.__setattr__(self, "programmes", programmes)
        object.__setattr__(self, "caveats", caveats)
        object.__setattr__(self, "created", utc(self.created))

    def to_json(self) -> dict[str, object]:
        """The canonical JSON form: every field, sets as sorted lists, time as RFC 3339 UTC.

        `canonical_json` serialises it with sorted keys; that byte string is what is hashed
        and signed elsewhere.
        """
        return {
            "caveats": sorted(self.caveats),
            "classification": self.classification,
            "created": format_time(self.created),
            "originator": self.originator,
            "policy": self.policy,
            "programmes": sorted(self.programmes),
            "purpose": self.purpose,
            "releasable_to": sorted(self.releasable_to),
        }


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, with microseconds only when there are some (one form each)."""
    moment = utc(moment)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def parse_time(text: object, what: str = "created") -> datetime:
    """Parse an RFC 3339 date-time with an offset (or `Z`) into UTC; refuse anything else."""
    if not isinstance(text, str):
        raise LabelSyntaxError(f"{what}: expected an RFC 3339 date-time string, got {text!r}")
    if not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})", text
    ):
        raise LabelSyntaxError(f"{what}: {text!r} is not an RFC 3339 date-time with an offset")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise LabelSyntaxError(f"{what}: {text!r} is not a valid date-time: {exc}") from None
    return utc(moment, what)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlternativeLabel:
    """The receiving party's equivalent marking of a label (4774 alternativeConfidentialityLabel).

    `label` is the originator's label, never rewritten; `party` is the party whose scheme
    the marking uses and `classification` the equivalent level code in that scheme.
    Build it with `cix.labels.alternative_label`, which applies the agreement's equivalence.
    """

    label: Label
    party: str
    classification: str

    def __post_init__(self) -> None:
        if not isinstance(self.label, Label):
            raise LabelError(f"label: {self.label!r} is not a Label")
        check_party(self.party, "party")
        if not isinstance(self.classification, str) or not CODE_PATTERN.fullmatch(
            self.classification
        ):
            raise LabelError(f"classification: {self.classification!r} is not a level code")
