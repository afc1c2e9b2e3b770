"""Agreements, subjects and labels compiled into small integers and bit sets.

A node compiles the agreements it holds once (`Policies`), each subject and label once when
loaded, and then decides with integer comparisons: the one-by-one form in `engine`, the
vectorised form in `batch`. Both read the same compiled tables, so they cannot drift apart
in what they know; `tests/policy` checks that they also agree in what they conclude.

Levels are compared by rank within one national scheme. Across schemes a label's
classification is translated, through the equivalence table of the label's own policy, into
the rank it requires in each party's scheme (`CompiledLabel.need`); a party with no
equivalent level gets `OUT_OF_SCOPE`, a party outside the policy `NOT_RECOGNISED`. Both
sentinels are above every real rank, so "rank >= need" is false for them without a branch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cix.agreements import Agreement
from cix.errors import InputError
from cix.labels import GOVONLY, Label
from cix.policy.decision import Action, Obligation
from cix.policy.subject import Clearance, OrganisationKind, Subject

OUT_OF_SCOPE = 126
NOT_RECOGNISED = 127
MAX_RANK = 100
MAX_PARTIES = 63
"""Parties are bits of a 64-bit word in the batch form."""


class PolicyError(InputError):
    """A request names something the policies held do not know (a policy, party or level)."""


def _ts(moment: datetime | None) -> float:
    return float("-inf") if moment is None else moment.timestamp()


@dataclass(frozen=True, slots=True)
class _Policy:
    """One agreement or national policy, reduced to what decisions read."""

    index: int
    agreement: Agreement
    parties_mask: int
    national: bool


class CompiledSubject:
    """A subject as integers: see `Policies.subject`. Internal to cix.policy."""

    __slots__ = (
        "brief",
        "cl_col",
        "cl_exp",
        "cl_rank",
        "contractor",
        "fcl_col",
        "fcl_exp",
        "fcl_missing",
        "fcl_rank",
        "level_key",
        "nat",
        "progs",
        "stamp",
        "subject",
    )

    def __init__(self, **values: object) -> None:
        for name, value in values.items():
            setattr(self, name, value)

    subject: Subject
    cl_col: int
    cl_rank: int
    cl_exp: float
    nat: int
    brief: float
    progs: Mapping[str, float]
    contractor: bool
    fcl_missing: bool
    fcl_col: int
    fcl_rank: int
    fcl_exp: float
    level_key: str
    stamp: Obligation


class CompiledLabel:
    """A label as integers and bit sets: see `Policies.label`. Internal to cix.policy."""

    __slots__ = (
        "agreement",
        "caveats",
        "equivalents",
        "govonly",
        "inside",
        "label",
        "level_key",
        "need",
        "obligations",
        "orig_col",
        "out_of_scope",
        "outside",
        "own_rank",
        "parties_mask",
        "policy",
        "prog",
        "prog_names",
        "purpose",
        "receipt",
        "rel",
    )

    def __init__(self, **values: object) -> None:
        for name, value in values.items():
            setattr(self, name, value)

    label: Label
    agreement: Agreement
    level_key: str
    policy: int
    need: tuple[int, ...]
    orig_col: int
    own_rank: int
    rel: int
    parties_mask: int
    inside: int
    out_of_scope: int
    outside: int
    prog: int
    prog_names: tuple[str, ...]
    caveats: int
    govonly: bool
    purpose: str | None
    receipt: bool
    equivalents: Mapping[str, str]
    obligations: dict[tuple[Action, str], tuple[Obligation, ...]]


_MAX_SUBJECTS = 4096


class Policies:
    """The agreements and national policies a node holds, compiled for decisions.

    Party bit `i` < `len(agreement_parties)` is an agreement party and also column `i` of a
    label's `need` row; further parties (nationalities of other states) get later bits and
    share the column `other_col`; column `gov_col` is what a government employee's facility
    clearance is checked against (always satisfied, since none is needed).
    """

    def __init__(self, agreements: Iterable[Agreement]) -> None:
        held = list(agreements)
        if not held:
            raise PolicyError("no agreement or national policy given")
        parties: list[str] = []
        for agreement in held:
            for party in agreement.parties:
                if party not in parties:
                    parties.append(party)
        if len(parties) >= MAX_PARTIES:
            raise PolicyError(f"at most {MAX_PARTIES - 1} parties are supported")
        self.agreement_parties: tuple[str, ...] = tuple(parties)
        self.party_index: dict[str, int] = {p: i for i, p in enumerate(parties)}
        self.other_col = len(parties)
        self.gov_col = len(parties) + 1
        self.programme_index: dict[str, int] = {}
        self.caveat_index: dict[str, int] = {}
        self.purpose_index: dict[str, int] = {}
        self.policies: dict[str, _Policy] = {}
        self.ranks: dict[str, dict[str, int]] = {}
        for agreement in held:
            if agreement.id in self.policies:
                raise PolicyError(f"policy {agreement.id!r} is given twice")
            mask = 0
            for party in agreement.parties:
                mask |= 1 << self.party_index[party]
                self._add_scheme(agreement, party)
            self.policies[agreement.id] = _Policy(
                index=len(self.policies),
                agreement=agreement,
                parties_mask=mask,
                national=len(agreement.parties) == 1,
            )
        self.policy_ids: tuple[str, ...] = tuple(self.policies)
        self._labels: dict[Label, CompiledLabel] = {}
        # A compiled subject depends on the subject (and these policies) only; bounded, since
        # subjects come and go (a server sees the same few again and again).
        self._subjects: dict[Subject, CompiledSubject] = {}
        self._by_identity: dict[int, tuple[Subject, CompiledSubject]] = {}

    def _add_scheme(self, agreement: Agreement, party: str) -> None:
        # positions in the scheme (levels are sorted lowest first), so ranks stay small
        levels = sorted(agreement.schemes[party].levels, key=lambda level: level.rank)
        ranks = {level.code: position for position, level in enumerate(levels)}
        if len(ranks) >= MAX_RANK:
            raise PolicyError(f"{agreement.id}: the scheme of {party} has too many levels")
        known = self.ranks.setdefault(party, ranks)
        if known != ranks:
            raise PolicyError(f"{agreement.id}: the scheme of {party} differs between policies")

    # -- parties, programmes, levels -------------------------------------------------------

    def party_bit(self, party: str) -> int:
        """The bit index of `party`, assigning a new one to a party seen for the first time."""
        index = self.party_index.get(party)
        if index is None:
            index = len(self.party_index)
            if index >= MAX_PARTIES:
                raise PolicyError(f"too many distinct parties (at most {MAX_PARTIES})")
            self.party_index[party] = index
        return index

    def column(self, party: str) -> int:
        """The `need` column of `party` (parties outside every agreement share one)."""
        index = self.party_index.get(party)
        return self.other_col if index is None or index >= self.other_col else index

    def programme_bit(self, name: str) -> int:
        """The bit index of programme `name`, assigned on first sight."""
        return self.programme_index.setdefault(name, len(self.programme_index))

    def _small_index(self, table: dict[str, int], name: str, what: str) -> int:
        index = table.setdefault(name, len(table))
        if index >= 64:
            raise PolicyError(f"too many distinct {what} (at most 64)")
        return index

    def rank(self, party: str, code: str, where: str) -> int:
        """The rank of level `code` in `party`'s scheme; PolicyError naming `where` if unknown."""
        scheme = self.ranks.get(party)
        if scheme is None:
            raise PolicyError(
                f"{where}: party {party!r} has no national scheme in the policies held "
                f"({', '.join(self.policy_ids)})"
            )
        rank = scheme.get(code)
        if rank is None:
            raise PolicyError(
                f"{where}: {code!r} is not a level of {party} (levels: {', '.join(scheme)})"
            )
        return rank

    def policy(self, policy_id: str) -> _Policy:
        """The compiled policy `policy_id`; PolicyError if it is not held."""
        found = self.policies.get(policy_id)
        if found is None:
            raise PolicyError(
                f"label policy {policy_id!r} is not among the policies held "
                f"({', '.join(self.policy_ids)})"
            )
        return found

    # -- compiling subjects and labels -----------------------------------------------------

    def subject(self, subject: Subject) -> CompiledSubject:
        """Compile a subject (cached): its clearance level must be a level of the issuing
        party."""
        # The registry hands out the same Subject object while a person's facts hold: known
        # by identity, it is neither hashed nor compared field by field (both deep). The
        # entry holds the object, so its id cannot be another's while it is there.
        seen = self._by_identity.get(id(subject))
        if seen is not None and seen[0] is subject:
            return seen[1]
        cached = self._subjects.get(subject)
        if cached is None:
            cached = self._compile_subject(subject)
            if len(self._subjects) >= _MAX_SUBJECTS:
                self._subjects.clear()
            self._subjects[subject] = cached
        if len(self._by_identity) >= _MAX_SUBJECTS:
            self._by_identity.clear()
        self._by_identity[id(subject)] = (subject, cached)
        return cached

    def _compile_subject(self, subject: Subject) -> CompiledSubject:
        nat = 0
        for party in subject.nationalities:
            nat |= 1 << self.party_bit(party)
        clearance = subject.clearance
        cl_col, cl_rank, cl_exp = -1, -1, float("-inf")
        if clearance is not None:
            cl_col, cl_rank = self._clearance(clearance, "subject.clearance")
            cl_exp = _ts(clearance.expires)
        contractor = subject.organisation.kind is OrganisationKind.CONTRACTOR
        fcl = subject.organisation.facility_clearance
        fcl_col, fcl_rank, fcl_exp = self.gov_col, 0, float("inf")
        if contractor:
            fcl_col, fcl_rank, fcl_exp = self.other_col, -1, float("inf")
            if fcl is not None:
                fcl_col, fcl_rank = self._clearance(fcl, "subject.organisation.facility_clearance")
                fcl_exp = _ts(fcl.expires)
        for name in subject.programmes:
            self.programme_bit(name)
        return CompiledSubject(
            subject=subject,
            cl_col=cl_col,
            cl_rank=cl_rank,
            cl_exp=cl_exp,
            nat=nat,
            brief=_ts(subject.briefed_until),
            progs={name: _ts(expiry) for name, expiry in subject.programmes.items()},
            contractor=contractor,
            fcl_missing=contractor and fcl is None,
            fcl_col=fcl_col,
            fcl_rank=fcl_rank,
            fcl_exp=fcl_exp,
            level_key="" if clearance is None else f"{clearance.party} {clearance.level}",
            stamp=Obligation("stamp-identity", (("subject", subject.id),)),
        )

    def _clearance(self, clearance: Clearance, where: str) -> tuple[int, int]:
        rank = self.rank(clearance.party, clearance.level, f"{where}.level")
        return self.column(clearance.party), rank

    def label(self, label: Label) -> CompiledLabel:
        """Compile a label (cached): the rank it needs in every party's scheme, its bit sets."""
        cached = self._labels.get(label)
        if cached is not None:
            return cached
        pol = self.policy(label.policy)
        agreement = pol.agreement
        agreement.check_label(label)
        origin = label.originator
        own_rank = self.rank(origin, label.classification, "label.classification")
        need = [NOT_RECOGNISED] * (self.gov_col + 1)
        need[self.gov_col] = 0
        equivalents: dict[str, str] = {}
        for party in agreement.parties:
            code = _equivalent(agreement, origin, label.classification, party)
            if code is None:
                need[self.column(party)] = OUT_OF_SCOPE
            else:
                equivalents[party] = code
                need[self.column(party)] = self.rank(party, code, f"{agreement.id} equivalence")
        rel = 0
        for party in label.releasable_to:
            rel |= 1 << self.party_bit(party)
        prog = 0
        for name in label.programmes:
            prog |= 1 << self.programme_bit(name)
        caveats = 0
        for caveat in label.caveats:
            caveats |= 1 << self._small_index(self.caveat_index, caveat, "caveats")
        if label.purpose is not None:
            self._small_index(self.purpose_index, label.purpose, "purposes")
        receipt = agreement.requires_receipt(origin, label.classification)
        compiled = CompiledLabel(
            label=label,
            agreement=agreement,
            level_key=f"{label.originator} {label.classification}",
            policy=pol.index,
            need=tuple(need),
            orig_col=self.column(origin),
            own_rank=own_rank,
            rel=rel,
            parties_mask=pol.parties_mask,
            inside=-1 if pol.national else pol.parties_mask,
            outside=0 if pol.national else ~pol.parties_mask,
            out_of_scope=self._out_of_scope(pol, label),
            prog=prog,
            prog_names=tuple(sorted(label.programmes)),
            caveats=caveats,
            govonly=GOVONLY in label.caveats,
            purpose=label.purpose,
            receipt=receipt,
            equivalents=equivalents,
            obligations={},
        )
        self._labels[label] = compiled
        return compiled

    def _out_of_scope(self, pol: _Policy, label: Label) -> int:
        """The parties toward which the label's level is definitely not shared.

        Toward a party of the label's own policy, that policy's equivalence decides. Toward
        another party, every held agreement between the originator and that party decides
        (national information at 군사Ⅰ급비밀 is out of scope toward Canada under kor-can);
        where no held agreement links them there is no scope to check.
        """
        origin, code = label.originator, label.classification
        mask = 0
        for party in self.agreement_parties:
            if party == origin:
                continue
            if party in pol.agreement.parties:
                governing = [pol.agreement]
            else:
                governing = [
                    p.agreement
                    for p in self.policies.values()
                    if not p.national and {origin, party} <= set(p.agreement.parties)
                ]
            if governing and all(_equivalent(a, origin, code, party) is None for a in governing):
                mask |= 1 << self.party_index[party]
        return mask

    def subjects(self, subjects: Sequence[Subject]) -> list[CompiledSubject]:
        """Compile many subjects."""
        return [self.subject(s) for s in subjects]

    def labels(self, labels: Sequence[Label]) -> list[CompiledLabel]:
        """Compile many labels."""
        return [self.label(lab) for lab in labels]


def _equivalent(agreement: Agreement, party: str, code: str, to_party: str) -> str | None:
    """The level of `to_party` equivalent to `code` of `party`, or None when out of scope."""
    if party == to_party:
        return code
    try:
        return agreement.equivalent(party, code, to_party)
    except InputError:
        return None
