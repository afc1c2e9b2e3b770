"""The pinned peers as the exchange reads them: `cix.node.exchange.peers.Peers` for who a
peer is (`pinned`, `for_party`, `url_of`), plus the label signers each party's pinned
nodes give (`pinned_signers`, `trusted_signers`). Opens need those on every request, on
the event loop when the rest is cached: they are read again only after a database write
and at most once per `_REFRESH` seconds, so a peer pinned or removed by another process
takes effect for opens within that time (messages always read the table)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from cix.federation import PinnedPeer
from cix.keys import VerifyKey
from cix.node.exchange.peers import Peers

_REFRESH = 1.0


class PeerBook:
    """The pinned peers of one node (see the module docstring)."""

    def __init__(self, peers: Peers, party: str) -> None:
        self.peers = peers
        self.db = peers.db
        self.party = party
        self._signers: tuple[int, float, dict[str, list[VerifyKey]]] | None = None

    def pinned(self, node_id: str) -> PinnedPeer | None:
        """The peer pinned as `node_id`, or None."""
        return self.peers.pinned(node_id)

    def for_party(self, party: str, agreement: str) -> PinnedPeer | None:
        """The node of `party` pinned under `agreement`, or None."""
        found = self.peers.for_party(party, agreement)
        if found is None or found.identity.party != party:
            return None
        return found

    def url_of(self, node_id: str) -> str:
        """The base URL to reach `node_id` at (the identity's, or the one pinned)."""
        return self.peers.url_of(node_id)

    def pinned_signers(self, *, fresh: bool = False) -> Mapping[str, Sequence[VerifyKey]]:
        """The label signing keys of the pinned nodes, by the party each identity names,
        never for this node's own party; `fresh` reads them after any database write,
        however recent the last read (for messages)."""
        generation = self.db.generation
        cached = self._signers
        if cached is not None and (
            cached[0] == generation or (not fresh and time.monotonic() - cached[1] < _REFRESH)
        ):
            return cached[2]
        trusted: dict[str, list[VerifyKey]] = {}
        for pinned in self.peers.all_pinned():  # one query: this runs for every message
            if pinned.identity.party != self.party:
                trusted.setdefault(pinned.identity.party, []).append(pinned.identity.signing_key)
        self._signers = (generation, time.monotonic(), trusted)
        return trusted

    def trusted_signers(self, own_key: VerifyKey) -> Mapping[str, Sequence[VerifyKey]]:
        """The keys trusted to sign labels, by party: `pinned_signers`, and this node's
        own key for its own party."""
        return {**self.pinned_signers(fresh=True), self.party: [own_key]}
