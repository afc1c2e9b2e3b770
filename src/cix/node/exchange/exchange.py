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
from cix.node.exchange.transport import Transport
from cix.node.register import Register
from cix.settings import Settings


class Exchange:
    """The node's inbox, delivery and transmissions (see the module docstring)."""

    def __init__(
        self,
        register: Register,
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        transport: Transport | None = None,
    ) -> None:
        self.register = register
        self.settings = settings
        self.node_id = settings.node_id
        self.peers = PeerBook(register.db)
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
        )

    def _signer(self) -> SigningKey:
        signing: SigningKey = self.register.keys().signing
        return signing
