"""`cix audit verify --dir`'s checks of a node's log against what was recorded outside it:
the newest checkpoint in the node database (`log_evidence`) and the sizes its peers
cosigned (`peer_cosignatures`, each cosignature checked against the peer's pinned audit
key); and `cix audit cosignatures --dir`'s listing of those cosignatures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cix.node.auditing import check_log_against_database
from cix.node.exchange.witnessing import check_log_against_cosignatures

if TYPE_CHECKING:
    from pathlib import Path

    from cix.audit import Log
    from cix.audit.cosignature import CosignerKey
    from cix.store.db import Database


@dataclass(frozen=True)
class CosignatureInfo:
    """One stored cosignature of ours: the witness (a peer's audit key name) and the node
    it is pinned as (None when no pinned peer has that key any more), the size and root it
    cosigned, its own time (None when no pinned key verifies it) and when it was stored."""

    witness: str
    peer: str | None
    size: int
    root: str
    cosigned_at: datetime | None
    received_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The row as JSON (`--json`)."""
        return {
            "witness": self.witness,
            "peer": self.peer,
            "size": self.size,
            "root": self.root,
            "cosigned_at": self.cosigned_at.isoformat() if self.cosigned_at else None,
            "received_at": self.received_at.isoformat(),
        }


def pinned_witnesses(db: Database) -> dict[str, tuple[str, CosignerKey]]:
    """Witness name → (peer node id, its cosigner key) for every pinned peer: a peer
    witnesses with the audit key its identity names."""
    from sqlalchemy import select

    from cix.audit.cosignature import cosigner_of
    from cix.federation.identity import identity_from_json
    from cix.store.models import PeerRow

    found: dict[str, tuple[str, CosignerKey]] = {}
    with db.read() as session:
        for row in session.scalars(select(PeerRow)):
            identity = identity_from_json(json.loads(row.identity)["identity"])
            found[identity.audit_key.name] = (row.node_id, cosigner_of(identity.audit_key))
    return found


def _database(data_dir: Path) -> Database:
    from cix.settings import load_settings
    from cix.store.db import Database

    return Database(load_settings(data_dir).database_url.reveal())


def check_node_log(data_dir: Path, log: Log) -> list[tuple[str, int]]:
    """`check_log_against_database`, then `check_log_against_cosignatures` with the pinned
    peers' keys, against the database of the node in `data_dir`: a log cut below the
    evidence row or below a size a peer cosigned raises `LogTruncated`, one rewritten
    `RootMismatch`, a cosignature not by the pinned key `WrongKey`. Returns the (witness,
    size) pairs checked."""
    db = _database(data_dir)
    try:
        check_log_against_database(db, log)
        keys = {name: key for name, (_, key) in pinned_witnesses(db).items()}
        return check_log_against_cosignatures(db, log, keys)
    finally:
        db.dispose()


def list_cosignatures(data_dir: Path) -> list[CosignatureInfo]:
    """The cosignatures of the node in `data_dir`, by witness then size."""
    from sqlalchemy import select

    from cix.audit.cosignature import verify_cosigned
    from cix.errors import VerificationError
    from cix.store.models import PeerCosignature

    db = _database(data_dir)
    try:
        witnesses = pinned_witnesses(db)
        with db.read() as session:
            rows = list(
                session.scalars(
                    select(PeerCosignature).order_by(
                        PeerCosignature.witness_name, PeerCosignature.size
                    )
                )
            )
        found = []
        for row in rows:
            peer, key = witnesses.get(row.witness_name, (None, None))
            at: datetime | None = None
            if key is not None:
                try:
                    at = datetime.fromtimestamp(verify_cosigned(row.note, key), tz=UTC)
                except VerificationError:
                    at = None
            found.append(
                CosignatureInfo(row.witness_name, peer, row.size, row.root, at, row.received_at)
            )
        return found
    finally:
        db.dispose()
