"""Hypothesis: decisions are monotone where the rules say they must be.

Making a label more restrictive (another programme, another caveat, fewer releasable
parties, a higher level) never turns a deny into a permit; giving a subject more (a higher
clearance, another programme membership, a consent reference) never turns a permit into a
deny; time passing never turns a deny into a permit. (Adding a nationality is deliberately
not monotone: a national of a third party is refused, rule 2.)
"""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cix.labels import Label
from cix.policy import Action, Clearance, Policies, Subject, decide, make_subject
from tests.policy.cases import BASE, agreements, random_label, random_subject
from tests.policy.cedar_model import PROGRAMMES

HELD = agreements()
POLICIES = Policies(HELD)
ACTIONS = st.sampled_from(list(Action))
PARTIES = st.sampled_from(["KOR", "CAN", "DEU", "USA"])
TIMES = st.integers(-400, 400).map(lambda d: BASE + timedelta(days=d))


def _subject(rng: random.Random) -> Subject:
    return random_subject(rng, "s", HELD)


def _label(rng: random.Random) -> Label:
    return random_label(rng, HELD)


def _permits(subject: Subject, label: Label, action: Action, **kw: object) -> bool:
    return decide(subject, label, action, agreements=POLICIES, **kw).permit  # type: ignore[arg-type]


def _with(subject: Subject, **changes: object) -> Subject:
    fields: dict[str, Any] = {
        "id": subject.id,
        "nationalities": subject.nationalities,
        "clearance": subject.clearance,
        "briefed_until": subject.briefed_until,
        "programmes": dict(subject.programmes),
        "roles": subject.roles,
        "organisation": subject.organisation,
    }
    fields.update(changes)
    return make_subject(**fields)


common = settings(max_examples=300, deadline=None)


@common
@given(st.randoms(use_true_random=False), ACTIONS, TIMES, PARTIES, st.sampled_from(PROGRAMMES))
def test_adding_a_programme_to_a_label_never_turns_deny_into_permit(
    rng: random.Random, action: Action, now: object, to: str, programme: str
) -> None:
    subject, label = _subject(rng), _label(rng)
    more = dataclasses.replace(label, programmes=label.programmes | {programme})
    if _permits(subject, more, action, now=now, to=to):
        assert _permits(subject, label, action, now=now, to=to)


@common
@given(st.randoms(use_true_random=False), ACTIONS, TIMES, PARTIES)
def test_adding_a_caveat_or_removing_a_releasable_party_never_turns_deny_into_permit(
    rng: random.Random, action: Action, now: object, to: str
) -> None:
    subject, label = _subject(rng), _label(rng)
    agreement = POLICIES.policy(label.policy).agreement
    stricter = [dataclasses.replace(label, caveats=label.caveats | {c}) for c in agreement.caveats]
    stricter += [
        dataclasses.replace(label, releasable_to=label.releasable_to - {p})
        for p in label.releasable_to - {label.originator}
    ]
    for strict in stricter:
        if _permits(subject, strict, action, now=now, to=to):
            assert _permits(subject, label, action, now=now, to=to)


@common
@given(st.randoms(use_true_random=False), ACTIONS, TIMES, PARTIES)
def test_a_higher_classification_never_turns_deny_into_permit(
    rng: random.Random, action: Action, now: object, to: str
) -> None:
    subject, label = _subject(rng), _label(rng)
    agreement = POLICIES.policy(label.policy).agreement
    levels = [lv.code for lv in agreement.schemes[label.originator].levels]
    for code in levels[levels.index(label.classification) + 1 :]:
        if not agreement.in_scope(label.originator, code):
            continue
        higher = dataclasses.replace(label, classification=code)
        if _permits(subject, higher, action, now=now, to=to):
            assert _permits(subject, label, action, now=now, to=to)


@common
@given(st.randoms(use_true_random=False), ACTIONS, TIMES, PARTIES)
def test_a_higher_clearance_or_another_programme_never_turns_permit_into_deny(
    rng: random.Random, action: Action, now: object, to: str
) -> None:
    subject, label = _subject(rng), _label(rng)
    if not _permits(subject, label, action, now=now, to=to):
        return
    clearance = subject.clearance
    assert clearance is not None
    ranks = POLICIES.ranks[clearance.party]
    levels = sorted(ranks, key=ranks.__getitem__)
    for code in levels[levels.index(clearance.level) :]:
        higher = _with(subject, clearance=Clearance(clearance.party, code, clearance.expires))
        assert _permits(higher, label, action, now=now, to=to)
    for programme in PROGRAMMES:
        progs = {**subject.programmes, programme: BASE + timedelta(days=5000)}
        assert _permits(_with(subject, programmes=progs), label, action, now=now, to=to)
    assert _permits(subject, label, action, now=now, to=to, consent="C-1")


@common
@given(st.randoms(use_true_random=False), ACTIONS, TIMES, st.integers(1, 800), PARTIES)
def test_time_passing_never_turns_deny_into_permit(
    rng: random.Random, action: Action, now: object, days: int, to: str
) -> None:
    subject, label = _subject(rng), _label(rng)
    later = now + timedelta(days=days)  # type: ignore[operator]
    if _permits(subject, label, action, now=later, to=to):
        assert _permits(subject, label, action, now=now, to=to)
