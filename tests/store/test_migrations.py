"""Migrations: the shipped scripts build exactly the model schema, and older databases upgrade."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from cix.store import migrate
from cix.store.models import Base

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_head_is_the_newest_revision() -> None:
    assert migrate.head() == "0014"


def test_fresh_database_has_no_revision(database_url: str) -> None:
    assert migrate.current(database_url) is None


def test_migrations_build_exactly_the_model_schema(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_database_at_first_revision_upgrades_keeping_its_rows(database_url: str) -> None:
    migrate.upgrade(database_url, "0001")
    assert migrate.current(database_url) == "0001"
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.begin() as connection:
        assert "documents" not in inspect(connection).get_table_names()
        connection.execute(
            text(
                "INSERT INTO organisations (id, name, kind, party, created_at, updated_at) "
                "VALUES ('dnd', 'DND', 'government', 'CAN', :t, :t)"
            ),
            {"t": NOW},
        )
    migrate.upgrade(database_url)
    assert migrate.current(database_url) == migrate.head()
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        assert {"documents", "label_bits", "reproductions", "incidents"} <= tables
        names = connection.execute(text("SELECT name FROM organisations")).scalars().all()
        assert names == ["DND"]
    engine.dispose()


def test_upgrade_is_idempotent(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.upgrade(database_url)
    assert migrate.current(database_url) == migrate.head()


def test_listing_index_is_partial_and_covers_the_label_columns(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as connection:
        indexes = {i["name"]: i for i in inspect(connection).get_indexes("documents")}
    engine.dispose()
    listing = indexes["ix_documents_listing"]
    assert listing["column_names"][:2] == ["id", "originator"]
    assert {"rank", "releasability_mask", "programme_mask", "caveat_mask"} <= set(
        listing["column_names"]
    )


@pytest.mark.parametrize("bad", ["mysql://x/y", "not a url"])
def test_unsupported_database_url_is_refused(bad: str) -> None:
    from cix.settings import SettingsError
    from cix.store.db import Database

    with pytest.raises(SettingsError, match="database_url"):
        Database(bad)
