"""Bad input on the federation API: Schemathesis over the `/federation/v1` operations of the
node's OpenAPI document, and arbitrary bodies of every message kind signed by a pinned
peer (the simulator). No input gets a 5xx; every answer is one the document declares; a
refused message stores nothing (no inbox row, no copy, no consent, no document)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import anyio.from_thread
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import func, select

from cix.api.app import OPENAPI_URL, create_app
from cix.node.exchange.transport import (
    ADD_CHECKPOINT_PATH,
    DOCUMENTS_PATH,
    JOSE,
    MESSAGE_HEADER,
    MESSAGES_PATH,
)
from cix.node.service import Node
from cix.store.models import Consent, Document, InboxMessage, LabelHistory, ReceivedCopy
from tests.federation.cast import seed_cast
from tests.federation.simulator import PeerSimulator
from tests.node_support import ApiClient, Clock

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
# A compact JWS is text: sent as it is generated.
schemathesis.serializer.alias(JOSE, "text/plain")
#: The fields of each kind's body, so that generated bodies get past the shape checks.
FIELDS = {
    "transmission": ("document", "copy", "label", "title", "media_type", "purpose", "consent",
                     "originator_party", "releasing_party", "object_sha256", "object_size"),
    "consent-request": ("type", "consent_id", "requester_node", "requester_party",
                        "originator_party", "document_id", "act", "to_party", "purpose",
                        "new_label", "requested_by", "reason"),
    "consent-answer": ("type", "consent_id", "statement"),
    "classification-change": ("document", "originator_party", "revision", "change", "reason",
                              "changed_at"),
    "checkpoint": ("checkpoint",),
    "answer": ("in_reply_to", "status", "receipt"),
}  # fmt: skip
#: Values a field could plausibly hold here (ids of this node's peers, parties, types).
PLAUSIBLE: st.SearchStrategy[Any] = st.sampled_from(
    ["cix-kor", "cix-can", "KOR", "CAN", "DEU", "0" * 32, "release", "downgrade", 1, 0, -1,
     "cix-consent-request/v1", "cix-consent-answer/v1", "a.b.c", {}, [], "", None]
)  # fmt: skip
VALUE: st.SearchStrategy[Any] = st.deferred(lambda: PLAUSIBLE | JSON)
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


@pytest.fixture
def seeded(node: Node, kor: PeerSimulator, clock: Clock) -> Node:
    seed_cast(node, clock.now)
    return node


@pytest.fixture
def http(seeded: Node) -> Iterator[ApiClient]:
    portal_cm: AbstractContextManager[Any] = anyio.from_thread.start_blocking_portal()
    with portal_cm as portal:
        client = ApiClient(seeded, portal)
        try:
            yield client
        finally:
            client.close()


def stored(node: Node) -> dict[str, int]:
    """How many rows of each kind a federation message could leave behind."""
    with node.db.read() as session:
        return {
            model.__name__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (InboxMessage, ReceivedCopy, Consent, Document, LabelHistory)
        }


def test_federation_routes_are_documented_with_their_bodies(seeded: Node) -> None:
    """A peer operator reads both routes, their bodies and the signed answers."""
    document = create_app(seeded).openapi()
    messages = document["paths"][MESSAGES_PATH]["post"]
    assert set(messages["requestBody"]["content"]) == {JOSE}
    documents = document["paths"][DOCUMENTS_PATH]["post"]
    assert [p["name"] for p in documents["parameters"]] == [MESSAGE_HEADER]
    assert set(documents["requestBody"]["content"]) == {"application/octet-stream"}
    for operation in (messages, documents):
        assert JOSE in operation["responses"]["200"]["content"]
        assert JOSE in operation["responses"]["422"]["content"]
        assert "application/problem+json" in operation["responses"]["401"]["content"]


def test_schemathesis_over_the_federation_api_finds_no_server_error(seeded: Node) -> None:
    app = create_app(seeded)
    schema = schemathesis.openapi.from_asgi(OPENAPI_URL, app)
    every = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    operations = [o for o in every if o.path.startswith("/federation/v1/")]
    assert {o.path for o in operations} == {MESSAGES_PATH, DOCUMENTS_PATH, ADD_CHECKPOINT_PATH}
    before = stored(seeded)
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call_and_validate(
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            check()
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert statuses
    assert all(400 <= s < 500 for s in statuses), statuses
    assert stored(seeded) == before


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_any_body_signed_by_a_pinned_peer_is_a_clear_4xx_and_stores_nothing(
    http: ApiClient, seeded: Node, kor: PeerSimulator, data: st.DataObject
) -> None:
    """The peer's signature verifies, so its handler reads the body: whatever it holds, the
    answer is a signed refusal, never a 5xx, and nothing is kept."""
    kind = data.draw(st.sampled_from([*FIELDS, "x"]), label="kind")
    fields = FIELDS.get(kind, ("x",))
    body = data.draw(
        st.fixed_dictionaries(dict.fromkeys(fields, VALUE))
        | st.dictionaries(st.text(max_size=20), VALUE, max_size=6),
        label="body",
    )
    before = stored(seeded)
    for path in (MESSAGES_PATH, DOCUMENTS_PATH, ADD_CHECKPOINT_PATH):
        token = kor.message(kind=kind, body=body, audience="cix-can", url=path)
        if path != DOCUMENTS_PATH:
            response = http.post(path, content=token.encode())
        else:
            junk = b"PK\x03\x04 not a sealed object"
            response = http.post(path, content=junk, headers={MESSAGE_HEADER: token})
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith(JOSE), response.text
    assert stored(seeded) == before
