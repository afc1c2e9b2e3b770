"""Insider attacks on the consent workflow through the user API (rules 2-4): KOR's and CAN's
real nodes in-process (`tests/federation/consent_nodes.py`), each behind its own API.

Who may see and answer a consent, an answer given twice, a consent used for another
purpose than the one approved, and bad input: each refused with a clear 4xx (the opaque
403 for a role, audited naming it), nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import anyio.from_thread
import pytest
from sqlalchemy import func, select

from cix.node.errors import DocumentRefused
from cix.node.roles import Role
from cix.store.models import Consent, OutboxItem
from tests.federation.consent_nodes import Federation, make_federation, seed_copy
from tests.node_support import ApiClient, Clock, assert_problem

pytestmark = pytest.mark.slow  # three nodes initialised per test
PURPOSE = "defence-procurement"
READERS = "role-required:auditor|nsa-officer|originator"


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[Federation]:
    yield from make_federation(tmp_path, Clock())


@pytest.fixture
def apis(fed: Federation) -> Iterator[dict[str, ApiClient]]:
    """The user API of KOR's and CAN's nodes, with a reader and an originator on each."""
    for party in ("KOR", "CAN"):
        fed.officer(party, "reader", Role.READER)
        fed.officer(party, "author", Role.ORIGINATOR)
        fed.officer(party, "auditor", Role.AUDITOR)
    portal_cm: AbstractContextManager[Any] = anyio.from_thread.start_blocking_portal()
    with portal_cm as portal:
        clients = {party: ApiClient(fed[party], portal) for party in ("KOR", "CAN")}
        try:
            yield clients
        finally:
            for client in clients.values():
                client.close()


@pytest.fixture
def asked(fed: Federation, apis: dict[str, ApiClient]) -> str:
    """CAN's NSA officer asked KOR to release KOR's document to DEU; KOR holds the request."""
    _, can_doc = seed_copy(fed)
    made = (
        apis["CAN"]
        .as_("nsa")
        .post(
            "/api/v1/consents",
            json={"document": can_doc, "to_party": "DEU", "purpose": PURPOSE, "reason": "the hull"},
        )
    )
    assert made.status_code == 201, made.text
    fed.deliver()
    consent_id: str = made.json()["id"]
    return consent_id


def state(fed: Federation, party: str, consent_id: str) -> tuple[str, int]:
    """The consent's stored state at `party`'s node, and how many messages it has queued."""
    with fed[party].db.read() as session:
        row = session.get(Consent, consent_id)
        assert row is not None
        queued = session.scalar(
            select(func.count()).select_from(OutboxItem).where(OutboxItem.state == "queued")
        )
        return row.state, int(queued or 0)


def denials(fed: Federation, party: str) -> list[tuple[str, tuple[str, ...]]]:
    return [
        (e.action, e.reasons)
        for e in fed.audits[party].events
        if e.type == "consent" and e.decision == "deny"
    ]


def test_consents_without_the_role_are_refused_and_audited(
    fed: Federation, apis: dict[str, ApiClient], asked: str
) -> None:
    reader = apis["KOR"].as_("reader")
    assert_problem(reader.get("/api/v1/consents"), 403)
    assert_problem(reader.get(f"/api/v1/consents/{asked}"), 403)
    assert_problem(reader.post(f"/api/v1/consents/{asked}/approve", json={}), 403)
    assert_problem(reader.post(f"/api/v1/consents/{asked}/deny", json={}), 403)
    assert denials(fed, "KOR") == [
        ("list", (READERS,)),
        ("show", (READERS,)),
        ("approve", ("role-required:nsa-officer",)),
        ("deny", ("role-required:nsa-officer",)),
    ]
    assert state(fed, "KOR", asked) == ("requested", 0)


def test_approving_or_denying_without_the_nsa_officer_role_is_refused(
    fed: Federation, apis: dict[str, ApiClient], asked: str
) -> None:
    for person in ("author", "auditor"):  # an originator, an auditor: they see, not answer
        client = apis["KOR"].as_(person)
        assert_problem(client.post(f"/api/v1/consents/{asked}/approve", json={}), 403)
        assert_problem(client.post(f"/api/v1/consents/{asked}/deny", json={}), 403)
    assert [a for a, _ in denials(fed, "KOR")] == ["approve", "deny"] * 2
    assert state(fed, "KOR", asked) == ("requested", 0)


def test_approving_a_consent_twice_is_refused(
    fed: Federation, apis: dict[str, ApiClient], asked: str
) -> None:
    nsa = apis["KOR"].as_("nsa")
    first = nsa.post(f"/api/v1/consents/{asked}/approve", json={"conditions": "no further"})
    assert first.status_code == 200, first.text
    statement = first.json()["statement"]
    assert_problem(nsa.post(f"/api/v1/consents/{asked}/approve", json={}), 409)
    assert_problem(nsa.post(f"/api/v1/consents/{asked}/deny", json={}), 409)
    assert state(fed, "KOR", asked) == ("approved", 1)  # one answer queued, the first
    assert nsa.get(f"/api/v1/consents/{asked}").json()["statement"] == statement


def test_self_approval_at_the_requesting_node_is_refused(
    fed: Federation, apis: dict[str, ApiClient], asked: str
) -> None:
    # CAN's officer who asked (and anyone at CAN) cannot answer CAN's own request
    nsa = apis["CAN"].as_("nsa")
    assert_problem(nsa.post(f"/api/v1/consents/{asked}/approve", json={}), 404)
    assert state(fed, "CAN", asked) == ("requested", 0)


def test_an_originator_sees_only_the_consents_they_requested(
    fed: Federation, apis: dict[str, ApiClient], asked: str
) -> None:
    # another originator at CAN, and an originator at KOR who is not the document's
    # custodian, learn nothing of the request: its document, party, purpose or reason
    for party in ("CAN", "KOR"):
        author = apis[party].as_("author")
        assert author.get("/api/v1/consents").json() == {"items": []}
        assert_problem(author.get(f"/api/v1/consents/{asked}"), 404)
    # the NSA officer and the auditor see it
    for person in ("nsa", "auditor"):
        listed = apis["CAN"].as_(person).get("/api/v1/consents").json()["items"]
        assert [c["id"] for c in listed] == [asked]


def test_consent_approved_for_one_purpose_is_refused_for_another(
    fed: Federation, apis: dict[str, ApiClient], asked: str
) -> None:
    approved = apis["KOR"].as_("nsa").post(f"/api/v1/consents/{asked}/approve", json={})
    assert approved.status_code == 200, approved.text
    fed.deliver()
    assert state(fed, "CAN", asked)[0] == "approved"
    can = fed["CAN"]
    with can.db.read() as session:
        row = session.get(Consent, asked)
        assert row is not None
        kor_doc = row.document_id
    can_doc = next(c.document_id for c in _copies(fed) if c.originator_document_id == kor_doc)
    with can.db.write() as session, pytest.raises(DocumentRefused) as refused:
        can.consents.transmit_check(session, fed.officer("CAN"), can_doc, "DEU", "research", asked)
    assert refused.value.reasons == ("third-party-consent-missing",)
    assert state(fed, "CAN", asked)[0] == "approved"  # not used up by the refusal
    with can.db.write() as session:
        can.consents.transmit_check(session, fed.officer("CAN"), can_doc, "DEU", PURPOSE, asked)
    assert state(fed, "CAN", asked)[0] == "used"


def _copies(fed: Federation) -> list[Any]:
    from cix.store.models import ReceivedCopy

    with fed["CAN"].db.read() as session:
        return list(session.scalars(select(ReceivedCopy)))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"conditions": ""}, 422),
        ({"conditions": "x" * 2001}, 422),
        ({"conditions": "no\x00further"}, 400),
        ({"conditions": "   "}, 400),
        ({"expires_at": "2020-01-01T00:00:00Z"}, 400),  # in the past (the clock: T0, 2026)
        ({"expires_at": "2099-01-01T00:00:00Z"}, 400),  # beyond a year
        ({"expires_at": "2026-12-01T00:00:00"}, 422),  # no time zone
        ({"expires_at": "soon"}, 422),
        ({"extra": True}, 422),
    ],
)
def test_approval_with_bad_input_is_a_clear_4xx_and_changes_nothing(
    fed: Federation, apis: dict[str, ApiClient], asked: str, body: dict[str, Any], status: int
) -> None:
    assert_problem(apis["KOR"].as_("nsa").post(f"/api/v1/consents/{asked}/approve", json=body),
                   status)  # fmt: skip
    assert state(fed, "KOR", asked) == ("requested", 0)


def test_consent_ids_that_do_not_exist_are_a_clear_4xx(
    fed: Federation, apis: dict[str, ApiClient], asked: str
) -> None:
    nsa = apis["KOR"].as_("nsa")
    assert_problem(nsa.get("/api/v1/consents/0190aa00000000001122334455667788"), 404)
    assert_problem(nsa.post("/api/v1/consents/nope/approve", json={}), 404)
    assert_problem(nsa.post("/api/v1/consents/nope/deny", json={}), 404)
    assert_problem(nsa.post("/api/v1/consents/..%2f/approve", json={}), 404)
    assert_problem(nsa.get("/api/v1/consents/" + "a" * 65), 422)
    assert_problem(nsa.get("/api/v1/consents", params={"state": "stolen"}), 422)
    assert state(fed, "KOR", asked) == ("requested", 0)


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"purpose": ""}, 422),
        ({"purpose": "p" * 201}, 422),
        ({"purpose": "défense"}, 422),
        # not a purpose a label or a transmission can name: a consent no act could use
        ({"purpose": "p" * 65}, 422),
        ({"purpose": "1st-purpose"}, 422),
        ({"reason": ""}, 422),
        ({"reason": "r" * 2001}, 422),
        ({"reason": "\t\n"}, 400),
        ({"to_party": "CAN"}, 400),  # a party of the agreement: no consent needed
        ({"document": "0" * 32}, 404),
        ({"act": "declassify"}, 422),
    ],
)
def test_consent_request_with_bad_input_is_a_clear_4xx_and_queues_nothing(
    fed: Federation, apis: dict[str, ApiClient], change: dict[str, Any], status: int
) -> None:
    _, can_doc = seed_copy(fed)
    body = {"document": can_doc, "to_party": "DEU", "purpose": PURPOSE, "reason": "hull"}
    assert_problem(apis["CAN"].as_("nsa").post("/api/v1/consents", json={**body, **change}),
                   status)  # fmt: skip
    with fed["CAN"].db.read() as session:
        assert session.scalar(select(func.count()).select_from(Consent)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 0
