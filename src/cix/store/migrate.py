"""Schema migrations (Alembic) run from inside the package: no alembic.ini needed.

`upgrade(url)` brings a database of any earlier revision (or an empty one) to the newest
schema; `current(url)` and `head()` let `cix serve` refuse to run on a stale database.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from cix.errors import StorageError

_SCRIPTS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def _engine_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def sqlite_file_missing(url: str) -> Path | None:
    """The file of a SQLite `url` if it does not exist yet (connecting would create it
    empty); None for an existing file, an in-memory database or another backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def shown(url: str) -> str:
    """`url` as it may be printed: its password, if any, masked."""
    return make_url(url).render_as_string(hide_password=True)


def head() -> str:
    """The newest revision shipped with this version of cix."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(url: str) -> str | None:
    """The revision the database at `url` is at (None: never migrated)."""
    engine = create_engine(_engine_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise StorageError(f"cannot read the database revision: {exc.orig}") from exc
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every migration up to `revision` in one transaction per step."""
    engine = create_engine(_engine_url(url), poolclass=NullPool)
    config = _config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except OperationalError as exc:
        raise StorageError(f"database migration failed: {exc.orig}") from exc
    finally:
        engine.dispose()
