"""The pinned peers as the exchange reads them: `cix.node.exchange.peers.Peers` for who a
peer is (`pinned`, `for_party`, `url_of`), plus the label signers each party's pinned
nodes give (`pinned_signers`, `trusted_signers`), which opens need on every request and
are therefore read again only after a database write."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cix.federation import PinnedPeer
from cix.keys import VerifyKey
from cix.node.exchange.peers import Peers


class PeerBook:
    """The pinned peers of one node (see the module docstring)."""

    def __init__(self, peers: Peers, party: str) -> None:
        self.peers = peers
        self.db = peers.db
        self.party = party
        self._signers: tuple[int, dict[str, list[VerifyKey]]] | None = None

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

    def pinned_signers(self) -> Mapping[str, Sequence[VerifyKey]]:
        """The label signing keys of the pinned nodes, by the party each identity names,
        never for this node's own party."""
        generation = self.db.generation
        cached = self._signers
        if cached is not None and cached[0] == generation:
            return cached[1]
        trusted: dict[str, list[VerifyKey]] = {}
        for info in self.peers.list():
            pinned = self.peers.pinned(info.node_id)
            if pinned is not None and pinned.identity.party != self.party:
                trusted.setdefault(pinned.identity.party, []).append(pinned.identity.signing_key)
        self._signers = (generation, trusted)
        return trusted

    def trusted_signers(self, own_key: VerifyKey) -> Mapping[str, Sequence[VerifyKey]]:
        """The keys trusted to sign labels, by party: `pinned_signers`, and this node's
        own key for its own party."""
        return {**self.pinned_signers(), self.party: [own_key]}
