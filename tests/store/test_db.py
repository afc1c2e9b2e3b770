"""SQLite discipline: WAL, durable commits, one writer with BEGIN IMMEDIATE, read-only readers."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from cix.errors import StorageError
from cix.store import migrate
from cix.store.db import Database
from cix.store.models import OrganisationRow

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'node.db'}"
    migrate.upgrade(url)
    return Database(url)


def _org(org_id: str) -> OrganisationRow:
    return OrganisationRow(
        id=org_id, name=org_id, kind="government", party="CAN", created_at=NOW, updated_at=NOW
    )


def test_writer_uses_wal_and_full_sync(sqlite_db: Database) -> None:
    with sqlite_db.write() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_reader_cannot_write(sqlite_db: Database) -> None:
    def write_through_reader() -> None:
        with sqlite_db.read() as session:
            session.add(_org("dnd"))
            session.flush()

    with pytest.raises(StorageError, match="read failed"):
        write_through_reader()
    with sqlite_db.read() as session:
        assert session.scalars(select(OrganisationRow)).all() == []


def test_write_rolls_back_on_error(sqlite_db: Database) -> None:
    def failing_write() -> None:
        with sqlite_db.write() as session:
            session.add(_org("dnd"))
            session.flush()
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        failing_write()
    with sqlite_db.read() as session:
        assert session.get(OrganisationRow, "dnd") is None


def test_writers_are_serialised_not_interleaved(sqlite_db: Database) -> None:
    # Each writer reads a counter and writes counter+1 after a pause: with deferred
    # transactions two writers would both read 0; BEGIN IMMEDIATE on the single writer
    # connection makes them queue, so the final count is exact.
    with sqlite_db.write() as session:
        session.add(_org("counter"))

    def bump() -> None:
        with sqlite_db.write() as session:
            row = session.get(OrganisationRow, "counter")
            assert row is not None
            value = int(row.name) if row.name.isdigit() else 0
            time.sleep(0.01)
            row.name = str(value + 1)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sqlite_db.read() as session:
        row = session.get(OrganisationRow, "counter")
        assert row is not None
        assert row.name == "8"


def test_times_come_back_aware_utc(database_url: str) -> None:
    migrate.upgrade(database_url)
    db = Database(database_url)
    with db.write() as session:
        session.add(_org("dnd"))
    with db.read() as session:
        row = session.get(OrganisationRow, "dnd")
        assert row is not None
        assert row.created_at == NOW
        assert row.created_at.tzinfo is not None
    db.dispose()


def test_naive_datetime_is_refused(sqlite_db: Database) -> None:
    org = _org("dnd")
    org.created_at = datetime(2026, 3, 1)
    with pytest.raises(Exception, match="naive datetime"), sqlite_db.write() as session:
        session.add(org)
