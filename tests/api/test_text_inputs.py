"""Text from a caller never reaches the database or a terminal with control characters in
it, and never makes the node fail: a 4xx naming the field, nothing changed.

PostgreSQL cannot store NUL in text at all; before, a NUL in a name, a search or a source id
was a database error (500/503) there."""

from __future__ import annotations

import pytest

from tests.api.test_documents_api import _cast
from tests.node_support import ApiClient


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/documents", {"q": "a\x00"}),
        ("/api/v1/documents", {"q": "a\u202eb"}),
        ("/api/v1/people", {"organisation": "a\x00"}),
        ("/api/v1/memberships", {"person": "a\x00"}),
        ("/api/v1/memberships", {"programme": "CPSP\x00"}),
    ],
)
def test_nul_or_control_in_a_search_is_refused_naming_it(
    api: ApiClient, path: str, params: dict[str, str]
) -> None:
    _cast(api.node)
    answer = api.as_("root").get(path, params=params)
    assert 400 <= answer.status_code < 500, answer.text
    assert next(iter(params)) in answer.text


@pytest.mark.parametrize("name", ["E\x00ve", "Eve\x9b2J", "Bob\u202eevil", "a\u2028b"])
def test_control_characters_in_a_person_name_are_refused(api: ApiClient, name: str) -> None:
    _cast(api.node)
    body = {"id": "eve", "name": name, "organisation": "dnd", "nationalities": ["CAN"]}
    answer = api.as_("root").post("/api/v1/people", json=body)
    assert answer.status_code == 422, answer.text
    assert "name" in answer.text
    assert api.as_("root").get("/api/v1/people/eve").status_code == 404


@pytest.mark.parametrize("name", ["t\x00", "t\x1b[2J"])
def test_control_characters_in_a_token_name_are_refused(api: ApiClient, name: str) -> None:
    _cast(api.node)
    answer = api.as_("alice").post("/api/v1/tokens", json={"name": name})
    assert answer.status_code == 422, answer.text
    assert "name" in answer.text


@pytest.mark.parametrize("source", ["a\x00", "../" * 10, "Z" * 32])
def test_a_source_that_is_not_a_document_id_is_refused(api: ApiClient, source: str) -> None:
    _cast(api.node)
    label = "SECRET//REL TO CAN"
    answer = api.as_("olivia").post(
        "/api/v1/documents",
        params={"label": label, "title": "t", "source": source},
        content=b"x",
        headers={"content-type": "text/plain"},
    )
    assert answer.status_code == 422, answer.text
    assert "source" in answer.text


def test_deeply_nested_json_label_is_a_400_not_a_crash(api: ApiClient) -> None:
    _cast(api.node)
    nested = '{"a":' + "[" * 4000 + "]" * 4000 + "}"  # past Python's recursion limit
    assert len(nested) < 8192
    answer = api.as_("olivia").post(
        "/api/v1/documents",
        params={"label": nested, "title": "t"},
        content=b"x",
        headers={"content-type": "text/plain"},
    )
    assert answer.status_code == 400, answer.text
    assert "label" in answer.text
