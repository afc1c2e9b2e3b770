"""Random subjects, labels and requests over the bundled agreements (seeded, reproducible).

Used by the differential test against Cedar, the batch-equals-one-by-one test and
`bench/decisions.py`. The values are drawn so that every rule fails often enough to matter:
expiries straddle the decision times, nationalities include third parties, programmes come
from the small universe the Cedar policy spells out.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cix.agreements import Agreement, bundled
from cix.labels import Label
from cix.policy import (
    Action,
    Clearance,
    Organisation,
    OrganisationKind,
    Policies,
    Subject,
    make_subject,
)
from tests.policy.cedar_model import PROGRAMMES

POLICY_IDS = ("kor-can", "can-deu", "kor-national", "can-national", "deu-national")
NATIONS = ("KOR", "CAN", "DEU", "USA")
BASE = datetime(2026, 6, 1, tzinfo=UTC)
PURPOSES = ("defence-procurement", "research", "operational-coordination", "national-defence")


def agreements() -> list[Agreement]:
    """The bundled agreements and national policies the cases are drawn under."""
    return [bundled(i) for i in POLICY_IDS]


def _moment(rng: random.Random) -> datetime:
    # whole seconds, within a year either side of BASE
    return BASE + timedelta(seconds=rng.randrange(-365 * 86400, 365 * 86400))


def _expiry(rng: random.Random) -> datetime:
    # mostly valid at every decision time, sometimes anywhere around them
    if rng.random() < 0.8:
        return BASE + timedelta(days=400, seconds=rng.randrange(365 * 86400))
    return _moment(rng)


def _levels(agreement: Agreement, party: str) -> list[str]:
    return [lv.code for lv in agreement.schemes[party].levels]


def _level(rng: random.Random, agreement: Agreement, party: str) -> str:
    codes = _levels(agreement, party)[::-1]  # highest first: favour the higher levels
    return rng.choices(codes, weights=[2.0**-i for i in range(len(codes))])[0]


def random_subject(rng: random.Random, ident: str, held: Sequence[Agreement]) -> Subject:
    """A subject with random nationalities, clearance, briefing, programmes and employer."""
    schemes = {p: a for a in held for p in a.parties}
    home = rng.choice(("KOR", "CAN", "DEU", "KOR", "CAN", "USA"))
    nats = [home] if rng.random() < 0.85 else [home, rng.choice(NATIONS)]
    clearance = None
    if rng.random() < 0.93:
        party = home if home in schemes and rng.random() < 0.9 else rng.choice(sorted(schemes))
        clearance = Clearance(party, _level(rng, schemes[party], party), _expiry(rng))
    programmes = {p: _expiry(rng) for p in PROGRAMMES if rng.random() < 0.75}
    kind = OrganisationKind.CONTRACTOR if rng.random() < 0.3 else OrganisationKind.GOVERNMENT
    fcl = None
    if kind is OrganisationKind.CONTRACTOR and rng.random() < 0.85:
        party = home if home in schemes and rng.random() < 0.9 else rng.choice(sorted(schemes))
        fcl = Clearance(party, _level(rng, schemes[party], party), _expiry(rng))
    return make_subject(
        id=ident,
        nationalities=frozenset(nats),
        clearance=clearance,
        briefed_until=None if rng.random() < 0.03 else _expiry(rng),
        programmes=programmes,
        roles=frozenset(rng.sample(("analyst", "nsa-officer", "fso", "admiral"), 1)),
        organisation=Organisation(f"org-{ident}", kind, nats[0], fcl),
    )


def random_label(rng: random.Random, held: Sequence[Agreement]) -> Label:
    """A label valid under one of the held policies."""
    agreement = rng.choice([*held, *(a for a in held if a.kind != "national")])
    origin = rng.choice(agreement.parties)
    codes = [c for c in _levels(agreement, origin) if agreement.in_scope(origin, c)]
    rel = {origin}
    if agreement.kind != "national":
        rel |= {p for p in agreement.parties if rng.random() < 0.8}
    purpose = None
    if rng.random() < 0.3:
        purpose = rng.choice([p for p in PURPOSES if p in agreement.purposes] or [None])
    return Label(
        policy=agreement.id,
        originator=origin,
        classification=rng.choice(codes),
        releasable_to=frozenset(rel),
        programmes=frozenset(p for p in PROGRAMMES if rng.random() < 0.2),
        caveats=frozenset(c for c in sorted(agreement.caveats) if rng.random() < 0.15),
        purpose=purpose,
        created=BASE - timedelta(days=30),
    )


@dataclass(frozen=True)
class Case:
    """One request by indices into the subjects and labels of a `World`."""

    subject: int
    label: int
    action: Action
    now: datetime
    to: str | None
    consent: str | None
    purpose: str | None
    source: int | None


@dataclass(frozen=True)
class World:
    """Subjects, labels and requests drawn from one seed."""

    policies: Policies
    agreements: list[Agreement]
    subjects: list[Subject]
    labels: list[Label]
    cases: list[Case]


def world(
    seed: int,
    n_cases: int,
    *,
    n_subjects: int = 400,
    n_labels: int = 300,
    instants: int = 8,
    actions: Sequence[Action] = tuple(Action),
) -> World:
    """A reproducible world: `n_cases` requests over random subjects and labels."""
    rng = random.Random(seed)
    held = agreements()
    subjects = [random_subject(rng, f"s{i}", held) for i in range(n_subjects)]
    labels = [random_label(rng, held) for _ in range(n_labels)]
    times = [_moment(rng) for _ in range(instants)]
    by_policy: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_policy.setdefault(lab.policy, []).append(i)
    cases = []
    for _ in range(n_cases):
        label = rng.randrange(n_labels)
        action = rng.choice(actions)
        source = None
        if action is Action.CREATE and rng.random() < 0.8:
            # mostly a source under the same policy, so that dominance is really tested
            same = by_policy[labels[label].policy]
            source = rng.choice(same) if rng.random() < 0.8 else rng.randrange(n_labels)
        cases.append(
            Case(
                subject=rng.randrange(n_subjects),
                label=label,
                action=action,
                now=rng.choice(times),
                to=rng.choice(NATIONS),
                consent=f"consent-{rng.randrange(1000)}" if rng.random() < 0.5 else None,
                purpose=rng.choice(PURPOSES) if rng.random() < 0.2 else None,
                source=source,
            )
        )
    return World(Policies(held), held, subjects, labels, cases)
