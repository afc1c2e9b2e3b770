"""The pinned peers as the exchange reads them (rows of `peers`).

A stand-in for `cix.node.exchange.peers.Peers` until it lands: the same three look-ups
(`pinned`, `for_party`, `url_of`) read straight from `PeerRow`, plus the label signers
each party's pinned nodes give (`trusted_signers`). Each call reads the database: a peer
removed is no longer trusted at the next message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select

from cix.errors import InputError
from cix.federation import PinnedPeer, read_identity
from cix.keys import VerifyKey
from cix.store.db import Database
from cix.store.models import PeerRow


class PeerBook:
    """The pinned peers of one node (see the module docstring)."""

    def __init__(self, db: Database, party: str) -> None:
        self.db = db
        self.party = party
        self._signers: tuple[int, dict[str, list[VerifyKey]]] | None = None

    @staticmethod
    def _pinned(row: PeerRow) -> PinnedPeer | None:
        try:
            identity = read_identity(row.identity).identity
        except InputError:
            return None  # a row that no longer verifies is trusted for nothing
        if identity.node_id != row.node_id:
            return None
        return PinnedPeer(identity, frozenset(row.agreements))

    def pinned(self, node_id: str) -> PinnedPeer | None:
        """The peer pinned as `node_id`, or None."""
        with self.db.read() as session:
            row = session.get(PeerRow, node_id)
            return None if row is None else self._pinned(row)

    def for_party(self, party: str, agreement: str) -> PinnedPeer | None:
        """The node of `party` pinned under `agreement` (the first by node id), or None."""
        with self.db.read() as session:
            rows = session.scalars(
                select(PeerRow).where(PeerRow.party == party).order_by(PeerRow.node_id)
            )
            for row in rows:
                pinned = self._pinned(row)
                if (
                    pinned is not None
                    and agreement in pinned.agreements
                    and pinned.identity.party == party
                ):
                    return pinned
        return None

    def url_of(self, node_id: str) -> str:
        """The base URL to reach `node_id` at (the row's, which `--url` may override)."""
        with self.db.read() as session:
            row = session.get(PeerRow, node_id)
            if row is None:
                raise InputError(f"no peer {node_id!r} is pinned")
            return row.url

    def pinned_signers(self) -> Mapping[str, Sequence[VerifyKey]]:
        """The label signing keys of the pinned nodes, by the party each identity names,
        never for this node's own party (read again only after a database write: opens
        call this on every request)."""
        generation = self.db.generation
        cached = self._signers
        if cached is not None and cached[0] == generation:
            return cached[1]
        trusted: dict[str, list[VerifyKey]] = {}
        with self.db.read() as session:
            for row in session.scalars(select(PeerRow).order_by(PeerRow.node_id)):
                pinned = self._pinned(row)
                if pinned is not None and pinned.identity.party != self.party:
                    trusted.setdefault(pinned.identity.party, []).append(
                        pinned.identity.signing_key
                    )
        self._signers = (generation, trusted)
        return trusted

    def trusted_signers(self, own_key: VerifyKey) -> Mapping[str, Sequence[VerifyKey]]:
        """The keys trusted to sign labels, by party: `pinned_signers`, and this node's
        own key for its own party."""
        return {**self.pinned_signers(), self.party: [own_key]}
