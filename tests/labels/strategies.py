"""Hypothesis strategies for labels valid under the bundled policies."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from cix.agreements import Agreement, bundled, bundled_registry
from cix.labels import Label

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
        created=draw(
            st.datetimes(
                min_value=datetime(2000, 1, 1),
                max_value=datetime(2100, 1, 1),
                timezones=st.just(UTC),
            )
        ),
    )


def kor_can_side_labels() -> st.SearchStrategy[Label]:
    """Labels whose originator is KOR or CAN (any of their policies), for kor-can dominance."""
    return labels(("kor-can", "kor-national", "can-national"))
