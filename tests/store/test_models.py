"""The node's tables and the audit log's share a PostgreSQL database by default (the log
lives in the node database there): no table may have the same name in both."""

from __future__ import annotations

import re
from pathlib import Path

from cix.store.models import Base

STORAGE = Path(__file__).resolve().parents[2] / "src" / "cix" / "audit" / "storage"


def _log_tables() -> set[str]:
    names: set[str] = set()
    for backend in ("postgres.py", "sqlite.py"):
        text = (STORAGE / backend).read_text(encoding="utf-8")
        names |= set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", text))
    return names


def test_node_tables_never_collide_with_the_audit_logs() -> None:
    log_tables = _log_tables()
    assert {"audit_entries", "audit_checkpoints"} <= log_tables  # the scan sees them
    clash = sorted(set(Base.metadata.tables) & log_tables)
    assert not clash, f"node tables named like the audit log's: {clash}"
