"""What the label core needs of a policy and of a set of policies, as protocols.

`cix.labels` is the vocabulary of labels and knows no agreement: a label is built or read
*under* a policy that the caller passes in. `cix.agreements.Agreement` and
`cix.agreements.Registry` are the implementations; nothing here imports them, and there is
no default set of policies: every function that checks a label against its policy takes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cix.labels.label import Label
    from cix.labels.scheme import Scheme


class LabelPolicy(Protocol):
    """One agreement or national policy, as far as labels are concerned."""

    @property
    def id(self) -> str:
        """The policy's identifier (`kor-can`, `can-national`)."""

    @property
    def parties(self) -> Sequence[str]:
        """The parties to the policy (one for a national policy)."""

    def scheme(self, party: str) -> Scheme:
        """`party`'s national classification scheme; raises `UnknownParty` if not a party."""

    def equivalent(self, party: str, code: str, to_party: str) -> str:
        """The level code in `to_party`'s scheme equivalent to `party`'s `code`, or raise."""

    def level_dominates(self, party: str, code: str, other_party: str, other_code: str) -> bool:
        """Whether `party`'s level `code` is at or above `other_party`'s `other_code`."""

    def check_label(self, label: Label) -> None:
        """Raise a `LabelError` unless `label` is valid under this policy."""


class PolicyRegistry(Protocol):
    """Every policy a label may be read under (the caller's registry: no hidden default)."""

    @property
    def parties(self) -> frozenset[str]:
        """Every party to any of the policies."""

    def get(self, policy_id: str) -> LabelPolicy:
        """The policy `policy_id`; raises a `LabelError` naming it if unknown."""

    def scheme(self, party: str) -> Scheme:
        """`party`'s national scheme, from whichever policy names the party."""

    def national_policy(self, party: str) -> LabelPolicy:
        """`party`'s national policy; raises a `LabelError` if there is none."""

    def covering(self, parties: Iterable[str]) -> Sequence[LabelPolicy]:
        """The policies whose parties include every one of `parties`."""

    def check_label(self, label: Label) -> LabelPolicy:
        """Raise a `LabelError` unless `label` is valid under its own policy; return that policy."""
