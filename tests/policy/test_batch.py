"""The vectorised engine gives every request exactly the reasons the one-by-one engine gives."""

from __future__ import annotations

import numpy as np
import pytest

from cix.policy import Action, Policies, Request, decide, decide_many
from cix.policy.batch import BatchTables
from cix.policy.decision import ACTION_INDEX
from cix.policy.engine import request_bits
from tests.policy.cases import World, world


def _columns(w: World, pol: Policies) -> dict[str, np.ndarray]:
    cases = w.cases
    return {
        "subject_index": np.array([c.subject for c in cases], dtype=np.intp),
        "label_index": np.array([c.label for c in cases], dtype=np.intp),
        "action": np.array([ACTION_INDEX[c.action] for c in cases], dtype=np.int8),
        "to": np.array([pol.party_bit(c.to or "KOR") for c in cases], dtype=np.intp),
        "consent": np.array([c.consent is not None for c in cases]),
        "purpose": np.array(
            [-1 if c.purpose is None else pol.purpose_index.get(c.purpose, 99) for c in cases],
            dtype=np.int32,
        ),
        "source": np.array([-1 if c.source is None else c.source for c in cases], dtype=np.intp),
    }


def _one_by_one(w: World, pol: Policies, *, at: float | None = None) -> list[int]:
    subjects = pol.subjects(w.subjects)
    labels = pol.labels(w.labels)
    return [
        request_bits(
            pol,
            subjects[c.subject],
            labels[c.label],
            c.action,
            c.now.timestamp() if at is None else at,
            to=c.to,
            consent=c.consent,
            purpose=c.purpose,
            sources=[] if c.source is None else [labels[c.source]],
        )
        for c in w.cases
    ]


@pytest.mark.parametrize("one_instant", [True, False], ids=["one-instant", "per-request-time"])
def test_batch_bits_equal_one_by_one_bits(one_instant: bool) -> None:
    w = world(seed=7, n_cases=30_000)
    pol = w.policies
    expected = _one_by_one(w, pol, at=w.cases[0].now.timestamp() if one_instant else None)
    tables = BatchTables.build(pol, pol.subjects(w.subjects), pol.labels(w.labels))
    cols = _columns(w, pol)
    now = (
        w.cases[0].now.timestamp()
        if one_instant
        else np.array([c.now.timestamp() for c in w.cases], dtype=np.float64)
    )
    got = tables.decide(
        cols["subject_index"],
        cols["label_index"],
        cols["action"],
        now,
        to=cols["to"],
        consent=cols["consent"],
        purpose=cols["purpose"],
        source=cols["source"],
    )
    mismatch = np.flatnonzero(got != np.array(expected, dtype=np.uint32))
    assert mismatch.size == 0, [(int(i), int(got[i]), expected[i]) for i in mismatch[:5]]
    assert 0 < int((got == 0).sum()) < len(expected)


def test_batch_with_one_action_for_all_equals_the_action_column() -> None:
    w = world(seed=11, n_cases=5_000, actions=(Action.RELEASE,))
    pol = w.policies
    tables = BatchTables.build(pol, pol.subjects(w.subjects), pol.labels(w.labels))
    cols = _columns(w, pol)
    at = w.cases[0].now.timestamp()
    common = {"to": cols["to"], "consent": cols["consent"], "purpose": cols["purpose"]}
    single = tables.decide(cols["subject_index"], cols["label_index"], Action.RELEASE, at, **common)
    column = tables.decide(cols["subject_index"], cols["label_index"], cols["action"], at, **common)
    assert (single == column).all()
    assert (single == np.array(_one_by_one(w, pol, at=at), dtype=np.uint32)).all()


def test_decide_many_gives_the_same_decisions_as_decide() -> None:
    w = world(seed=3, n_cases=3_000)
    pol = w.policies
    requests = [
        Request(
            subject=w.subjects[c.subject],
            label=w.labels[c.label],
            action=c.action,
            now=c.now,
            to=c.to,
            consent=c.consent,
            purpose=c.purpose,
            # several sources, so that the multi-source path is compared too
            sources=()
            if c.source is None
            else (w.labels[c.source], w.labels[(c.source + 1) % len(w.labels)]),
        )
        for c in w.cases
    ]
    many = decide_many(requests, agreements=pol)
    for request, got in zip(requests, many, strict=True):
        one = decide(
            request.subject,
            request.label,
            request.action,
            agreements=pol,
            now=request.now,
            to=request.to,
            consent=request.consent,
            purpose=request.purpose,
            sources=request.sources,
        )
        assert got == one
    assert any(d.permit for d in many)
    assert any(not d.permit for d in many)


def test_decide_many_of_nothing_is_nothing(policies: Policies) -> None:
    assert decide_many([], agreements=policies) == []
