"""Fixtures for the audit tests: every log test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from cix.audit import Event, Log, Signer, generate_signer, open_log

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def log_address(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh log address: a SQLite path, or a PostgreSQL URL of an empty database."""
    if request.param == "sqlite":
        return str(tmp_path_factory.mktemp("audit") / "audit.db")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def signer() -> Signer:
    """The log's signing key."""
    return generate_signer("kor.cix.example/audit")


@pytest.fixture
def log(log_address: str, signer: Signer) -> Iterator[Log]:
    """An empty log that signs a checkpoint after every batch."""
    with open_log(log_address, signer=signer) as opened:
        yield opened


def event(i: int, **changes: object) -> Event:
    """A plausible event number `i` (distinct content for each i)."""
    fields: dict[str, object] = {
        "time": T0 + timedelta(seconds=i),
        "node": "kor",
        "type": "document.open",
        "actor": f"user-{i}@mnd.go.kr",
        "object": f"doc:{i % 7}",
        "action": "read",
        "decision": "permit" if i % 3 else "deny",
        "reasons": () if i % 3 else ("clearance-expired",),
        "details": {"bytes": i * 1000, "copy": i},
    }
    fields.update(changes)
    return Event(**fields)  # type: ignore[arg-type]


def sql(address: str, statement: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Run SQL directly on the log's database (the attacker's access); `?` placeholders."""
    if address.startswith("postgresql"):
        with psycopg.connect(address, autocommit=True) as conn:
            cur = conn.execute(statement.replace("?", "%s"), list(params))
            return cur.fetchall() if cur.description else []
    lite = sqlite3.connect(address, isolation_level=None)
    try:
        return lite.execute(statement, list(params)).fetchall()
    finally:
        lite.close()
