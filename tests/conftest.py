"""Fixtures shared by every area's tests.

PostgreSQL tests use `postgres_url`: a fresh database on the server at 127.0.0.1:5432,
dropped afterwards. Where no server answers the test is skipped with the reason, except
under CI=true, where it fails: CI must run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from tests.requirements import missing

# The suite runs two workers on two cores beside PostgreSQL and real servers: wall-clock
# limits on single examples measure the machine's load, not the property. A test that needs
# a deadline sets its own.
settings.register_profile(
    "cix", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("cix")

POSTGRES_ADMIN_URL = os.environ.get(
    "CIX_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        missing(f"no PostgreSQL server answers at {POSTGRES_ADMIN_URL}: {exc}".strip())


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A libpq URL (`postgresql://…`) of a new, empty database, dropped after the test.

    SQLAlchemy users replace the scheme with `postgresql+psycopg://`.
    """
    admin = _admin_connection()
    name = f"cix_test_{uuid.uuid4().hex[:16]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # name is generated here, not input
        try:
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def shared_dir() -> Path:
    """`../shared` beside the repository (CI has it); skip with the reason where absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is not present beside the repository")
    return SHARED_DIR
