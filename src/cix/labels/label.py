"""The label of one information object, and the receiving party's alternative label.

A `Label` is checked for form when it is built (codes, sets, a UTC creation time); whether
its level, caveats and purpose exist under its policy is checked by the policy's
`check_label` (`cix.labels.policies.LabelPolicy`), which every parser and `make_label` call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cix.labels.errors import LabelError, LabelSyntaxError
from cix.labels.scheme import CODE_PATTERN, check_party

_RANGE = "1900-01-01T00:00:00Z..2200-12-31T23:59:59.999999Z"

GOVONLY = "GOVONLY"
"""Caveat: government personnel only; no contractor access even when cleared."""
ORCON = "ORCON"
"""Caveat: originator-controlled; any further dissemination needs the originator's consent."""
CAVEATS = frozenset({GOVONLY, ORCON})
"""Every caveat cix knows how to enforce; an agreement may use only these."""

MAX_PROGRAMMES = 32
"""At most this many programmes on one label (each id at most 32 characters)."""
MAX_PARTIES = 32
"""At most this many parties in one label's `releasable_to`."""

POLICY_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,63}")
PROGRAMME_PATTERN = re.compile(r"[A-Z][A-Z0-9_-]{0,31}")
PURPOSE_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,63}")


def _frozen_codes(
    values: Iterable[str],
    pattern: re.Pattern[str],
    what: str,
    *,
    limit: int,
    party: bool = False,
) -> frozenset[str]:
    if isinstance(values, str):
        raise LabelError(f"{what}: expected a set of codes, got the string {values!r}")
    result = frozenset(values)
    if len(result) > limit:
        raise LabelError(f"{what}: {len(result)} values, at most {limit} are allowed")
    for value in result:
        if party:
            check_party(value, what)
        elif not isinstance(value, str) or not pattern.fullmatch(value):
            raise LabelError(f"{what}: {value!r} is not a valid code ({pattern.pattern})")
    return result


EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
"""The earliest creation time a label may carry (inclusive, UTC)."""
LATEST = datetime(2200, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
"""The latest creation time a label may carry (inclusive, UTC)."""


def utc(moment: datetime, what: str = "created") -> datetime:
    """Return `moment` in UTC, within `EARLIEST`..`LATEST`; anything else is a `LabelError`.

    A naive datetime (no offset) is refused as ambiguous. The bound keeps every label's time
    in the one four-digit form `format_time` writes, whatever the offset it was given in.
    """
    if not isinstance(moment, datetime):
        raise LabelError(f"{what}: {moment!r} is not a datetime")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise LabelError(f"{what}: {moment.isoformat()} has no UTC offset")
    # An offset moves a time by less than a day, so a year outside this margin is out of
    # range; checking it first keeps `astimezone` away from datetime's own limits (year 1, 9999).
    if not EARLIEST.year - 1 <= moment.year <= LATEST.year + 1:
        raise LabelError(f"{what}: {moment.isoformat()} is outside {_RANGE}")
    result = moment.astimezone(UTC)
    if not EARLIEST <= result <= LATEST:
        raise LabelError(f"{what}: {moment.isoformat()} is outside {_RANGE}")
    return result


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
        rel = _frozen_codes(
            self.releasable_to, PROGRAMME_PATTERN, "releasable_to", limit=MAX_PARTIES, party=True
        )
        if self.originator not in rel:
            raise LabelError(
                f"releasable_to: must include the originator {self.originator}"
                f" (got {', '.join(sorted(rel)) or 'nothing'})"
            )
        programmes = _frozen_codes(
            self.programmes, PROGRAMME_PATTERN, "programmes", limit=MAX_PROGRAMMES
        )
        clash = programmes & CAVEATS
        if clash:
            raise LabelError(f"programmes: {', '.join(sorted(clash))} is a caveat, not a programme")
        caveats = _frozen_codes(self.caveats, PROGRAMME_PATTERN, "caveats", limit=len(CAVEATS))
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
    """RFC 3339 in UTC with a `Z`, with microseconds only when there are some (one form each).

    The year is always four digits (`utc` bounds it); `parse_time` reads the result back to
    the same instant.
    """
    moment = utc(moment)
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def parse_time(text: object, what: str = "created") -> datetime:
    """Parse an RFC 3339 date-time with an offset (or `Z`) into UTC; refuse anything else.

    As RFC 3339 (section 5.6) allows, `t` and `z` may be lower case. The instant must lie in
    `EARLIEST`..`LATEST` once in UTC; outside, the error names `what`.
    """
    if not isinstance(text, str):
        raise LabelSyntaxError(f"{what}: expected an RFC 3339 date-time string, got {text!r}")
    if not _RFC3339.fullmatch(text):
        raise LabelSyntaxError(f"{what}: {text!r} is not an RFC 3339 date-time with an offset")
    try:
        moment = datetime.fromisoformat(text.upper())
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
