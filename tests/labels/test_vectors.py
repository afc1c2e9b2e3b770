"""Known-answer vectors (tests/vectors/labels/*.json): JSON ↔ banner ↔ portion ↔ 4774 XML.

Each vector was reviewed by hand against the agreement files: the equivalent level, the
language of each marking, the originator named on the receiver's marking.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cix.agreements import bundled, bundled_registry, registry_of
from cix.labels import (
    AlternativeLabel,
    alternative_label,
    banner,
    canonical_json,
    from_4774_xml,
    label_from_json,
    parse_marking,
    portion_mark,
    to_4774_xml,
    visibility_expression,
)

VECTORS = sorted((Path(__file__).parents[1] / "vectors" / "labels").glob("*.json"))


def test_there_are_vectors() -> None:
    assert len(VECTORS) >= 5


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_label_vector(path: Path) -> None:
    vector: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    agreement = bundled(vector["agreement"])
    label = label_from_json(vector["label"], registry=bundled_registry())
    assert canonical_json(label).decode("utf-8") == vector["canonical_json"]
    assert (
        label_from_json(json.loads(vector["canonical_json"]), registry=bundled_registry()) == label
    )

    def parse(text: str) -> object:
        return parse_marking(
            text,
            created=label.created,
            purpose=label.purpose,
            agreement=agreement,
            registry=registry_of(agreement),
        )

    for language, text in vector["banners"].items():
        assert banner(label, agreement, language) == text
        assert parse(text) == label
    for language, text in vector["portion_marks"].items():
        assert portion_mark(label, agreement, language) == text
        assert parse(text) == label
    assert to_4774_xml(label, registry=bundled_registry()).decode("utf-8") == vector["xml"]
    assert from_4774_xml(vector["xml"], registry=bundled_registry()) == label
    assert visibility_expression(label, agreement) == vector["visibility"]
    for party, translation in vector.get("translations", {}).items():
        alternative = alternative_label(label, agreement, party)
        assert alternative.classification == translation["classification"]
        for language, text in translation["banners"].items():
            assert banner(alternative, agreement, language) == text
            parsed = parse(text)
            assert isinstance(parsed, AlternativeLabel)
            assert parsed == alternative
        assert (
            to_4774_xml(alternative, registry=bundled_registry()).decode("utf-8")
            == translation["xml"]
        )
        assert from_4774_xml(translation["xml"], registry=bundled_registry()) == alternative
