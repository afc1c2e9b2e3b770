"""Hypothesis strategies for labels valid under the bundled policies."""

from __future__ import annotations

from datetime import UTC

from hypothesis import strategies as st

from cix.agreements import Agreement, bundled, bundled_registry
from cix.labels import Label
from cix.labels.label import EARLIEST, LATEST

CREATED = st.sampled_from([EARLIEST, LATEST]) | st.datetimes(
    min_value=EARLIEST.replace(tzinfo=None),
    max_value=LATEST.replace(tzinfo=None),
    timezones=st.just(UTC),
)
"""Creation times over the whole admitted range, its two edges drawn often."""

PROGRAMMES = ("CPSP", "KSS-III", "RESEARCH_1", "X")
KOR_CAN = bundled("kor-can")


def _in_scope_codes(agreement: Agreement, party: str) -> list[str]:
    return [c for c in agreement.scheme(party).codes() if agreement.in_scope(party, c)]


@st.composite
def labels(draw: st.DrawFn, policies: tuple[str, ...] | None = None) -> Label:
    """A random label, valid under one of `policies` (default: every bundled one)."""
    registry = bundled_registry()
    policy_id = draw(st.sampled_from(policies or tuple(sorted(registry.agreements))))
    agreement = registry.get(policy_id)
    originator = draw(st.sampled_from(agreement.parties))
    classification = draw(st.sampled_from(_in_scope_codes(agreement, originator)))
    if agreement.kind == "national":
        releasable = frozenset({originator})
    else:
        others = draw(st.frozensets(st.sampled_from(sorted(registry.parties))))
        releasable = others | {originator}
    return Label(
        policy=policy_id,
        originator=originator,
        classification=classification,
        releasable_to=releasable,
        programmes=draw(st.frozensets(st.sampled_from(PROGRAMMES))),
        caveats=draw(st.frozensets(st.sampled_from(sorted(agreement.caveats)))),
        purpose=draw(st.none() | st.sampled_from(agreement.purposes)),
        created=draw(CREATED),
    )


def kor_can_side_labels() -> st.SearchStrategy[Label]:
    """Labels whose originator is KOR or CAN (any of their policies), for kor-can dominance."""
    return labels(("kor-can", "kor-national", "can-national"))


KOR_CAN_LEVELS = [
    (party, code) for party in KOR_CAN.parties for code in KOR_CAN.scheme(party).codes()
]


def _subsets(values: frozenset[str]) -> st.SearchStrategy[frozenset[str]]:
    if not values:
        return st.just(frozenset())
    return st.frozensets(st.sampled_from(sorted(values)))


@st.composite
def above(draw: st.DrawFn, label: Label) -> Label:
    """A label built to dominate `label` under kor-can (policy left as `label`'s)."""
    party, code = draw(
        st.sampled_from(
            [
                (p, c)
                for p, c in KOR_CAN_LEVELS
                if p in label.releasable_to
                and KOR_CAN.level_dominates(p, c, label.originator, label.classification)
            ]
        )
    )
    narrower = draw(_subsets(label.releasable_to))
    return Label(
        policy=label.policy,
        originator=party,
        classification=code,
        releasable_to=narrower | {party},
        programmes=label.programmes | draw(st.frozensets(st.sampled_from(PROGRAMMES))),
        caveats=label.caveats | draw(st.frozensets(st.sampled_from(sorted(KOR_CAN.caveats)))),
        purpose=label.purpose,
        created=label.created,
    )


@st.composite
def below(draw: st.DrawFn, label: Label) -> Label:
    """A label built to be dominated by `label` under kor-can (policy left as `label`'s)."""
    party, code = draw(
        st.sampled_from(
            [
                (p, c)
                for p, c in KOR_CAN_LEVELS
                if KOR_CAN.level_dominates(label.originator, label.classification, p, c)
            ]
        )
    )
    wider = draw(st.frozensets(st.sampled_from(sorted(bundled_registry().parties))))
    return Label(
        policy=label.policy,
        originator=party,
        classification=code,
        releasable_to=label.releasable_to | wider | {party},
        programmes=draw(_subsets(label.programmes)),
        caveats=draw(_subsets(label.caveats)),
        purpose=draw(st.sampled_from([label.purpose, None])),
        created=label.created,
    )
