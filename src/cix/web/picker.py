"""The label picker of the upload form: only the labels its user may create.

The choices are the levels of this node's party, under each policy the node holds, that
`cix.policy.decide` permits the user to create right now (the same decision the upload then
makes, and audits, on the label actually chosen: the picker only leaves out what would be
refused), with the releasability, programmes (those the user holds) and caveats that policy
knows. The label is then built from the form by `label_from_form`, which names any mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cix.agreements import Agreement, bundled_registry
from cix.errors import CixError, InputError
from cix.labels import Label, make_label
from cix.policy import Action, Policies, Subject, decide


@dataclass(frozen=True, slots=True)
class LevelChoice:
    """One offered base of a label: a policy and a level of this node's party."""

    value: str
    policy: str
    policy_title: str
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Picker:
    """What the upload form offers its user."""

    levels: tuple[LevelChoice, ...]
    parties: tuple[str, ...]
    programmes: tuple[str, ...]
    caveats: tuple[str, ...]


def picker_for(
    subject: Subject,
    party: str,
    agreements: Mapping[str, Agreement],
    policies: Policies,
    now: datetime,
    language: str,
) -> Picker:
    """The choices of the upload form for `subject` (see the module docstring)."""
    registry = bundled_registry()
    levels: list[LevelChoice] = []
    parties: set[str] = set()
    caveats: set[str] = set()
    for policy_id in sorted(agreements):
        agreement = agreements[policy_id]
        if party not in agreement.parties:
            continue
        scheme = agreement.scheme(party)
        for level in reversed(scheme.levels):
            try:
                trial = make_label(
                    agreement,
                    originator=party,
                    classification=level.code,
                    releasable_to=(party,),
                    created=now,
                    registry=registry,
                )
            except CixError:
                continue  # a level out of this policy's scope
            if decide(subject, trial, Action.CREATE, agreements=policies, now=now).permit:
                levels.append(
                    LevelChoice(
                        value=f"{policy_id}:{level.code}",
                        policy=policy_id,
                        policy_title=agreement.title,
                        code=level.code,
                        name=level.name(language, scheme.language),
                    )
                )
                parties.update(agreement.parties)
                caveats.update(agreement.caveats)
    held = tuple(sorted(p for p, until in subject.programmes.items() if until > now))
    return Picker(tuple(levels), tuple(sorted(parties)), held, tuple(sorted(caveats)))


def label_from_form(
    picker: Picker,
    *,
    level: str,
    releasable_to: Iterable[str],
    programmes: Iterable[str],
    caveats: Iterable[str],
    party: str,
    agreements: Mapping[str, Agreement],
    now: datetime,
) -> Label:
    """The label the form describes; `InputError` naming the field for a choice that was
    not offered or a label its policy refuses."""
    chosen = next((c for c in picker.levels if c.value == level), None)
    if chosen is None:
        raise InputError("classification: choose one of the levels offered")
    agreement = agreements[chosen.policy]
    rel = set(releasable_to) | {party}
    unknown = sorted(rel - set(agreement.parties))
    if unknown:
        raise InputError(f"releasable to: {', '.join(unknown)} not a party of {chosen.policy}")
    progs = set(programmes)
    if not progs <= set(picker.programmes):
        raise InputError("programmes: choose only programmes you hold")
    cavs = set(caveats)
    if not cavs <= set(agreement.caveats):
        raise InputError(f"caveats: choose only caveats of {chosen.policy}")
    return make_label(
        agreement,
        originator=party,
        classification=chosen.code,
        releasable_to=sorted(rel),
        programmes=sorted(progs),
        caveats=sorted(cavs),
        created=now,
        registry=bundled_registry(),
    )
