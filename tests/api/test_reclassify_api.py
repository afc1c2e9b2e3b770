"""`POST /api/v1/documents/{id}/reclassify` and `GET …/label-history`: the originator's
classification change through the API (rule 3), checked against what readers may then open
and against the audit."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from cix.node.auditing import MemoryAuditSink
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import PersonIn, RegistryClearance
from tests.node_support import SQLITE_ONLY, T0, ApiClient, assert_problem, events

YEAR = T0 + timedelta(days=365)
pytestmark = SQLITE_ONLY


def _label(classification: str) -> str:
    return json.dumps(
        {
            "policy": "can-national",
            "originator": "CAN",
            "classification": classification,
            "releasable_to": ["CAN"],
            "programmes": [],
            "caveats": [],
        }
    )


@pytest.fixture
def docs(api: ApiClient) -> ApiClient:
    reg = api.node.registry
    for person, roles, level in (
        ("olivia", [Role.ORIGINATOR], "S"),
        ("nigel", [Role.NSA_OFFICER], "S"),
        ("carl", [Role.READER], "C"),
    ):
        reg.create_person(
            SYSTEM,
            PersonIn(
                id=person,
                name=person,
                organisation="dnd",
                nationalities=["CAN"],
                clearance=RegistryClearance(level=level, party="CAN", expires=YEAR),
                briefed_until=YEAR,
                roles=roles,
            ),
        )
    return api


def _upload(api: ApiClient) -> dict[str, Any]:
    response = api.as_("olivia").post(
        "/api/v1/documents",
        params={"label": _label("S"), "title": "Sonar trial"},
        content=b"trial results",
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_reclassified_document_opens_for_a_reader_cleared_for_the_new_level(
    docs: ApiClient, audit: MemoryAuditSink
) -> None:
    doc = _upload(docs)
    url = f"/api/v1/documents/{doc['id']}"
    assert docs.as_("carl").get(f"{url}/content").status_code == 403  # SECRET: not for him
    response = docs.as_("nigel").post(
        f"{url}/reclassify", json={"label": "CONFIDENTIAL//REL TO CAN", "reason": "sanitised"}
    )
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["revision"] == 1
    assert done["label"]["classification"] == "C"
    assert done["banner"].startswith("CONFIDENTIAL")
    assert done["notified"] == []  # no copy was ever sent
    assert docs.as_("olivia").get(url).json()["label"]["classification"] == "C"
    opened = docs.as_("carl").get(f"{url}/content")
    assert opened.status_code == 200
    assert opened.content == b"trial results"
    (history,) = docs.as_("carl").get(f"{url}/label-history").json()
    assert history["revision"] == 1
    assert history["side"] == "originator"
    assert history["changed_by"] == "nigel"
    assert history["previous_label"]["classification"] == "S"
    assert history["reason"] == "sanitised"
    decided = [e for e in events(audit, "document") if e.action == "reclassify"]
    assert [e.decision for e in decided] == ["permit"]


def test_reclassify_by_an_originator_without_the_nsa_role_is_refused(docs: ApiClient) -> None:
    doc = _upload(docs)
    response = docs.as_("olivia").post(
        f"/api/v1/documents/{doc['id']}/reclassify",
        json={"label": _label("C"), "reason": "sanitised"},
    )
    assert_problem(response, 403)
    assert (
        docs.as_("olivia").get(f"/api/v1/documents/{doc['id']}").json()["label"]["classification"]
        == "S"
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"label": "NOT A LEVEL", "reason": "x"}, 400),
        ({"label": _label("S"), "reason": "x"}, 400),  # the label it already has
        ({"label": _label("C"), "reason": ""}, 422),
        ({"label": _label("C")}, 422),
        ({"label": _label("C"), "reason": "x", "extra": 1}, 422),
    ],
)
def test_reclassify_bad_input_is_refused_and_changes_nothing(
    docs: ApiClient, body: dict[str, Any], status: int
) -> None:
    doc = _upload(docs)
    response = docs.as_("nigel").post(f"/api/v1/documents/{doc['id']}/reclassify", json=body)
    assert_problem(response, status)
    assert docs.as_("nigel").get(f"/api/v1/documents/{doc['id']}/label-history").json() == []
