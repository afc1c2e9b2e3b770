"""`cix audit verify --dir`'s checks of a node's log against what was recorded outside it:
the newest checkpoint in the node database (`log_evidence`) and the sizes its peers
cosigned (`peer_cosignatures`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cix.node.auditing import check_log_against_database
from cix.node.exchange.witnessing import check_log_against_cosignatures

if TYPE_CHECKING:
    from pathlib import Path

    from cix.audit import Log


def check_node_log(data_dir: Path, log: Log) -> None:
    """`check_log_against_database`, then `check_log_against_cosignatures`, against the
    database of the node in `data_dir`: a log cut below the evidence row or below a size a
    peer cosigned raises `LogTruncated`, one rewritten `RootMismatch`."""
    from cix.settings import load_settings
    from cix.store.db import Database

    db = Database(load_settings(data_dir).database_url.reveal())
    try:
        check_log_against_database(db, log)
        check_log_against_cosignatures(db, log)
    finally:
        db.dispose()
