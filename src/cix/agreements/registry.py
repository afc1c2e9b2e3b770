"""A `Registry`: the agreements and national policies a node holds, checked against each other."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cix.agreements.model import Agreement
from cix.labels.errors import LabelError, UnknownParty
from cix.labels.label import Label
from cix.labels.scheme import Scheme


@dataclass(frozen=True, eq=False)
class Registry:
    """Agreements and national policies by id; every party has one scheme across all of them.

    A party's scheme written in two files must be the same scheme (same codes, ranks and
    names), or the registry refuses to form: the same words cannot mean two things.
    """

    agreements: Mapping[str, Agreement]
    _schemes: Mapping[str, Scheme] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        schemes: dict[str, tuple[Scheme, str]] = {}
        for policy_id, agreement in self.agreements.items():
            if policy_id != agreement.id:
                raise LabelError(f"registry: {policy_id!r} holds agreement {agreement.id!r}")
            for party, scheme in agreement.schemes.items():
                earlier = schemes.get(party)
                if earlier is not None and earlier[0] != scheme:
                    raise LabelError(
                        f"{agreement.id}: the scheme of {party} differs from the one in"
                        f" {earlier[1]}"
                    )
                schemes.setdefault(party, (scheme, agreement.id))
        object.__setattr__(self, "agreements", MappingProxyType(dict(self.agreements)))
        object.__setattr__(
            self, "_schemes", MappingProxyType({p: s for p, (s, _) in schemes.items()})
        )

    @property
    def parties(self) -> frozenset[str]:
        """Every party known to some agreement or policy of the registry."""
        return frozenset(self._schemes)

    def get(self, policy_id: str) -> Agreement:
        """The agreement or national policy with this id; a `LabelError` naming it if none."""
        found = self.agreements.get(policy_id)
        if found is None:
            raise LabelError(
                f"unknown agreement or policy {policy_id!r}"
                f" (known: {', '.join(sorted(self.agreements))})"
            )
        return found

    def scheme(self, party: str) -> Scheme:
        """The national scheme of `party`; `UnknownParty` if no agreement names it."""
        found = self._schemes.get(party)
        if found is None:
            raise UnknownParty(
                f"{party!r} is not a party to any known agreement"
                f" (parties: {', '.join(sorted(self._schemes))})"
            )
        return found

    def national_policy(self, party: str) -> Agreement:
        """The national policy of `party` (for information that stays national)."""
        self.scheme(party)
        for agreement in self.agreements.values():
            if agreement.kind == "national" and agreement.parties == (party,):
                return agreement
        raise LabelError(f"no national policy for {party} is loaded")

    def covering(self, parties: Iterable[str]) -> tuple[Agreement, ...]:
        """The agreements (not national policies) whose parties include all of `parties`."""
        wanted = set(parties)
        return tuple(
            a
            for a in self.agreements.values()
            if a.kind == "agreement" and wanted <= set(a.parties)
        )

    def check_label(self, label: Label) -> Agreement:
        """Check `label` under its policy and every party it names; return the policy."""
        agreement = self.get(label.policy)
        agreement.check_label(label)
        unknown = sorted(label.releasable_to - self.parties)
        if unknown:
            raise UnknownParty(
                f"releasable_to: {', '.join(unknown)} is not a party to any known agreement"
                f" (parties: {', '.join(sorted(self.parties))})"
            )
        return agreement
