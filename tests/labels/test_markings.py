"""Banner lines and portion marks: known renderings, national languages, and malformed input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cix.agreements import Registry, bundled, bundled_registry, loads_agreement, registry_of
from cix.labels import (
    AlternativeLabel,
    AmbiguousMarking,
    Label,
    LabelError,
    LabelSyntaxError,
    OutOfScope,
    UnknownLevel,
    UnknownParty,
    alternative_label,
    banner,
    make_label,
    parse_label,
    parse_marking,
    portion_mark,
)

BUNDLED = Path(__file__).resolve().parents[2] / "src" / "cix" / "agreements" / "bundled"
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
KOR_CAN = bundled("kor-can")


def _korean_secret() -> Label:
    return make_label(
        KOR_CAN,
        originator="KOR",
        classification="군사Ⅱ급비밀",
        releasable_to={"KOR", "CAN"},
        programmes={"CPSP"},
        created=NOW,
        registry=bundled_registry(),
    )


def test_issue_example_banner_is_canadian_secret() -> None:
    label = parse_label(
        "SECRET//CPSP//REL TO CAN, KOR", KOR_CAN, created=NOW, registry=registry_of(KOR_CAN)
    )
    assert (label.originator, label.classification) == ("CAN", "S")
    assert label.programmes == {"CPSP"}
    assert label.releasable_to == {"CAN", "KOR"}


def test_korean_label_in_korean_and_english() -> None:
    label = _korean_secret()
    assert banner(label, KOR_CAN, "ko") == "군사Ⅱ급비밀//CPSP//배포 허용 CAN, KOR"
    assert banner(label, KOR_CAN, "en") == "MILITARY SECRET CLASS II//CPSP//REL TO CAN, KOR"
    assert portion_mark(label, KOR_CAN) == "(II//CPSP//REL TO CAN, KOR)"


def test_canadian_marking_of_korean_label_names_the_originator() -> None:
    alternative = alternative_label(_korean_secret(), KOR_CAN, "CAN")
    assert alternative.classification == "S"
    assert banner(alternative, KOR_CAN, "en") == "SECRET//CPSP//REL TO CAN, KOR//ORIGINATOR KOR"
    assert (
        banner(alternative, KOR_CAN, "fr")
        == "SECRET//CPSP//COMMUNICABLE À CAN, KOR//ORIGINATEUR KOR"
    )
    assert portion_mark(alternative, KOR_CAN) == "(S//CPSP//REL TO CAN, KOR//ORIGINATOR KOR)"


def test_korean_marking_of_canadian_label_names_the_originator() -> None:
    label = parse_label(
        "CONFIDENTIAL//REL TO CAN, KOR", KOR_CAN, created=NOW, registry=registry_of(KOR_CAN)
    )
    alternative = alternative_label(label, KOR_CAN, "KOR")
    assert banner(alternative, KOR_CAN, "ko") == "군사Ⅲ급비밀//배포 허용 CAN, KOR//생산국 CAN"


def test_receivers_marking_parses_back_to_the_originators_label() -> None:
    parsed = parse_marking(
        "SECRET//CPSP//REL TO CAN, KOR//ORIGINATOR KOR",
        created=NOW,
        agreement=KOR_CAN,
        registry=registry_of(KOR_CAN),
    )
    assert isinstance(parsed, AlternativeLabel)
    assert parsed.label == _korean_secret()


def test_level_names_are_accepted_in_any_language_or_code() -> None:
    for word in ("군사Ⅱ급비밀", "군사II급비밀", "MILITARY SECRET CLASS II", "II", "ii"):
        label = parse_label(
            f"{word}//CPSP//REL TO CAN, KOR", KOR_CAN, created=NOW, registry=registry_of(KOR_CAN)
        )
        assert label == _korean_secret()
    french = parse_label("TRÈS SECRET//REL TO CAN", created=NOW, registry=bundled_registry())
    assert (french.policy, french.classification) == ("can-national", "TS")


def test_german_levels_parse_under_can_deu() -> None:
    label = parse_label("VS-VERTRAULICH//REL TO CAN, DEU", created=NOW, registry=bundled_registry())
    assert (label.policy, label.originator, label.classification) == ("can-deu", "DEU", "VSV")


def test_caveats_and_purpose() -> None:
    label = parse_label(
        "SECRET//CPSP/KSS-III//GOVONLY/ORCON//REL TO KOR, CAN",
        KOR_CAN,
        created=NOW,
        purpose="defence-procurement",
        registry=registry_of(KOR_CAN),
    )
    assert label.caveats == {"GOVONLY", "ORCON"}
    assert label.programmes == {"CPSP", "KSS-III"}
    assert banner(label, KOR_CAN) == "SECRET//CPSP/KSS-III//GOVONLY/ORCON//REL TO CAN, KOR"


def test_korean_class_one_toward_canada_is_out_of_scope() -> None:
    with pytest.raises(OutOfScope, match="군사Ⅰ급비밀"):
        parse_label(
            "군사Ⅰ급비밀//REL TO CAN, KOR", KOR_CAN, created=NOW, registry=registry_of(KOR_CAN)
        )
    label = parse_label("군사Ⅰ급비밀//REL TO KOR", created=NOW, registry=bundled_registry())
    assert label.policy == "kor-national"
    with pytest.raises(LabelError, match=r"under 'kor-national', not 'kor-can'"):
        alternative_label(label, KOR_CAN, "CAN")


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("", LabelSyntaxError, "empty"),
        ("   ", LabelSyntaxError, "empty"),
        ("SECRET", LabelSyntaxError, "no releasability segment"),
        ("SECRET//CPSP", LabelSyntaxError, "no releasability segment"),
        ("SECRET////REL TO CAN", LabelSyntaxError, "empty segment 2"),
        ("SECRET//REL TO CAN//", LabelSyntaxError, "empty segment 3"),
        ("SECRET//REL TO CAN//CPSP", LabelSyntaxError, "must come last"),
        ("SECRET//ORIGINATOR CAN//REL TO CAN", LabelSyntaxError, "must come last"),
        ("SECRET//A//ORCON//B//REL TO CAN", LabelSyntaxError, "at most two"),
        ("SECRET//CPSP/ORCON//REL TO CAN", LabelSyntaxError, "mixes programmes and caveats"),
        ("SECRET//ORCON//CPSP//REL TO CAN", LabelSyntaxError, "before caveats"),
        ("SECRET//CPSP//NOTACAVEAT//REL TO CAN", LabelSyntaxError, "unknown caveat"),
        ("SECRET//cpsp//REL TO CAN", LabelSyntaxError, "'cpsp' is not a programme"),
        ("SECRET//CPSP/CPSP//REL TO CAN", LabelSyntaxError, "named twice"),
        ("SECRET//REL TO CAN, CAN", LabelSyntaxError, "named twice"),
        ("SECRET//REL TO CANADA", LabelSyntaxError, "'CANADA' is not a party code"),
        ("SECRET//REL TO CAN//ORIGINATOR Canada", LabelSyntaxError, "not a party code"),
        ("(SECRET//REL TO CAN", LabelSyntaxError, "unbalanced parentheses"),
        ("SECRET//REL TO CAN)", LabelSyntaxError, "unbalanced parentheses"),
        ("SECRET (X)//REL TO CAN", LabelSyntaxError, "parentheses inside"),
        ("SECRET//REL TO " + "CAN, " * 500 + "KOR", LabelSyntaxError, "longer than"),
        ("SUPER SECRET//REL TO CAN", UnknownLevel, "'SUPER SECRET' is not a level"),
        ("SECRET//REL TO BRA, CAN", UnknownParty, "BRA is not a party to any known agreement"),
        ("SECRET//REL TO CAN//ORIGINATOR USA", UnknownParty, "USA is not a party"),
        ("SECRET//REL TO CAN, DEU, KOR", LabelError, "cannot tell the agreement"),
        ("SECRET//REL TO CAN, KOR//ORIGINATOR DEU", LabelError, "cannot tell the agreement"),
    ],
)
def test_malformed_banner_is_refused_naming_the_problem(
    text: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_label(text, created=NOW, registry=bundled_registry())


def _can_deu_with_english_german_names() -> str:
    """can-deu, renamed, where GEHEIM is also called SECRET in English (as CAN's SECRET is)."""
    base = (BUNDLED / "can-deu.toml").read_text(encoding="utf-8")
    return base.replace('id = "can-deu"', 'id = "can-deu-test"').replace(
        '{ code = "GEH", rank = 3, names = { de = "GEHEIM" } }',
        '{ code = "GEH", rank = 3, names = { de = "GEHEIM", en = "SECRET" } }',
    )


def test_registry_refuses_two_schemes_for_one_party() -> None:
    with pytest.raises(LabelError, match="scheme of DEU differs"):
        registry_of(loads_agreement(_can_deu_with_english_german_names(), "test"))


def test_ambiguous_marking_between_parties_is_refused() -> None:
    agreement = loads_agreement(_can_deu_with_english_german_names(), "test")
    registry = Registry({agreement.id: agreement})
    with pytest.raises(AmbiguousMarking, match="ORIGINATOR"):
        parse_marking(
            "SECRET//REL TO CAN, DEU", created=NOW, agreement=agreement, registry=registry
        )
    label = parse_marking(
        "SECRET//REL TO CAN, DEU//ORIGINATOR DEU",
        created=NOW,
        agreement=agreement,
        registry=registry,
    )
    assert isinstance(label, Label)
    assert label.classification == "GEH"
    # The formatter names the originator exactly when the word alone is ambiguous.
    assert banner(label, agreement, "en") == "SECRET//REL TO CAN, DEU//ORIGINATOR DEU"


def test_unknown_language_is_refused() -> None:
    with pytest.raises(LabelError, match="language 'xx'"):
        banner(_korean_secret(), KOR_CAN, "xx")


def test_originator_outside_the_named_agreement_is_refused() -> None:
    with pytest.raises(UnknownParty, match="DEU is not a party here"):
        parse_label(
            "SECRET//REL TO CAN, KOR//ORIGINATOR DEU",
            KOR_CAN,
            created=NOW,
            registry=registry_of(KOR_CAN),
        )
