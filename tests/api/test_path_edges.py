"""Paths the API must not answer in a second spelling: encoded separators, redirects built
from the client's own Host header."""

from __future__ import annotations

import pytest

from tests.api.test_documents_api import _cast, _label, _upload
from tests.node_support import ApiClient


@pytest.mark.parametrize("separator", ["%2F", "%2f", "%5C"])
def test_encoded_slash_does_not_reach_a_document(api: ApiClient, separator: str) -> None:
    _cast(api.node)
    doc = _upload(api, _label("S"), "sonar")
    plain = api.as_("alice").get(f"/api/v1/documents/{doc['id']}/content")
    assert plain.status_code == 200  # the document is there and alice may open it
    sneaky = api.get(f"/api/v1/documents{separator}{doc['id']}{separator}content")
    assert sneaky.status_code == 404
    assert sneaky.headers["content-type"] == "application/problem+json"
    assert b"payload" not in sneaky.content


def test_trailing_slash_is_not_redirected_to_the_clients_host(api: ApiClient) -> None:
    _cast(api.node)
    answer = api.as_("alice").get(
        "/api/v1/documents/", headers={"Host": "attacker.example"}, follow_redirects=False
    )
    assert answer.status_code == 404
    assert "location" not in answer.headers
