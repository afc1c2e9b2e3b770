"""`Exchange`: the federation exchange of one node, wired together (`Node.exchange`).

It holds the `inbox` (handlers are registered on it: "transmission" here, consents and
the rest by their own modules), the `delivery` of the outbox (answer hooks registered on
it; its `transport` is set by whoever serves the node: `cix.serving` gives it the
courier), and the transmission services (`transmit`, `transmissions`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from cix.keys import SigningKey
from cix.node.exchange._peering import PeerBook
from cix.node.exchange.delivery import Delivery
from cix.node.exchange.inbox import Inbox
from cix.node.exchange.peers import Peers
from cix.node.exchange.receive import Receiver
from cix.node.exchange.transmissions import TransmissionInfo, Transmissions
from cix.node.exchange.transmit import TRANSMISSION_KIND, Transmitter
from cix.node.exchange.transport import Transport
from cix.node.labelbits import LabelBits
from cix.node.refusals import Refusals
from cix.node.register import Register
from cix.node.roles import Actor
from cix.settings import Settings


class Exchange:
    """The node's inbox, delivery and transmissions (see the module docstring)."""

    def __init__(
        self,
        register: Register,
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        bits: LabelBits,
        peers: Peers,
        transport: Transport | None = None,
    ) -> None:
        self.register = register
        self.settings = settings
        self.node_id = settings.node_id
        self.peers = PeerBook(peers, settings.party)
        self.inbox = Inbox(
            register.db,
            register.audit,
            node_id=self.node_id,
            signer=self._signer,
            peer=self.peers.pinned,
            agreements=list(settings.agreements),
            clock=clock,
            max_skew=timedelta(seconds=settings.federation_max_skew_seconds),
        )
        self.delivery = Delivery(
            register.db,
            register.audit,
            node_id=self.node_id,
            signer=self._signer,
            peer=self.peers.pinned,
            url_of=self.peers.url_of,
            blobs=register.blobs,
            clock=clock,
            retry=timedelta(seconds=settings.federation_retry_seconds),
            retry_max=timedelta(seconds=settings.federation_retry_max_seconds),
            transport=transport,
            lease=timedelta(seconds=settings.federation_lease_seconds),
            concurrency=settings.federation_delivery_concurrency,
        )
        overdue_after = timedelta(seconds=settings.receipt_overdue_seconds)
        self.transmitter = Transmitter(
            register,
            self.peers,
            node_id=self.node_id,
            overdue_after=overdue_after,
            wake=self.delivery.wake,
        )
        self.receiver = Receiver(register, self.peers, bits, node_id=self.node_id)
        self.inbox.register(TRANSMISSION_KIND, self.receiver.handle, prepare=self.receiver.prepare)
        self.delivery.on_answer(
            TRANSMISSION_KIND, self.receiver.on_answer, preload=self.receiver.preload_answers
        )
        self._transmissions = Transmissions(
            register.db,
            Refusals(register.audit, clock),
            clock=clock,
            overdue_after=overdue_after,
        )

    def transmit(
        self,
        actor: Actor,
        doc_id: str,
        *,
        to_party: str,
        purpose: str | None = None,
        consent_id: str | None = None,
    ) -> TransmissionInfo:
        """Transmit a document to another party's node (`cix.node.exchange.transmit`)."""
        return self.transmitter.transmit(
            actor, doc_id, to_party=to_party, purpose=purpose, consent_id=consent_id
        )

    def transmission(self, actor: Actor, transmission_id: str) -> TransmissionInfo:
        """One of this node's transmissions (`cix.node.exchange.transmissions`)."""
        return self._transmissions.show(actor, transmission_id)

    def transmissions(self, actor: Actor, state: str | None = None) -> list[TransmissionInfo]:
        """This node's transmissions, optionally in one state
        (`cix.node.exchange.transmissions`)."""
        return self._transmissions.list(actor, state)

    def _signer(self) -> SigningKey:
        signing: SigningKey = self.register.keys().signing
        return signing
