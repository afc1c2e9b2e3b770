"""The onward label of a consented release (`cix.labels.onward`): the releasing party's
equivalent under the agreement it releases under, releasable to it and the third party
only, never a guessed level."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cix.agreements import bundled, bundled_registry
from cix.labels import Label, LabelError, OutOfScope, alternative_label, banner, make_label
from cix.labels.onward import onward_label

KOR_CAN = bundled("kor-can")
CAN_DEU = bundled("can-deu")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _korean(level: str = "II", **extra: object) -> Label:
    fields: dict[str, object] = {"releasable_to": {"KOR", "CAN"}, "programmes": {"CPSP"}}
    fields.update(extra)
    return make_label(
        KOR_CAN,
        originator="KOR",
        classification=level,
        created=T0,
        registry=bundled_registry(),
        **fields,  # type: ignore[arg-type]
    )


def _onward(label: Label, to: str = "DEU") -> Label:
    return onward_label(label, KOR_CAN, CAN_DEU, releasing_party="CAN", to_party=to)


def test_onward_label_is_the_releasing_partys_equivalent_releasable_to_the_third_party_only() -> (
    None
):
    label = _korean("II", caveats={"ORCON"}, purpose="defence-procurement")
    held = _onward(label)
    assert (held.policy, held.originator, held.classification) == ("can-deu", "CAN", "S")
    assert held.releasable_to == {"CAN", "DEU"}
    assert (held.programmes, held.caveats) == (frozenset({"CPSP"}), frozenset({"ORCON"}))
    assert (held.purpose, held.created) == ("defence-procurement", T0)
    assert _onward(_korean("III")).classification == "C"
    marking = banner(alternative_label(held, CAN_DEU, "DEU"), CAN_DEU, originator="KOR")
    assert marking == "GEHEIM//CPSP//ORCON//REL TO CAN, DEU//ORIGINATOR KOR"


def test_onward_label_for_a_party_of_the_originators_agreement_is_refused() -> None:
    with pytest.raises(LabelError, match="not a third party"):
        onward_label(_korean(), KOR_CAN, KOR_CAN, releasing_party="CAN", to_party="KOR")


def test_onward_label_by_the_originator_itself_is_refused() -> None:
    with pytest.raises(LabelError, match="originator"):
        onward_label(_korean(), KOR_CAN, CAN_DEU, releasing_party="KOR", to_party="DEU")


def test_onward_label_by_a_party_the_label_is_not_released_to_is_refused() -> None:
    with pytest.raises(LabelError, match="does not hold it"):
        _onward(_korean(releasable_to={"KOR"}))


def test_onward_label_under_an_agreement_not_with_the_third_party_is_refused() -> None:
    with pytest.raises(LabelError, match="not between"):
        _onward(_korean(), to="FRA")


def test_onward_label_of_a_level_without_equivalent_is_refused() -> None:
    # 군사Ⅰ급비밀 is out of kor-can's scope: no Canadian equivalent, never guessed
    label = Label(
        policy="kor-can",
        originator="KOR",
        classification="I",
        releasable_to=frozenset({"KOR", "CAN"}),
        created=T0,
    )
    with pytest.raises(OutOfScope):
        _onward(label)
