"""Dominance (Bell–LaPadula) across schemes: a partial order up to equivalent levels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cix.agreements import bundled, bundled_registry
from cix.labels import Label, UnknownParty, dominates, make_label
from tests.labels.strategies import KOR_CAN, above, below, kor_can_side_labels

# The machine is shared: time limits per example would make these tests flaky, not stricter.
RELAXED = settings(deadline=None)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _same_class(a: Label, b: Label) -> bool:
    """a and b are at equivalent levels with the same categories."""
    if a.originator == b.originator:
        same_level = a.classification == b.classification
    else:
        pair = {(a.originator, a.classification), (b.originator, b.classification)}
        same_level = any(pair <= set(row) for row in KOR_CAN.equivalence)
    return (
        same_level
        and a.programmes == b.programmes
        and a.caveats == b.caveats
        and a.releasable_to == b.releasable_to
    )


@RELAXED
@given(kor_can_side_labels())
def test_dominance_is_reflexive(a: Label) -> None:
    assert dominates(a, a, KOR_CAN)


@RELAXED
@given(kor_can_side_labels(), kor_can_side_labels())
def test_dominance_is_antisymmetric_up_to_equivalence(a: Label, b: Label) -> None:
    if dominates(a, b, KOR_CAN) and dominates(b, a, KOR_CAN):
        assert _same_class(a, b)


@RELAXED
@given(kor_can_side_labels(), kor_can_side_labels(), kor_can_side_labels())
def test_dominance_is_transitive(a: Label, b: Label, c: Label) -> None:
    if dominates(a, b, KOR_CAN) and dominates(b, c, KOR_CAN):
        assert dominates(a, c, KOR_CAN)


@RELAXED
@given(st.data())
def test_dominance_is_transitive_on_built_chains(data: st.DataObject) -> None:
    middle = data.draw(kor_can_side_labels())
    top, bottom = data.draw(above(middle)), data.draw(below(middle))
    assert dominates(top, middle, KOR_CAN)
    assert dominates(middle, bottom, KOR_CAN)
    assert dominates(top, bottom, KOR_CAN)
    if not _same_class(top, bottom):
        assert not dominates(bottom, top, KOR_CAN)


def _label(originator: str, level: str, **extra: object) -> Label:
    policy = (
        KOR_CAN if level not in ("I", "TS", "OUO") else bundled(originator.lower() + "-national")
    )
    releasable = extra.pop("releasable_to", None) or (
        {"KOR", "CAN"} if policy.kind == "agreement" else {originator}
    )
    return make_label(
        policy,
        originator=originator,
        classification=level,
        releasable_to=releasable,  # type: ignore[arg-type]
        created=NOW,
        registry=bundled_registry(),
        **extra,  # type: ignore[arg-type]
    )


def test_equivalent_levels_dominate_each_other() -> None:
    korean, canadian = _label("KOR", "II"), _label("CAN", "SECRET")
    assert dominates(korean, canadian, KOR_CAN)
    assert dominates(canadian, korean, KOR_CAN)


def test_canadian_top_secret_dominates_korean_secret_but_not_korean_class_one() -> None:
    assert KOR_CAN.level_dominates("CAN", "TS", "KOR", "II")
    assert not KOR_CAN.level_dominates("CAN", "TS", "KOR", "I")
    assert not KOR_CAN.level_dominates("KOR", "I", "CAN", "TS")


def test_derive_cannot_move_information_to_another_policy() -> None:
    # A national label at a higher level still drops the agreement's protections (rule 11).
    top = _label("CAN", "TS")
    assert not dominates(top, _label("KOR", "II"), KOR_CAN)
    assert not dominates(top, _label("CAN", "SECRET"), KOR_CAN)


def test_derive_cannot_drop_purpose() -> None:
    purpose = KOR_CAN.purposes[0]
    source = _label("KOR", "II", purpose=purpose)
    assert not dominates(_label("KOR", "II"), source, KOR_CAN)
    assert dominates(_label("KOR", "II", purpose=purpose), source, KOR_CAN)
    # a purpose may be added where the source had none: that only restricts further
    assert dominates(source, _label("KOR", "II"), KOR_CAN)


def test_derive_cannot_change_purpose() -> None:
    first, second = KOR_CAN.purposes[:2]
    source = _label("KOR", "II", purpose=first)
    assert not dominates(_label("KOR", "II", purpose=second), source, KOR_CAN)


def test_sources_of_different_purposes_cannot_be_combined() -> None:
    first, second = KOR_CAN.purposes[:2]
    sources = [_label("KOR", "II", purpose=first), _label("KOR", "II", purpose=second)]
    for purpose in (None, *KOR_CAN.purposes):
        new = _label("KOR", "II", purpose=purpose)
        assert not all(dominates(new, source, KOR_CAN) for source in sources)


def test_lower_level_does_not_dominate_higher() -> None:
    assert not dominates(_label("CAN", "C"), _label("KOR", "II"), KOR_CAN)
    assert dominates(_label("KOR", "II"), _label("CAN", "C"), KOR_CAN)


def test_missing_programme_breaks_dominance() -> None:
    with_programme = _label("KOR", "II", programmes={"CPSP"})
    without = _label("KOR", "II")
    assert dominates(with_programme, without, KOR_CAN)
    assert not dominates(without, with_programme, KOR_CAN)


def test_wider_releasability_is_less_restrictive() -> None:
    narrow = _label("KOR", "II", releasable_to={"KOR"})
    wide = _label("KOR", "II")
    assert dominates(narrow, wide, KOR_CAN)
    assert not dominates(wide, narrow, KOR_CAN)


def test_dominance_with_a_party_outside_the_agreement_is_refused() -> None:
    german = make_label(
        bundled("deu-national"),
        originator="DEU",
        classification="GEHEIM",
        releasable_to={"DEU"},
        created=NOW,
        registry=bundled_registry(),
    )
    assert not dominates(german, _label("KOR", "II"), KOR_CAN)  # another policy: never
    with pytest.raises(UnknownParty, match="DEU"):
        dominates(german, german, KOR_CAN)
