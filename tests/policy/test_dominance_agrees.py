"""One `dominates`: the label core's is the truth; the policy engines must agree with it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from cix.agreements import bundled_registry
from cix.labels import Label, dominates
from cix.policy import Policies
from cix.policy.batch import U32, BatchTables
from cix.policy.decision import Code
from cix.policy.engine import dominates as engine_dominates
from tests.labels.strategies import kor_can_side_labels, labels

POLICIES = Policies(bundled_registry().agreements.values())


def _agrees(a: Label, b: Label) -> None:
    agreement = bundled_registry().get(b.policy)
    new, source = POLICIES.label(a), POLICIES.label(b)
    truth = dominates(a, b, agreement)
    assert engine_dominates(new, source) is truth
    tables = BatchTables.build(POLICIES, [], [new, source])
    bits = np.zeros(1, dtype=U32)
    index = np.array([0], dtype=np.intp)
    tables._write_down(bits, index, index, index + 1)
    assert bool(bits[0] & U32(Code.WRITE_DOWN.value)) is not truth


@settings(deadline=None)
@given(kor_can_side_labels(), kor_can_side_labels())
def test_engine_dominates_is_the_label_cores(a: Label, b: Label) -> None:
    _agrees(a, b)


@settings(deadline=None)
@given(labels())
def test_engine_dominates_is_the_label_cores_on_equal_and_purpose_changed(a: Label) -> None:
    _agrees(a, a)
    agreement = bundled_registry().get(a.policy)
    for purpose in (None, *agreement.purposes):
        _agrees(_with_purpose(a, purpose), a)
        _agrees(a, _with_purpose(a, purpose))


def _with_purpose(label: Label, purpose: str | None) -> Label:
    return Label(
        policy=label.policy,
        originator=label.originator,
        classification=label.classification,
        releasable_to=label.releasable_to,
        programmes=label.programmes,
        caveats=label.caveats,
        purpose=purpose,
        created=label.created,
    )
