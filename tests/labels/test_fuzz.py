"""Arbitrary input never escapes as anything but an InputError (CLI exit 2, never a traceback)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from cix.agreements import bundled_registry
from cix.errors import InputError
from cix.labels import Label, from_4774_xml, label_from_json, parse_any, to_4774_xml
from tests.labels.strategies import labels

# The machine is shared: time limits per example would make these tests flaky, not stricter.
RELAXED = settings(deadline=None)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
WORDS = st.sampled_from(
    ["SECRET", "군사Ⅱ급비밀", "REL TO", "ORIGINATOR", "CAN", "KOR", "DEU", "CPSP", "ORCON", "//",
     "/", ",", " ", "(", ")", "II", "GEHEIM", "생산국", "배포 허용", "TRÈS SECRET"]
)  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def _only_input_errors(text: str) -> None:
    with contextlib.suppress(InputError):
        parse_any(text, created=NOW, registry=bundled_registry())


@RELAXED
@given(st.text(max_size=200))
def test_random_text_is_refused_cleanly(text: str) -> None:
    _only_input_errors(text)


@RELAXED
@given(st.lists(WORDS, max_size=12).map("".join))
def test_marking_like_text_is_refused_cleanly(text: str) -> None:
    _only_input_errors(text)


@RELAXED
@given(st.dictionaries(st.sampled_from(["policy", "originator", "classification",
       "releasable_to", "programmes", "caveats", "purpose", "created"]), JSON_VALUES))  # fmt: skip
def test_random_json_objects_are_refused_cleanly(obj: dict[str, object]) -> None:
    with contextlib.suppress(InputError):
        label_from_json(obj, registry=bundled_registry())


@RELAXED
@given(labels(), st.data())
def test_mutated_xml_is_refused_or_reads_a_valid_label(label: Label, data: st.DataObject) -> None:
    xml = bytearray(to_4774_xml(label, registry=bundled_registry()))
    position = data.draw(st.integers(0, len(xml) - 1))
    xml[position] = data.draw(st.integers(0, 255))
    try:
        parsed = from_4774_xml(bytes(xml), registry=bundled_registry())
    except InputError:
        return
    assert (
        from_4774_xml(to_4774_xml(parsed, registry=bundled_registry()), registry=bundled_registry())
        == parsed
    )


@RELAXED
@given(st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3))
def test_lone_surrogates_are_refused_cleanly(junk: str) -> None:
    for text in ("<" + junk, "{" + junk, "SECRET//REL TO " + junk, junk):
        _only_input_errors(text)
