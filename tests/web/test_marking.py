"""Page banners in the node's national scheme: words, colours, and the highest level shown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cix.agreements import Agreement, bundled_registry
from cix.labels import Label, make_label
from cix.web.marking import Marker

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _held(*ids: str) -> dict[str, Agreement]:
    registry = bundled_registry()
    return {i: registry.get(i) for i in ids}


def _label(policy: str, originator: str, level: str, rel: tuple[str, ...]) -> Label:
    return make_label(
        bundled_registry().get(policy),
        originator=originator,
        classification=level,
        releasable_to=rel,
        created=NOW,
        registry=bundled_registry(),
    )


KOR = Marker("KOR", _held("kor-can", "kor-national"))
CAN = Marker("CAN", _held("kor-can", "can-national"))


@pytest.mark.parametrize(
    ("level", "words", "colour"),
    [
        ("I", "군사Ⅰ급비밀", "top-secret"),
        ("II", "군사Ⅱ급비밀", "secret"),
        ("III", "군사Ⅲ급비밀", "confidential"),
        ("OUO", "대외비", "unclassified"),
    ],
)
def test_korean_node_marks_pages_in_korean_in_the_conventional_colours(
    level: str, words: str, colour: str
) -> None:
    marking = KOR.page([_label("kor-national", "KOR", level, ("KOR",))], KOR.language(None))
    assert (marking.text, marking.colour) == (words, colour)


def test_canadian_node_marks_in_english_or_french_by_choice() -> None:
    label = _label("can-national", "CAN", "TS", ("CAN",))
    assert CAN.page([label], "en").text == "TOP SECRET"
    assert CAN.page([label], "fr").text == "TRÈS SECRET"
    assert CAN.language("ko") == "en"  # not a language of the scheme: the scheme's own


def test_banner_shows_the_highest_level_on_the_page() -> None:
    labels = [
        _label("can-national", "CAN", "C", ("CAN",)),
        _label("can-national", "CAN", "S", ("CAN",)),
        _label("can-national", "CAN", "C", ("CAN",)),
    ]
    assert CAN.page(labels, "en").text == "SECRET"
    assert CAN.page([], "en").colour == "unclassified"
    assert CAN.page([], "fr").text == "NON CLASSIFIÉ"


def test_another_partys_document_counts_at_its_equivalent_here() -> None:
    korean = _label("kor-can", "KOR", "II", ("KOR", "CAN"))
    marking = CAN.page([korean], "en")
    assert (marking.text, marking.colour) == ("SECRET", "secret")
    assert CAN.portion(korean, "en").startswith("(II//")


def test_level_without_an_equivalent_here_counts_as_the_top_failing_closed() -> None:
    # 군사Ⅰ급비밀 has no Canadian equivalent under kor-can; were such a row ever shown, the
    # banner must not show less than it.
    korean_top = _label("kor-national", "KOR", "I", ("KOR",))
    assert CAN.page([korean_top], "en").text == "TOP SECRET"
    assert CAN.top("en").colour == "top-secret"
