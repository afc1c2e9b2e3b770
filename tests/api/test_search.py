"""Issue 14 #8: word search (every word, any order, case- and accent-insensitive, Korean
included) and filters, pushed into SQL, never showing what the reader may not read; unknown
query parameters refused."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cix.node.search import search_form, words_of
from tests.api.test_documents_api import _cast, _label, _titles, _upload
from tests.node_support import T0, ApiClient, Clock, assert_problem


@pytest.fixture
def docs(api: ApiClient) -> ApiClient:
    _cast(api.node)
    return api


def test_every_word_in_any_order_whatever_case_or_accents(docs: ApiClient) -> None:
    _upload(docs, _label(), "Minutes of the hull design review")
    _upload(docs, _label(), "Procès-verbal: coque, révision")
    _upload(docs, _label(), "Hull plating costs")
    assert _titles(docs, "olivia", q="minutes hull") == ["Minutes of the hull design review"]
    assert _titles(docs, "olivia", q="HULL Minutes") == ["Minutes of the hull design review"]
    assert _titles(docs, "olivia", q="proces coque") == ["Procès-verbal: coque, révision"]
    assert _titles(docs, "olivia", q="RÉVISION") == ["Procès-verbal: coque, révision"]
    assert sorted(_titles(docs, "olivia", q="hull")) == [
        "Hull plating costs",
        "Minutes of the hull design review",
    ]
    assert _titles(docs, "olivia", q="hull sonar") == []


def test_korean_words_match_whole_and_inside_a_phrase(docs: ApiClient) -> None:
    _upload(docs, _label(), "잠수함 선체 설계 검토 회의록")
    _upload(docs, _label(), "잠수함 추진 체계")
    assert _titles(docs, "olivia", q="회의록 선체") == ["잠수함 선체 설계 검토 회의록"]
    assert sorted(_titles(docs, "olivia", q="잠수함")) == [
        "잠수함 선체 설계 검토 회의록",
        "잠수함 추진 체계",
    ]
    assert _titles(docs, "olivia", q="추진") == ["잠수함 추진 체계"]


def test_search_never_finds_what_the_reader_may_not_read(docs: ApiClient) -> None:
    """carl holds CONFIDENTIAL: a SECRET title matching his words stays absent."""
    _upload(docs, _label("S"), "secret hull minutes")
    _upload(docs, _label("C"), "confidential hull minutes")
    assert _titles(docs, "carl", q="hull minutes") == ["confidential hull minutes"]
    assert _titles(docs, "carl", classification="SECRET") == []


def test_filters_by_classification_with_its_equivalents(docs: ApiClient) -> None:
    _upload(docs, _label("S"), "a secret")
    _upload(docs, _label("C"), "a confidential")
    assert _titles(docs, "olivia", classification="S") == ["a secret"]
    assert _titles(docs, "olivia", classification="secret") == ["a secret"]
    assert _titles(docs, "olivia", classification="CONFIDENTIAL") == ["a confidential"]
    unknown = docs.as_("olivia").get("/api/v1/documents", params={"classification": "ULTRA"})
    body = assert_problem(unknown, unknown.status_code)
    assert 400 <= unknown.status_code < 500
    assert "classification" in body["detail"]
    assert "ULTRA" in body["detail"]


def test_filters_by_programme_originator_and_date(docs: ApiClient, clock: Clock) -> None:
    _upload(docs, _label(programmes=("CPSP",)), "in the programme")
    clock.advance(days=2)
    _upload(docs, _label(), "outside it, two days later")
    assert _titles(docs, "olivia", programme="CPSP") == ["in the programme"]
    assert _titles(docs, "olivia", programme="NOSUCH") == []
    assert sorted(_titles(docs, "olivia", originator="CAN")) == [
        "in the programme",
        "outside it, two days later",
    ]
    assert _titles(docs, "olivia", originator="KOR") == []
    first_day = T0.date().isoformat()
    assert _titles(docs, "olivia", until=first_day) == ["in the programme"]
    later = (T0 + timedelta(days=1)).date().isoformat()
    assert _titles(docs, "olivia", since=later) == ["outside it, two days later"]
    assert _titles(docs, "olivia", since=first_day, until=first_day) == ["in the programme"]
    exact = (T0 + timedelta(days=2)).isoformat()
    assert _titles(docs, "olivia", since=exact) == ["outside it, two days later"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"label": "SECRET"}, "label"),
        ({"q": "hull", "titel": "x"}, "titel"),
        ({"since": "2026-13-01"}, "since"),
        ({"until": "2026-12-01T10:00:00"}, "until"),
        ({"originator": "kor"}, "originator"),
        ({"q": " ".join(f"w{n}" for n in range(17))}, "q"),
    ],
)
def test_bad_or_unknown_query_parameters_are_refused_naming_them(
    docs: ApiClient, params: dict[str, Any], named: str
) -> None:
    _upload(docs, _label(), "anything")
    response = docs.as_("olivia").get("/api/v1/documents", params=params)
    assert 400 <= response.status_code < 500, response.text
    assert named in json.dumps(response.json())


def test_unknown_query_parameters_are_refused_on_every_route(docs: ApiClient) -> None:
    for path in ("/api/v1/people", "/api/v1/transmissions", "/api/v1/me"):
        response = docs.as_("olivia").get(path, params={"filter": "x"})
        body = assert_problem(response, response.status_code)
        assert 400 <= response.status_code < 500
        assert "unknown query parameter: filter" in body["detail"]


@given(st.text(max_size=40))
def test_search_form_is_idempotent_and_case_and_accent_free(text: str) -> None:
    form = search_form(text)
    assert search_form(form) == form
    assert search_form(text.upper()) == search_form(text.lower()) or not text.isascii()
    assert "  " not in form
    assert form == form.strip()


@given(st.lists(st.text(alphabet="abcdéèêHULLé가나다", min_size=1, max_size=8), max_size=8))
def test_words_are_found_in_the_form_of_a_title_holding_them(words: list[str]) -> None:
    title = " ".join(reversed(words))
    form = search_form(title)
    assert all(word in form for word in words_of(" ".join(words)))
