"""Witnessing plugged into the node: the witness on the inbox (kind "checkpoint"), the
checkpoint rounds cued by the delivery worker and the inbox. Kept apart so that the
exchange, the witness and the incidents import none of each other.

The witness key is the node's audit-log key (`keys/audit.key`): the one its peers pinned
in its identity (`audit_key`), so a peer checks this node's cosignatures with what it
already pinned. A tlog-cosignature/v1 line (key id with algorithm byte 0x04, a message
beginning `cosignature/v1`) never passes for a checkpoint signature of the same key (0x01),
nor the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cix.federation import Message
from cix.node.exchange.checkpoints import CHECKPOINT_KIND, CheckpointWitness
from cix.node.exchange.cosigning import Cosigning
from cix.node.exchange.exchange import Exchange
from cix.node.exchange.witnessing import Witnessing, open_witness
from cix.node.procedures.incidents import Incidents

if TYPE_CHECKING:
    from cix.audit import Log
    from cix.node.auditing import AuditSink
    from cix.node.keyring import NodeKeys
    from cix.settings import Settings


def wire_witnessing(
    exchange: Exchange,
    incidents: Incidents,
    settings: Settings,
    *,
    keys: NodeKeys | None,
    audit: AuditSink,
    clock: Callable[[], datetime],
) -> tuple[Witnessing | None, Cosigning | None]:
    """The node's `Witnessing` (None with its keys locked: it cosigns nothing) and its
    `Cosigning` (None also when its audit sink is not a log: no checkpoint to send)."""
    if keys is None:
        return None, None
    log: Log | None = getattr(audit, "log", None)
    db = exchange.register.db
    witnessing = Witnessing(
        db, log, open_witness(settings.data_dir, keys.audit_signer), audit, clock
    )
    witness = CheckpointWitness(
        witnessing,
        incidents,
        peer=exchange.peers.pinned,
        node_id=settings.node_id,
        clock=clock,
    )
    exchange.inbox.register(CHECKPOINT_KIND, witness.handle)
    if log is None:
        return witnessing, None
    peers = exchange.peers.peers
    cosigning = Cosigning(
        db,
        audit,
        witnessing,
        incidents,
        node_id=settings.node_id,
        signer=lambda: keys.signing,
        log_signer=keys.audit_signer,
        peer=exchange.peers.pinned,
        peers=lambda: [info.node_id for info in peers.list()],
        url_of=exchange.peers.url_of,
        agreements=settings.agreements,
        clock=clock,
        max_skew=timedelta(seconds=settings.federation_max_skew_seconds),
        interval=float(settings.witness_interval_seconds),
        retry=timedelta(seconds=settings.federation_retry_seconds),
        retry_max=timedelta(seconds=settings.federation_retry_max_seconds),
    )
    exchange.delivery.on_delivered = cosigning.wake

    def received(message: Message) -> None:
        if message.kind != CHECKPOINT_KIND:  # a round answered is no cue for another
            cosigning.wake(message.sender)

    exchange.inbox.on_received = received
    return witnessing, cosigning
