"""The `Agreement`: a bilateral security agreement or a national policy, validated when built.

Both kinds share one type. A national policy (`kind == "national"`) has one party, no
equivalence and no levels out of scope; it governs information that stays national.

On construction the agreement precomputes what decisions need, so that each question is
one or two dictionary lookups: the order on every (party, level) pair (the national orders
joined through the equivalence table) as bitmasks, the common rank of every level in scope,
and the equivalent level of each level in every other party's scheme.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from cix.agreements.calendar import PartyCalendar
from cix.labels.errors import LabelError, OutOfScope, UnknownLevel, UnknownParty
from cix.labels.label import CAVEATS, POLICY_PATTERN, PURPOSE_PATTERN, Label
from cix.labels.scheme import Level, Scheme, check_party

Kind = Literal["agreement", "national"]
LevelRef = tuple[str, str]
"""A (party, level code) pair."""

_ID_PATTERN = POLICY_PATTERN
_POSITIVE_FIELDS = (
    "visit_lead_working_days",
    "incident_notice_hours",
    "one_time_visit_max_days",
    "recurring_visit_max_days",
)
_TITLE_PATTERN = re.compile(r"\S.*\S|\S")


@dataclass(frozen=True, eq=False, kw_only=True)
class Agreement:
    """A validated agreement (or national policy) and its precomputed level order.

    `equivalence` holds rows of (party, level code) pairs that are equivalent, lowest first;
    `out_of_scope` maps (party, code) of a level not shared under the agreement to the stated
    reason; `receipt_level` maps each party to the level from which receipts are required.
    """

    id: str
    kind: Kind
    title: str
    parties: tuple[str, ...]
    schemes: Mapping[str, Scheme]
    equivalence: tuple[tuple[LevelRef, ...], ...]
    out_of_scope: Mapping[LevelRef, str]
    receipt_level: Mapping[str, str]
    purposes: tuple[str, ...]
    caveats: frozenset[str]
    visit_lead_working_days: int
    incident_notice_hours: int
    one_time_visit_max_days: int
    recurring_visit_max_days: int
    calendars: Mapping[str, PartyCalendar] = field(default_factory=dict)
    """Each party's calendar (time zone, public holidays) for working-day deadlines; a party
    without one has no calendar here, and a deadline in its days cannot be counted."""
    _ids: Mapping[LevelRef, int] = field(init=False, repr=False)
    _below: Mapping[LevelRef, int] = field(init=False, repr=False)
    _ranks: Mapping[LevelRef, int] = field(init=False, repr=False)
    _equivalents: Mapping[tuple[str, str, str], str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._check_header()
        self._check_schemes()
        self._check_out_of_scope()
        self._check_equivalence()
        self._check_receipt_levels()
        self._precompute()

    # -- validation ------------------------------------------------------------------------

    def _check_header(self) -> None:
        if not isinstance(self.id, str) or not _ID_PATTERN.fullmatch(self.id):
            raise LabelError(f"id: {self.id!r} must be lower-case letters, digits and '-'")
        if self.kind not in ("agreement", "national"):
            raise LabelError(f"kind: {self.kind!r} must be 'agreement' or 'national'")
        if not isinstance(self.title, str) or not _TITLE_PATTERN.fullmatch(self.title):
            raise LabelError("title: must be a non-blank string")
        if not self.parties:
            raise LabelError("parties: no parties")
        for party in self.parties:
            check_party(party, "parties")
        if len(set(self.parties)) != len(self.parties):
            raise LabelError(f"parties: {', '.join(self.parties)} names a party twice")
        wanted = 1 if self.kind == "national" else 2
        if (self.kind == "national") != (len(self.parties) == 1) or len(self.parties) < wanted:
            raise LabelError(
                f"parties: a {self.kind} has {'one party' if wanted == 1 else 'two or more'},"
                f" got {len(self.parties)}"
            )
        for purpose in self.purposes:
            if not isinstance(purpose, str) or not PURPOSE_PATTERN.fullmatch(purpose):
                raise LabelError(f"purposes: {purpose!r} is not a purpose identifier")
        if not self.purposes or len(set(self.purposes)) != len(self.purposes):
            raise LabelError("purposes: must be a non-empty list without repeats")
        unknown = set(self.caveats) - CAVEATS
        if unknown:
            raise LabelError(
                f"caveats: {', '.join(sorted(unknown))} has no meaning in cix"
                f" (known: {', '.join(sorted(CAVEATS))})"
            )
        object.__setattr__(self, "caveats", frozenset(self.caveats))
        for name in _POSITIVE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise LabelError(f"{name}: {value!r} must be a positive integer")
        if self.one_time_visit_max_days > self.recurring_visit_max_days:
            raise LabelError(
                "one_time_visit_max_days: longer than recurring_visit_max_days"
                f" ({self.one_time_visit_max_days} > {self.recurring_visit_max_days})"
            )
        for party in self.calendars:
            if party not in self.parties:
                raise LabelError(f"calendars.{party}: {party} is not a party to {self.id}")
        object.__setattr__(self, "calendars", MappingProxyType(dict(self.calendars)))

    def _check_schemes(self) -> None:
        if set(self.schemes) != set(self.parties):
            missing = sorted(set(self.parties) - set(self.schemes))
            extra = sorted(set(self.schemes) - set(self.parties))
            raise LabelError(
                "schemes: must hold one scheme per party"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; {', '.join(extra)} is not a party" if extra else "")
            )
        for party, scheme in self.schemes.items():
            if scheme.party != party:
                raise LabelError(f"schemes.{party}: holds the scheme of {scheme.party}")
        object.__setattr__(self, "schemes", MappingProxyType(dict(self.schemes)))

    def _level(self, ref: LevelRef, where: str) -> Level:
        party, code = ref
        if party not in self.schemes:
            raise UnknownParty(f"{where}: {party!r} is not a party to {self.id}")
        try:
            return self.schemes[party].level(code)
        except UnknownLevel as exc:
            raise UnknownLevel(f"{where}: names an unknown level: {exc}") from None

    def _check_out_of_scope(self) -> None:
        if self.kind == "national" and self.out_of_scope:
            raise LabelError("out_of_scope: a national policy has no levels out of scope")
        for ref, reason in self.out_of_scope.items():
            self._level(ref, f"out_of_scope {ref[0]} {ref[1]}")
            if not isinstance(reason, str) or not reason.strip():
                raise LabelError(f"out_of_scope {ref[0]} {ref[1]}: no reason given")
        object.__setattr__(self, "out_of_scope", MappingProxyType(dict(self.out_of_scope)))

    def _check_equivalence(self) -> None:
        if self.kind == "national":
            if self.equivalence:
                raise LabelError("equivalence: a national policy has no equivalence table")
            return
        seen: dict[LevelRef, int] = {}
        for index, row in enumerate(self.equivalence):
            where = f"equivalence[{index}]"
            parties = [party for party, _ in row]
            if sorted(parties) != sorted(self.parties):
                raise LabelError(
                    f"{where}: must name one level of each party ({', '.join(self.parties)}),"
                    f" names {', '.join(parties) or 'none'}"
                )
            for ref in row:
                self._level(ref, f"{where}.{ref[0]}")
                if ref in self.out_of_scope:
                    raise LabelError(f"{where}.{ref[0]}: {ref[1]} is declared out of scope")
                if ref in seen:
                    raise LabelError(
                        f"{where}.{ref[0]}: {ref[1]} is already in equivalence[{seen[ref]}]"
                    )
                seen[ref] = index
        for party in self.parties:
            for level in self.schemes[party].levels:
                ref = (party, level.code)
                if ref not in seen and ref not in self.out_of_scope:
                    raise LabelError(
                        f"equivalence: {party} {level.code} is neither in the equivalence"
                        " table nor out of scope"
                    )
        rows = sorted(self.equivalence, key=self._row_rank_of(self.parties[0]))
        for party in self.parties[1:]:
            rank_of = self._row_rank_of(party)
            for lower, higher in itertools.pairwise(rows):
                if rank_of(lower) >= rank_of(higher):
                    first = dict(lower)
                    second = dict(higher)
                    lead = self.parties[0]
                    raise LabelError(
                        "equivalence: non-monotone: "
                        f"{lead} {first[lead]} < {lead} {second[lead]} but "
                        f"{party} {first[party]} >= {party} {second[party]}"
                    )
        object.__setattr__(self, "equivalence", tuple(rows))

    def _row_rank_of(self, party: str) -> _RowRank:
        return _RowRank(party, self.schemes[party])

    def _check_receipt_levels(self) -> None:
        if set(self.receipt_level) != set(self.parties):
            raise LabelError(
                f"receipt_level: must name one level per party ({', '.join(self.parties)})"
            )
        for party, code in self.receipt_level.items():
            self._level((party, code), f"receipt_level.{party}")
            if (party, code) in self.out_of_scope:
                raise LabelError(f"receipt_level.{party}: {code} is out of scope")
        object.__setattr__(self, "receipt_level", MappingProxyType(dict(self.receipt_level)))

    # -- precomputation --------------------------------------------------------------------

    def _precompute(self) -> None:
        refs = [(party, lv.code) for party in self.parties for lv in self.schemes[party].levels]
        ids = {ref: index for index, ref in enumerate(refs)}
        # ge[i] is the bitmask of every level that level i dominates (itself included):
        # the national chains plus both directions of each equivalence row, closed
        # transitively (Warshall; there are a dozen levels at most).
        ge = [1 << i for i in range(len(refs))]
        for party in self.parties:
            levels = self.schemes[party].levels
            for lower, higher in itertools.pairwise(levels):
                ge[ids[(party, higher.code)]] |= 1 << ids[(party, lower.code)]
        for row in self.equivalence:
            for a in row:
                for b in row:
                    ge[ids[a]] |= 1 << ids[b]
        for k in range(len(refs)):
            for i in range(len(refs)):
                if ge[i] >> k & 1:
                    ge[i] |= ge[k]
        ranks: dict[LevelRef, int] = {}
        equivalents: dict[tuple[str, str, str], str] = {}
        if self.kind == "national":
            (party,) = self.parties
            for position, level in enumerate(self.schemes[party].levels, start=1):
                ranks[(party, level.code)] = position
                equivalents[(party, level.code, party)] = level.code
        for position, row in enumerate(self.equivalence, start=1):
            for party, code in row:
                ranks[(party, code)] = position
                for to_party, to_code in row:
                    equivalents[(party, code, to_party)] = to_code
        object.__setattr__(self, "_ids", MappingProxyType(ids))
        object.__setattr__(self, "_below", MappingProxyType({r: ge[ids[r]] for r in refs}))
        object.__setattr__(self, "_ranks", MappingProxyType(ranks))
        object.__setattr__(self, "_equivalents", MappingProxyType(equivalents))

    # -- questions -------------------------------------------------------------------------

    def calendar(self, party: str) -> PartyCalendar:
        """The calendar of `party`; `UnknownParty` if it is not a party or has none here."""
        found = self.calendars.get(party)
        if found is None:
            raise UnknownParty(f"{party!r} has no calendar in {self.id} (add calendars.{party})")
        return found

    def scheme(self, party: str) -> Scheme:
        """The national scheme of `party`; `UnknownParty` if it is not a party."""
        found = self.schemes.get(party)
        if found is None:
            raise UnknownParty(
                f"{party!r} is not a party to {self.id} (parties: {', '.join(self.parties)})"
            )
        return found

    def _known(self, party: str, code: str) -> LevelRef:
        self.scheme(party).level(code)
        return (party, code)

    def in_scope(self, party: str, code: str) -> bool:
        """True if the level may be shared under this agreement (always, for a national one)."""
        return self._known(party, code) not in self.out_of_scope

    def check_in_scope(self, party: str, code: str) -> None:
        """Raise `OutOfScope` (naming the level and the reason) if the level is not shared."""
        reason = self.out_of_scope.get(self._known(party, code))
        if reason is not None:
            name = (
                self.schemes[party]
                .level(code)
                .name(self.schemes[party].language, self.schemes[party].language)
            )
            raise OutOfScope(f"{name} ({party} {code}) is out of scope of {self.id}: {reason}")

    def equivalent(self, party: str, code: str, to_party: str) -> str:
        """The level code in `to_party`'s scheme equivalent to `party`'s level `code`.

        Raises `UnknownParty`/`UnknownLevel` for names not in the agreement and `OutOfScope`
        when the level is not shared (e.g. 군사Ⅰ급비밀 toward Canada).
        """
        found = self._equivalents.get((party, code, to_party))
        if found is not None:
            return found
        self.check_in_scope(party, code)
        self.scheme(to_party)
        raise OutOfScope(f"{party} {code} has no equivalent in {to_party}'s scheme")

    def rank(self, party: str, code: str) -> int:
        """The common rank (1 = lowest) of a level in scope: equivalent levels share a rank."""
        found = self._ranks.get((party, code))
        if found is None:
            self.check_in_scope(party, code)
            raise OutOfScope(f"{party} {code} has no rank in {self.id}")  # pragma: no cover
        return found

    def level_dominates(self, party: str, code: str, other_party: str, other_code: str) -> bool:
        """True if level (party, code) is at or above (other_party, other_code).

        The order is each national order joined through the equivalence table, so an
        out-of-scope level still sits above the levels below it in its own scheme, and a
        level no path connects (TOP SECRET and 군사Ⅰ급비밀) is comparable with neither.
        """
        try:
            return bool(self._below[(party, code)] >> self._ids[(other_party, other_code)] & 1)
        except KeyError:
            self._known(party, code)
            self._known(other_party, other_code)
            raise  # pragma: no cover  (both were known: cannot happen)

    def requires_receipt(self, party: str, code: str) -> bool:
        """True if material at this level of `party`'s scheme needs a receipt on transfer."""
        return self.level_dominates(party, code, party, self.receipt_level[party])

    def check_label(self, label: Label) -> None:
        """Raise a `LabelError` naming the problem unless `label` is valid under this policy."""
        if label.policy != self.id:
            raise LabelError(f"policy: the label is under {label.policy!r}, not {self.id!r}")
        if label.originator not in self.schemes:
            raise UnknownParty(
                f"originator: {label.originator} is not a party to {self.id}"
                f" (parties: {', '.join(self.parties)})"
            )
        self.check_in_scope(label.originator, label.classification)
        if self.kind == "national" and label.releasable_to != {label.originator}:
            raise LabelError(
                f"releasable_to: {self.id} is national-only information, releasable to"
                f" {label.originator} alone (got {', '.join(sorted(label.releasable_to))})"
            )
        extra = label.caveats - self.caveats
        if extra:
            raise LabelError(f"caveats: {', '.join(sorted(extra))} is not used under {self.id}")
        if label.purpose is not None and label.purpose not in self.purposes:
            raise LabelError(
                f"purpose: {label.purpose!r} is not a purpose of {self.id}"
                f" (purposes: {', '.join(self.purposes)})"
            )


@dataclass(frozen=True)
class _RowRank:
    """Sort key: the rank of `party`'s level in an equivalence row."""

    party: str
    scheme: Scheme

    def __call__(self, row: tuple[LevelRef, ...]) -> int:
        return self.scheme.level(dict(row)[self.party]).rank
