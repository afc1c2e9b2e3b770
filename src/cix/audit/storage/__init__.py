"""Where an audit log lives: a SQLite file (the default) or a PostgreSQL database.

`open_log` takes a log address: a filesystem path (SQLite) or a URL `postgresql://…` /
`postgresql+psycopg://…`. Backends are imported only when used.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cix.audit.checkpoint import Signer
from cix.audit.errors import UnknownLog
from cix.audit.log import Log, Storage

_PG_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")


def open_storage(address: str | Path, *, create: bool = True) -> Storage:
    """Open (with `create`: create when absent) the storage at `address`."""
    text = str(address)
    if text.startswith(_PG_SCHEMES):
        from cix.audit.storage.postgres import PostgresStorage

        return PostgresStorage(text, create=create)
    if "://" in text or text.startswith("sqlite:"):
        scheme = text.split(":", 1)[0]
        raise UnknownLog(
            f"{text!r}: unsupported log address scheme {scheme!r} "
            "(use a file path or postgresql://…)"
        )
    if not text:
        raise UnknownLog("empty log address")
    from cix.audit.storage.sqlite import SqliteStorage

    return SqliteStorage(Path(text), create=create)


def open_log(
    address: str | Path,
    *,
    create: bool = True,
    signer: Signer | None = None,
    checkpoint_interval: timedelta | None = None,
) -> Log:
    """Open the audit log at `address` (a SQLite path or a PostgreSQL URL).

    With `create=False` a missing log raises `UnknownLog`. With `signer`, every committed
    batch (or one per `checkpoint_interval` of event time) carries a signed checkpoint.
    """
    return Log(
        open_storage(address, create=create),
        signer=signer,
        checkpoint_interval=checkpoint_interval,
    )
