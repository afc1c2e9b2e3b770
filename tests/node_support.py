"""Shared fixtures and helpers of the node, store and API tests.

`database_url` runs a test on SQLite and on PostgreSQL; `node` is an initialised node on it
with a first administrator `root`, an in-memory audit sink and a clock the test controls;
`api` talks to the node's app in-process through httpx's ASGI transport.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest

from cix.api.app import create_app
from cix.api.limits import FailureLimiter
from cix.node.auditing import AuditRecord, MemoryAuditSink
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import OrganisationIn, PersonIn, RegistryClearance
from cix.node.service import Node, init_node

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PASSPHRASE = "correct horse battery staple"
ENVIRON = {"CIX_PASSPHRASE": PASSPHRASE}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(**delta)


def sqlalchemy_url(libpq_url: str) -> str:
    """The SQLAlchemy form of a libpq URL."""
    return libpq_url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: SQLite in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return sqlalchemy_url(request.getfixturevalue("postgres_url"))


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""For tests whose subject does not touch the database backend (header parsing, limits)."""


def make_node(
    data_dir: Path,
    database_url: str | None,
    clock: Clock,
    audit: MemoryAuditSink,
    environ: dict[str, str] = ENVIRON,
) -> Node:
    """Initialise a CAN node with administrator `root` and open it (settings from `environ`)."""
    init_node(
        data_dir,
        party="CAN",
        agreements=("kor-can",),
        database_url=database_url,
        admin="root",
        environ=environ,
        audit=audit,
        clock=clock,
    )
    return Node.open(data_dir, environ=environ, audit=audit, clock=clock)


@pytest.fixture
def clock() -> Clock:
    """The test's clock, starting at T0."""
    return Clock()


@pytest.fixture
def audit() -> MemoryAuditSink:
    """The node's audit sink, inspectable by the test."""
    return MemoryAuditSink()


@pytest.fixture
def node(tmp_path: Path, database_url: str, clock: Clock, audit: MemoryAuditSink) -> Iterator[Node]:
    """An initialised node on the parametrised database."""
    opened = make_node(tmp_path / "node", database_url, clock, audit)
    try:
        yield opened
    finally:
        opened.close()


def seed_people(node: Node) -> None:
    """The cast of the registry tests, created directly through the service as `system`."""
    reg = node.registry
    expires = T0 + timedelta(days=365)
    reg.create_organisation(
        SYSTEM, OrganisationIn(id="dnd", name="DND", kind="government", party="CAN")
    )
    reg.create_organisation(
        SYSTEM, OrganisationIn(id="acme", name="Acme Marine", kind="contractor", party="CAN")
    )
    cast: list[tuple[str, str, list[Role]]] = [
        ("nsa", "dnd", [Role.NSA_OFFICER]),
        ("admin2", "dnd", [Role.ADMINISTRATOR]),
        ("auditor", "dnd", [Role.AUDITOR]),
        ("fso", "acme", [Role.FSO]),
        ("alice", "dnd", [Role.READER]),
        ("bob", "acme", [Role.READER]),
    ]
    for person_id, org, roles in cast:
        reg.create_person(
            SYSTEM,
            PersonIn(
                id=person_id,
                name=person_id.title(),
                organisation=org,
                nationalities=["CAN"],
                clearance=RegistryClearance(level="SECRET", party="CAN", expires=expires)
                if person_id == "alice"
                else None,
                roles=roles,
            ),
        )


class ApiClient:
    """A blocking client of the node's app, in-process (httpx ASGITransport, one event loop)."""

    def __init__(self, node: Node, portal: Any) -> None:
        self.node = node
        self.app = create_app(node)
        self._portal = portal
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("203.0.113.7", 4711)),
            base_url="http://node.test",
        )
        self.token: str | None = None

    def reset_limiter(self) -> None:
        """Forget recorded authentication failures (for tests sending many bad requests)."""
        settings = self.node.settings
        self.app.state.limiter = FailureLimiter(
            settings.auth_failure_limit,
            settings.auth_failure_window_seconds,
            settings.rate_limit_clients,
        )

    def token_for(self, person_id: str, ttl: int = 600) -> str:
        """A bearer token for `person_id` from the node's built-in issuer."""
        assert self.node.issuer is not None
        return self.node.issuer.issue(person_id, ttl=ttl, now=self.node.clock())

    def as_(self, person_id: str | None) -> ApiClient:
        """Send the following requests as `person_id` (None: without a token)."""
        self.token = self.token_for(person_id) if person_id else None
        return self

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request with the current token (unless headers are given)."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token and "authorization" not in {k.lower() for k in headers}:
            headers["Authorization"] = f"Bearer {self.token}"
        response: httpx.Response = self._portal.call(
            lambda: self._client.request(method, url, headers=headers, **kwargs)
        )
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST."""
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        """PATCH."""
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        """DELETE."""
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        """Close the client."""
        self._portal.call(self._client.aclose)


@pytest.fixture
def api(node: Node) -> Iterator[ApiClient]:
    """An in-process client of `node`'s API, with the registry cast seeded."""
    seed_people(node)
    portal_cm: AbstractContextManager[Any] = anyio.from_thread.start_blocking_portal()
    with portal_cm as portal:
        client = ApiClient(node, portal)
        try:
            yield client
        finally:
            client.close()


def events(audit: MemoryAuditSink, event_type: str | None = None) -> list[AuditRecord]:
    """The audit events recorded so far, optionally of one type."""
    return [e for e in audit.events if event_type is None or e.type == event_type]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Check that `response` is an RFC 9457 problem with `status`; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    return body
