"""Issue 10 #1 and #3 through the API: a bad label answers 400 naming the field, not 500."""

from __future__ import annotations

import json

import pytest

from tests.api.test_documents_api import _cast
from tests.node_support import ApiClient, api, audit, clock, database_url, node

__all__ = ["api", "audit", "clock", "database_url", "node"]


def _upload(api: ApiClient, **label: object) -> tuple[int, str]:
    body = {
        "policy": "can-national",
        "originator": "CAN",
        "classification": "S",
        "releasable_to": ["CAN"],
        **label,
    }
    response = api.as_("olivia").post(
        "/api/v1/documents",
        params={"label": json.dumps(body), "title": "t"},
        content=b"x",
        headers={"content-type": "text/plain"},
    )
    return response.status_code, response.text


@pytest.mark.parametrize(
    "created",
    ["0999-06-01T00:00:00Z", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"],
)
def test_upload_with_label_created_out_of_range_answers_400_naming_created(
    api: ApiClient, created: str
) -> None:
    _cast(api.node)
    status, text = _upload(api, created=created)
    assert status == 400, text
    assert "created" in text
    assert api.as_("olivia").get("/api/v1/documents").json()["items"] == []


def test_upload_with_lower_case_z_is_stored_in_the_canonical_form(api: ApiClient) -> None:
    _cast(api.node)
    status, text = _upload(api, created="2026-01-02t03:04:05z")
    assert status == 201, text
    listed = api.as_("olivia").get("/api/v1/documents")
    assert listed.status_code == 200
    assert listed.json()["items"][0]["label"]["created"] == "2026-01-02T03:04:05Z"


def test_upload_with_seventy_programmes_answers_400(api: ApiClient) -> None:
    _cast(api.node)
    status, text = _upload(
        api, created="2026-01-02T03:04:05Z", programmes=[f"P{i:029d}" for i in range(70)]
    )
    assert status == 400, text
    assert "programmes" in text
