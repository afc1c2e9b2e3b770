"""Security review: a listing's `next_cursor` names a document its reader may not read.

When a call spends its row budget (`ROW_BUDGET` rows walked: a reader who may read few
documents of a large register, say CONFIDENTIAL among a million SECRET ones), the page ends
with `next_cursor` = the floor of the last window walked — the id of whatever live row lies
there, readable or not. Ids sort by creation time: the reader learns that a document they
may not read exists and when it was made, and `GET /documents/{id}` answering 403, not 404,
confirms it. The budgets are made small here so that a few rows show it; at the real
budgets it takes a register of some 200,000 rows."""

from __future__ import annotations

import pytest

from cix.node import documents as documents_module
from tests.api.test_documents_api import _cast, _label, _upload
from tests.node_support import ApiClient


@pytest.fixture
def docs(api: ApiClient) -> ApiClient:
    _cast(api.node)
    return api


def test_listing_cursor_reveals_the_id_of_an_unreadable_document(
    docs: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _upload(docs, _label("C"), "confidential, the oldest")
    secret = {_upload(docs, _label("S"), f"secret {i}")["id"] for i in range(8)}
    monkeypatch.setattr(documents_module, "ROW_BUDGET", 4)
    monkeypatch.setattr(documents_module, "_FIRST_WINDOW", 4)
    answer = docs.as_("carl").get("/api/v1/documents", params={"limit": 1})  # carl: C
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["items"] == []
    assert page["next_cursor"] is not None  # the budget is spent: more to walk
    assert page["next_cursor"] not in secret
