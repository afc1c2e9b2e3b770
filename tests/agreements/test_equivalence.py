"""Equivalence maps a level to the other party's scheme and back; out-of-scope levels refuse."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cix.agreements import Agreement, bundled
from cix.labels import OutOfScope, UnknownLevel, UnknownParty

# The machine is shared: time limits per example would make these tests flaky, not stricter.
RELAXED = settings(deadline=None)

AGREEMENTS = [bundled("kor-can"), bundled("can-deu")]


@st.composite
def in_scope_levels(draw: st.DrawFn) -> tuple[Agreement, str, str, str]:
    agreement = draw(st.sampled_from(AGREEMENTS))
    party = draw(st.sampled_from(agreement.parties))
    other = draw(st.sampled_from(agreement.parties))
    codes = [c for c in agreement.scheme(party).codes() if agreement.in_scope(party, c)]
    return agreement, party, draw(st.sampled_from(codes)), other


@RELAXED
@given(in_scope_levels())
def test_equivalence_maps_and_maps_back(case: tuple[Agreement, str, str, str]) -> None:
    agreement, party, code, other = case
    there = agreement.equivalent(party, code, other)
    assert agreement.equivalent(other, there, party) == code
    assert agreement.rank(party, code) == agreement.rank(other, there)
    assert agreement.level_dominates(party, code, other, there)
    assert agreement.level_dominates(other, there, party, code)


@RELAXED
@given(in_scope_levels(), in_scope_levels())
def test_equivalence_preserves_order(
    a: tuple[Agreement, str, str, str], b: tuple[Agreement, str, str, str]
) -> None:
    agreement, party, code, other = a
    if b[0] is not agreement or b[1] != party:
        return
    code_b = b[2]
    rank = agreement.scheme(party).level
    mapped = agreement.scheme(other).level
    assert (rank(code).rank <= rank(code_b).rank) == (
        mapped(agreement.equivalent(party, code, other)).rank
        <= mapped(agreement.equivalent(party, code_b, other)).rank
    )


def test_korean_class_one_has_no_canadian_equivalent() -> None:
    with pytest.raises(OutOfScope, match=r"군사Ⅰ급비밀 .*out of scope of kor-can"):
        bundled("kor-can").equivalent("KOR", "I", "CAN")


def test_canadian_top_secret_has_no_korean_equivalent() -> None:
    with pytest.raises(OutOfScope, match=r"TOP SECRET .*out of scope"):
        bundled("kor-can").equivalent("CAN", "TS", "KOR")


def test_korean_official_use_only_is_not_shared() -> None:
    with pytest.raises(OutOfScope, match=r"대외비 .*not classified military information"):
        bundled("kor-can").equivalent("KOR", "OUO", "CAN")


def test_unknown_level_is_named() -> None:
    with pytest.raises(UnknownLevel, match="'IV' is not a level code of KOR"):
        bundled("kor-can").equivalent("KOR", "IV", "CAN")


def test_unknown_party_is_named() -> None:
    with pytest.raises(UnknownParty, match="'DEU' is not a party to kor-can"):
        bundled("kor-can").equivalent("KOR", "II", "DEU")
