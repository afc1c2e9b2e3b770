"""The open route ahead of FastAPI's (`OpenRoute`) answers exactly as the FastAPI route does.

`OpenRoute` serves `GET /api/v1/documents/{id}/content` for a well-formed id without
FastAPI's per-request machinery; the FastAPI route stays for the OpenAPI document and for
everything the fast one leaves (a malformed id, another method). These tests hold the two
to the same answers: the same authentication, the same problems, the same content, headers
and audit record.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cix.api.fast_path import OpenRoute
from cix.node.auditing import MemoryAuditSink
from tests.api.test_documents_api import _cast, _label, _upload
from tests.node_support import ApiClient, assert_problem, events

CONTENT = "/api/v1/documents/{doc_id}/content"
UNKNOWN = "0" * 32


@pytest.fixture
def docs(api: ApiClient) -> ApiClient:
    _cast(api.node)
    return api


def _without_open_route(api: ApiClient) -> None:
    """Leave only FastAPI's route for opens (the reference behaviour)."""
    api.app.router.routes[:] = [r for r in api.app.router.routes if not isinstance(r, OpenRoute)]


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    return response.status_code, dict(response.headers), response.content


def _opens(api: ApiClient, doc: dict[str, Any]) -> list[tuple[int, dict[str, str], bytes]]:
    path = CONTENT.format(doc_id=doc["id"])
    return [
        _answer(api.as_("alice").get(path)),  # permitted
        _answer(api.as_("carl").get(path)),  # refused: clearance
        _answer(api.as_(None).get(path)),  # no credential
        _answer(api.get(path, headers={"Authorization": "Bearer not-a-token"})),
        _answer(api.as_("alice").get(CONTENT.format(doc_id=UNKNOWN))),  # unknown document
        _answer(api.as_("alice").get(CONTENT.format(doc_id=doc["id"].upper()))),  # malformed
    ]


def test_open_route_is_matched_first_and_the_path_stays_documented(api: ApiClient) -> None:
    assert isinstance(api.app.router.routes[0], OpenRoute)
    operation = api.app.openapi()["paths"]["/api/v1/documents/{doc_id}/content"]["get"]
    assert "application/octet-stream" in operation["responses"]["200"]["content"]
    assert [p["name"] for p in operation["parameters"]] == ["doc_id"]


def test_open_route_answers_as_the_fastapi_route(docs: ApiClient, audit: MemoryAuditSink) -> None:
    doc = _upload(docs, _label("S"), "plan", b"the plan " * 1000)
    del audit.events[:]
    fast = _opens(docs, doc)
    recorded = [(e.type, e.actor, e.action, e.decision, e.reasons) for e in events(audit)]
    del audit.events[:]
    docs.reset_limiter()
    _without_open_route(docs)
    reference = _opens(docs, doc)
    assert fast == reference
    assert [(e.type, e.actor, e.action, e.decision, e.reasons) for e in events(audit)] == recorded
    assert fast[0][0] == 200
    assert fast[0][2] == b"the plan " * 1000
    assert [status for status, _, _ in fast[1:]] == [403, 401, 401, 404, 422]


def test_open_route_without_a_token_is_a_401_problem(docs: ApiClient) -> None:
    response = docs.as_(None).get(CONTENT.format(doc_id=UNKNOWN))
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert body["detail"] == "a valid bearer token is required"


def test_open_route_counts_failed_authentications(docs: ApiClient) -> None:
    docs.as_(None)
    limit = docs.node.settings.auth_failure_limit
    for _ in range(limit):
        assert docs.get(CONTENT.format(doc_id=UNKNOWN)).status_code == 401
    assert_problem(docs.get(CONTENT.format(doc_id=UNKNOWN)), 429)


@pytest.mark.parametrize("method", ["HEAD", "POST", "DELETE"])
def test_other_methods_are_left_to_the_fastapi_route(docs: ApiClient, method: str) -> None:
    doc = _upload(docs, _label("S"), "plan")
    path = CONTENT.format(doc_id=doc["id"])
    fast = _answer(docs.as_("alice").request(method, path))
    _without_open_route(docs)
    assert fast == _answer(docs.as_("alice").request(method, path))
    assert fast[0] == 405
