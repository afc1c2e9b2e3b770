"""The visits workflow plugged into the exchange: its two message kinds on the inbox, its
messages queued through the outbox (so delivery, retries and receipts are the federation's)."""

from __future__ import annotations

from cix.node.exchange.consent_wiring import _handler
from cix.node.exchange.exchange import Exchange
from cix.node.exchange.outbox import enqueue
from cix.node.exchange.visits import ANSWER_KIND, REQUEST_KIND, Visits


def wire_visits(exchange: Exchange, visits: Visits) -> None:
    """Route "visit-request" and "visit-answer" messages to `visits` and let it queue its
    own through the outbox."""
    visits.enqueue = enqueue
    exchange.inbox.register(REQUEST_KIND, _handler(visits.on_request))
    exchange.inbox.register(ANSWER_KIND, _handler(visits.on_answer))
