"""parse(format(label)) == label for random labels: banner, portion mark, JSON and 4774 XML."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from cix.agreements import bundled_registry, registry_of
from cix.labels import (
    AlternativeLabel,
    Label,
    alternative_label,
    banner,
    canonical_json,
    from_4774_xml,
    label_from_json,
    label_from_json_text,
    parse_label,
    parse_marking,
    to_4774_xml,
)
from tests.labels.strategies import labels

# The machine is shared: time limits per example would make these tests flaky, not stricter.
RELAXED = settings(deadline=None)

LANGUAGES = st.sampled_from(["en", "fr", "ko", "de"])


def _alternatives(label: Label) -> list[AlternativeLabel]:
    agreement = bundled_registry().get(label.policy)
    return [
        alternative_label(label, agreement, party)
        for party in agreement.parties
        if party != label.originator
    ]


@RELAXED
@given(labels(), LANGUAGES, st.booleans())
def test_banner_round_trip(label: Label, language: str, portion: bool) -> None:
    agreement = bundled_registry().get(label.policy)
    text = banner(label, agreement, language, portion=portion)
    parsed = parse_marking(
        text,
        created=label.created,
        purpose=label.purpose,
        agreement=agreement,
        registry=registry_of(agreement),
    )
    assert parsed == label


@RELAXED
@given(labels(("kor-can", "can-deu")), LANGUAGES, st.booleans())
def test_alternative_banner_round_trip(label: Label, language: str, portion: bool) -> None:
    agreement = bundled_registry().get(label.policy)
    for alternative in _alternatives(label):
        text = banner(alternative, agreement, language, portion=portion)
        assert f" {label.originator}" in text.rsplit("//", 1)[-1]  # the originator is named
        parsed = parse_marking(
            text,
            created=label.created,
            purpose=label.purpose,
            agreement=agreement,
            registry=registry_of(agreement),
        )
        assert parsed == alternative
        if label.releasable_to <= set(agreement.parties):
            # Without the agreement named, the parties on the marking identify it.
            assert (
                parse_label(
                    text, created=label.created, purpose=label.purpose, registry=bundled_registry()
                )
                == label
            )


@RELAXED
@given(labels())
def test_canonical_json_round_trip(label: Label) -> None:
    assert label_from_json(label.to_json(), registry=bundled_registry()) == label
    data = canonical_json(label)
    assert label_from_json_text(data, registry=bundled_registry()) == label
    assert canonical_json(label_from_json_text(data, registry=bundled_registry())) == data
    assert list(json.loads(data)) == sorted(json.loads(data))


@RELAXED
@given(labels())
def test_4774_xml_round_trip(label: Label) -> None:
    data = to_4774_xml(label, registry=bundled_registry())
    assert from_4774_xml(data, registry=bundled_registry()) == label
    assert (
        to_4774_xml(from_4774_xml(data, registry=bundled_registry()), registry=bundled_registry())
        == data
    )
    for alternative in _alternatives(label) if label.policy in ("kor-can", "can-deu") else []:
        assert (
            from_4774_xml(
                to_4774_xml(alternative, registry=bundled_registry()), registry=bundled_registry()
            )
            == alternative
        )


@RELAXED
@given(labels())
def test_every_form_names_the_same_label(label: Label) -> None:
    agreement = bundled_registry().get(label.policy)
    forms = [
        canonical_json(label).decode("utf-8"),
        to_4774_xml(label, registry=bundled_registry()).decode("utf-8"),
        banner(label, agreement, "en"),
    ]
    for text in forms:
        assert (
            parse_label(
                text,
                agreement,
                created=label.created,
                purpose=label.purpose,
                registry=registry_of(agreement),
            )
            == label
        )
