"""Security review: dates at the edges of the calendar are bad input (a clear 4xx naming
what was wrong) or accepted, never a 500 (issue 14 #6's one rule: a bare date's end is the
start of the next day, which for 9999-12-31 does not exist)."""

from __future__ import annotations

import pytest

from tests.api.test_documents_api import _cast
from tests.node_support import ApiClient


@pytest.fixture
def docs(api: ApiClient) -> ApiClient:
    _cast(api.node)
    return api


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("until", "9999-12-31"),
        ("until", "9999-12-31T23:59:59.999999+00:00"),
        ("since", "0001-01-01T00:00:00+14:00"),
        ("until", "0001-01-01T00:00:00+14:00"),
    ],
)
def test_listing_date_at_the_calendar_edge_is_a_clear_400_not_a_crash(
    docs: ApiClient, option: str, value: str
) -> None:
    response = docs.as_("olivia").get("/api/v1/documents", params={option: value})
    assert response.status_code == 400, response.text
    assert option in response.json()["detail"]


def test_listing_from_the_first_day_of_the_calendar_is_accepted(docs: ApiClient) -> None:
    """The control: 0001-01-01 in Toronto (UTC-5) is a moment UTC can hold."""
    response = docs.as_("olivia").get("/api/v1/documents", params={"since": "0001-01-01"})
    assert response.status_code == 200, response.text


def test_membership_until_the_last_day_of_the_calendar_is_a_clear_422_not_a_crash(
    docs: ApiClient,
) -> None:
    body = {"person": "alice", "programme": "CPSP", "valid_until": "9999-12-31",
            "justification": "hull reviews"}  # fmt: skip
    response = docs.as_("nsa").post("/api/v1/memberships", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert "valid_until" in response.text


def test_search_words_with_like_wildcards_match_only_themselves(docs: ApiClient) -> None:
    from tests.api.test_documents_api import _label, _titles, _upload

    _upload(docs, _label(), "abc plan")
    _upload(docs, _label(), "a_c 100% plan/b")
    assert _titles(docs, "olivia", q="a_c") == ["a_c 100% plan/b"]
    assert _titles(docs, "olivia", q="%") == ["a_c 100% plan/b"]
    assert _titles(docs, "olivia", q="plan/b") == ["a_c 100% plan/b"]
    assert _titles(docs, "olivia", q="a%c") == []
    assert _titles(docs, "olivia", q="//") == []


def test_id_prefix_shared_with_an_unreadable_document_names_only_the_readable(
    docs: ApiClient,
) -> None:
    from tests.api.test_documents_api import _label, _upload

    secret = _upload(docs, _label("S"), "secret one")["id"]
    confidential = _upload(docs, _label("C"), "confidential one")["id"]
    common = ""
    for a, b in zip(secret, confidential, strict=True):
        if a != b:
            break
        common += a
    prefix = (common + "0000")[:4] if len(common) < 4 else common
    answer = docs.as_("carl").get("/api/v1/documents", params={"id_prefix": prefix})
    assert answer.status_code == 200, answer.text
    assert secret not in answer.text
    combined = docs.as_("carl").get("/api/v1/documents", params={"id_prefix": prefix, "q": "x"})
    assert combined.status_code == 400


def test_seventeen_words_are_refused_and_sixteen_accepted(docs: ApiClient) -> None:
    sixteen = " ".join(f"w{i}" for i in range(16))
    assert docs.as_("olivia").get("/api/v1/documents", params={"q": sixteen}).status_code == 200
    seventeen = docs.as_("olivia").get("/api/v1/documents", params={"q": sixteen + " w16"})
    assert seventeen.status_code == 400
    assert "q" in seventeen.json()["detail"]
