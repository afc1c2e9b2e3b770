"""What the two sides of a classification change share (`cix.node.exchange.reclassify`
at the originator, `cix.node.exchange.remark` at the holders of copies): the notice's
kind, which transmissions hold a copy, writing a label into a document row, queueing the
notice to every holder, and the label signers this node trusts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cix.agreements import Agreement, bundled_registry
from cix.keys import VerifyKey
from cix.labels import Label
from cix.node.exchange.exchange import Exchange
from cix.node.exchange.outbox import enqueue
from cix.node.exchange.transmissions import RECEIPTED, SENT
from cix.node.labelbits import CAVEAT, PARTY, PROGRAMME, LabelBits
from cix.node.register import Register
from cix.store.blobs import BlobRef
from cix.store.models import Document, Transmission

CLASSIFICATION_CHANGE = "classification-change"
"""The message kind of a classification change notice."""
#: The transmissions whose receivers hold a copy to re-mark.
HOLDING = (SENT, RECEIPTED)
#: The longest reason a change carries.
MAX_REASON = 2000


def agreement_of(policy: str) -> Agreement:
    """The agreement (or national policy) `policy` names, from the bundled registry: a
    third party's copy is under an agreement this node does not hold itself."""
    agreement = bundled_registry().get(policy)
    assert isinstance(agreement, Agreement)
    return agreement


class LabelChanges:
    """The collaborators both sides use, and what they share (see the module docstring)."""

    def __init__(self, register: Register, exchange: Exchange, *, bits: LabelBits) -> None:
        self.reg = register
        self.exchange = exchange
        self.bits = bits

    def trusted(self) -> dict[str, list[VerifyKey]]:
        """The label signers this node trusts, by party: its pinned peers' and its own."""
        keys = self.reg.keys()
        found = self.exchange.peers.trusted_signers(keys.verify_key)
        return {party: list(k) for party, k in found.items()}

    def set_label(self, session: Session, row: Document, label: Label, ref: BlobRef) -> None:
        """Write `label` into the row's label columns (as an upload writes them) and point
        the row at the relabelled object."""
        agreement = agreement_of(label.policy)
        row.policy = label.policy
        row.originator = label.originator
        row.classification = label.classification
        row.rank = agreement.rank(label.originator, label.classification)
        row.releasability_mask = self.bits.allocate(session, PARTY, label.releasable_to)
        row.programme_mask = self.bits.allocate(session, PROGRAMME, label.programmes)
        row.caveat_mask = self.bits.allocate(session, CAVEAT, label.caveats)
        row.label_json = dict(label.to_json())
        row.purpose = label.purpose
        row.blob_hash = ref.sha256
        row.sealed_size = ref.size

    def queue_notices(
        self, session: Session, document_id: str, body: dict[str, Any], now: datetime
    ) -> list[str]:
        """Queue the notice for each node holding a copy of local document `document_id`
        (its transmissions sent or receipted; one notice per node and agreement)."""
        rows = session.scalars(
            select(Transmission)
            .where(Transmission.document_id == document_id, Transmission.state.in_(HOLDING))
            .order_by(Transmission.requested_at)
        )
        seen: set[tuple[str, str]] = set()
        for t in rows:
            if (t.to_node, t.agreement) in seen:
                continue
            seen.add((t.to_node, t.agreement))
            enqueue(
                session,
                peer=t.to_node,
                kind=CLASSIFICATION_CHANGE,
                agreement=t.agreement,
                body=body,
                now=now,
            )
        return sorted(node for node, _ in seen)

    # -- at the originator -------------------------------------------------------------
