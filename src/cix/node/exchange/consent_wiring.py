"""The consent workflow plugged into the exchange: its two message kinds on the inbox, its
gates on transmissions and on reception. Kept apart so that neither service imports the
other.

Reception of a third party's copy (DEU receiving KOR's information from CAN) goes through
`ConsentUse.receive_check` in the write that registers it: the chain of KOR's vouched
identity and signed consent, and one copy per consent; a refusal is answered and audited
with the chain's code (`consent-chain-missing`, `consent-for-another-party`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cix.federation import Message
from cix.federation.chain import ChainEvidence
from cix.federation.consent import ConsentRefused
from cix.labels import Label
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


def _chain_check(consents: Consents) -> Callable[[Session, Message, Label], ChainEvidence]:
    def check(session: Session, message: Message, label: Label) -> ChainEvidence:
        try:
            return consents.receive_check(session, message, label)
        except ConsentRefused as exc:
            raise ContentRefused(exc.reason.value, exc.detail[:300], status=403) from None

    return check


def wire_consents(exchange: Exchange, consents: Consents) -> None:
    """Route consent messages to `consents`, let it queue its own, make transmissions that
    name a consent go through its check (the consent used in the same write), and copies
    released by a third party through its chain check (recorded on the copy)."""
    consents.enqueue = enqueue
    exchange.inbox.register(REQUEST_KIND, _handler(consents.on_request))
    exchange.inbox.register(ANSWER_KIND, _handler(consents.on_answer))
    exchange.transmitter.consent_check = consents.transmit_check
    exchange.receiver.chain_check = _chain_check(consents)
