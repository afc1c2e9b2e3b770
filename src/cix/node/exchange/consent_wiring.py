"""The consent workflow plugged into the exchange: its two message kinds on the inbox, its
gate on transmissions. Kept apart so that neither service imports the other.

Reception of a third party's copy (DEU receiving KOR's information from CAN) is not wired:
the receiver's `chain_check` stays unset, so such a copy is refused
(`third-party-chain-unverified`) until a node can decide on a label under an agreement it
does not hold (docs/federation.md, "Not yet").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cix.federation import Message
from cix.node.exchange.consents import ANSWER_KIND, REQUEST_KIND, ConsentMessageRefused, Consents
from cix.node.exchange.exchange import Exchange
from cix.node.exchange.inbox import Answer, ContentRefused, Handler
from cix.node.exchange.outbox import enqueue


def _handler(
    handle: Callable[[Session, Message, Path | None], Any],
) -> Handler:
    def run(session: Session, message: Message, body: Path | None) -> Answer:
        try:
            reply = handle(session, message, body)
        except ConsentMessageRefused as exc:
            raise ContentRefused(exc.code, exc.detail, status=exc.status) from None
        return Answer(reply.status, reply.body, tuple(reply.events))

    return run


def wire_consents(exchange: Exchange, consents: Consents) -> None:
    """Route consent messages to `consents`, let it queue its own, and make transmissions
    that name a consent go through its check (the consent used in the same write)."""
    consents.enqueue = enqueue
    exchange.inbox.register(REQUEST_KIND, _handler(consents.on_request))
    exchange.inbox.register(ANSWER_KIND, _handler(consents.on_answer))
    exchange.transmitter.consent_check = consents.transmit_check
