"""Agreement files: the bundled ones load; each broken file is refused naming file, key, problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from cix.agreements import (
    AgreementFileError,
    bundled,
    bundled_ids,
    bundled_registry,
    load_agreement,
    loads_agreement,
)
from cix.errors import InputError

DATA = Path(__file__).parent / "data"
BUNDLED = Path(__file__).resolve().parents[2] / "src" / "cix" / "agreements" / "bundled"


def test_bundled_policies_are_the_two_agreements_and_three_national_policies() -> None:
    assert bundled_ids() == ("can-deu", "can-national", "deu-national", "kor-can", "kor-national")
    assert {a.kind for a in map(bundled, bundled_ids())} == {"agreement", "national"}
    assert bundled_registry().parties == {"KOR", "CAN", "DEU"}


def test_kor_can_carries_its_numbers_as_data() -> None:
    kor_can = bundled("kor-can")
    assert kor_can.parties == ("KOR", "CAN")
    assert kor_can.visit_lead_working_days == 20
    assert kor_can.incident_notice_hours == 24
    assert kor_can.receipt_level == {"KOR": "II", "CAN": "S"}
    assert "defence-procurement" in kor_can.purposes
    assert kor_can.scheme("CAN").level("TS").name("fr", "en") == "TRÈS SECRET"
    assert kor_can.scheme("KOR").level("II").name("ko", "ko") == "군사Ⅱ급비밀"


def test_kor_can_equivalence_and_scope() -> None:
    kor_can = bundled("kor-can")
    assert kor_can.equivalent("KOR", "II", "CAN") == "S"
    assert kor_can.equivalent("KOR", "III", "CAN") == "C"
    assert kor_can.equivalent("CAN", "S", "KOR") == "II"
    assert not kor_can.in_scope("KOR", "I")
    assert not kor_can.in_scope("KOR", "OUO")
    assert not kor_can.in_scope("CAN", "TS")
    assert kor_can.rank("KOR", "II") == kor_can.rank("CAN", "S") > kor_can.rank("CAN", "C")
    assert kor_can.requires_receipt("KOR", "II")
    assert not kor_can.requires_receipt("CAN", "C")


def test_germany_is_a_third_party_to_kor_can_but_a_party_to_can_deu() -> None:
    assert "DEU" not in bundled("kor-can").parties
    assert bundled("can-deu").equivalent("CAN", "S", "DEU") == "GEH"
    assert [a.id for a in bundled_registry().covering({"CAN", "DEU"})] == ["can-deu"]


def test_bundled_files_load_from_their_paths_too() -> None:
    for path in sorted(BUNDLED.glob("*.toml")):
        assert load_agreement(path).id == path.stem


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("missing-key", r"missing key 'incident_notice_hours'"),
        ("duplicate-level", r"schemes\.KOR: .*duplicate level code 'II'"),
        ("duplicate-rank", r"schemes\.KOR: .*duplicate level rank 3"),
        ("equivalence-unknown-level", r"equivalence\[1\]\.CAN: names an unknown level"),
        ("non-monotone-equivalence", r"equivalence: non-monotone"),
        ("unknown-party", r"out_of_scope\[2\]\.level: 'USA' is not a party"),
        ("wrong-type", r"visit_lead_working_days: expected int, got str"),
        ("level-not-covered", r"CAN TS is neither in the equivalence table nor out of scope"),
        ("not-toml", r"not valid TOML"),
    ],
)
def test_invalid_agreement_file_is_refused_naming_file_and_key(name: str, expected: str) -> None:
    path = DATA / f"{name}.toml"
    with pytest.raises(AgreementFileError, match=expected) as caught:
        load_agreement(path)
    assert str(caught.value).startswith(str(path))
    assert isinstance(caught.value, InputError)


def test_missing_file_is_an_input_error() -> None:
    with pytest.raises(AgreementFileError, match="cannot read"):
        load_agreement(DATA / "no-such-file.toml")


def test_unknown_bundled_id_is_refused() -> None:
    with pytest.raises(AgreementFileError, match="no bundled agreement 'kor-usa'"):
        bundled("kor-usa")


def test_unknown_top_level_key_is_refused() -> None:
    text = (BUNDLED / "kor-national.toml").read_text(encoding="utf-8")
    with pytest.raises(AgreementFileError, match="unknown key 'secret_backdoor'"):
        loads_agreement(text + '\nsecret_backdoor = "yes"\n', "x.toml")


def test_national_policy_with_equivalence_is_refused() -> None:
    text = (BUNDLED / "kor-national.toml").read_text(encoding="utf-8")
    with pytest.raises(AgreementFileError, match="national policy has no equivalence"):
        loads_agreement(text + '\n[[equivalence]]\nKOR = "II"\n', "x.toml")


def test_unknown_caveat_is_refused() -> None:
    text = (BUNDLED / "kor-national.toml").read_text(encoding="utf-8")
    text = text.replace('caveats = ["GOVONLY", "ORCON"]', 'caveats = ["NOFUN"]')
    with pytest.raises(AgreementFileError, match="caveats: NOFUN has no meaning"):
        loads_agreement(text, "x.toml")
