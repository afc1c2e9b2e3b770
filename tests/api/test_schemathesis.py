"""Schemathesis against the node's OpenAPI document: no 5xx, and every answer is declared —
its status, its media type and its body's schema.

The app runs in-process (ASGI) on a SQLite node seeded with the demonstration's Canadian cast
and a caller holding every role, so that writes and reads get past authentication and reach
the services. Examples per operation are bounded so that the whole run stays near a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cix.api.app import OPENAPI_URL, create_app
from cix.demo import PASSPHRASE, prepare
from cix.demo_cast import CANADA
from cix.node.auditing import MemoryAuditSink
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import PersonIn
from cix.node.service import Node

MAX_EXAMPLES = 25
FUZZER = "fuzzer"

PASS_ENV = {"CIX_PASSPHRASE": PASSPHRASE}
# The federation routes take a compact JWS (application/jose): text, sent as generated.
schemathesis.serializer.alias("application/jose", "text/plain")


@pytest.fixture(scope="module")
def seeded_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """The demonstration's Canadian node (registry seeded) plus a caller with every role."""
    root = tmp_path_factory.mktemp("schemathesis")
    (demo,) = prepare(root / "demo", nations=(CANADA,), base_port=0)
    node = Node.open(demo.data_dir, environ=PASS_ENV, audit=MemoryAuditSink())
    node.registry.create_person(
        SYSTEM,
        PersonIn(
            id=FUZZER,
            name="Schemathesis",
            organisation="dnd",
            nationalities=["CAN"],
            roles=list(Role),
        ),
    )
    try:
        yield node
    finally:
        node.close()


@pytest.fixture(scope="module")
def bearer(seeded_node: Node) -> dict[str, str]:
    """The Authorization header of the caller with every role."""
    assert seeded_node.issuer is not None
    token = seeded_node.issuer.issue(FUZZER, ttl=3600, now=seeded_node.clock())
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_schema(seeded_node: Node) -> Any:
    """The node's OpenAPI document, loaded from the in-process app."""
    app = create_app(seeded_node)
    # Schemathesis sends only valid credentials; the limiter must never turn them away.
    app.state.limiter.retry_after = lambda _client, _moment: None
    return schemathesis.openapi.from_asgi(OPENAPI_URL, app)


def test_no_server_error_and_responses_match_schema(
    api_schema: Any, bearer: dict[str, str]
) -> None:
    """Every generated request gets a non-5xx answer whose body matches the documented schema.

    (Schemathesis' own pytest integration cannot load a fixture-built schema under pytest 9,
    so each operation's strategy is driven here by hypothesis directly.)
    """
    failures: list[str] = []
    statuses: dict[int, int] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert operations
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call_and_validate(
                headers=bearer,
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
    # Not vacuous: valid requests were accepted and invalid ones refused as client errors.
    assert any(200 <= status < 300 for status in statuses), statuses
    assert any(400 <= status < 500 for status in statuses), statuses


def test_the_schema_documents_the_routes(api_schema: Any) -> None:
    """The document covers the registry and credentials (the fuzz test is not vacuous)."""
    paths = {result.ok().path for result in api_schema.get_all_operations()}
    assert "/api/v1/people" in paths
    assert "/api/v1/memberships/{membership_id}" in paths


def test_demo_seed_is_in_place(seeded_node: Node, tmp_path: Path) -> None:
    """The seeded cast exists, so fuzzed reads hit real rows, not only 404s."""
    people = seeded_node.registry.list_people(SYSTEM, None)
    assert {p.id for p in people} >= {m.id for m in CANADA.people}
