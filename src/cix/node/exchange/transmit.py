"""Transmission of a document to another party's node (rule 6), decided and queued in one
audited write.

Who may transmit: a national security authority officer, or the document's custodian
holding the originator role. Releasing information to another nation is an act of the
national authority or of whoever answers for the document, never of any reader; and, as
for every act on a document, the decision function must also find that the person may
access the document themselves (rule 1: nobody passes on what they may not hold).

Then, in order, each refusal audited with its reason and answered with the one opaque
`DocumentRefused`: the decision function's transmit rule (level in the agreement's scope
for the recipient, releasable to it, the third-party rule, the stated purpose; with a
consent reference the release rule instead, and the consent must check out); the node
of that party pinned under the agreement; the data key rewrapped to that node's KEM key
into a new sealed object (the payload is not re-encrypted, the originator's label
signature untouched, no other key access kept). Then one write holds the transmission
row, the outbox item that carries the object, the copy number counted on the document
(rule 7) and, appended just before the commit, the decision and the transmission in the
audit log.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from cix.agreements import Agreement
from cix.errors import InputError
from cix.federation import new_message_id
from cix.node.auditing import AuditRecord, audited_write
from cix.node.errors import DocumentRefused
from cix.node.exchange._peering import PeerBook
from cix.node.exchange.consent_use import transmit_action
from cix.node.exchange.outbox import enqueue
from cix.node.exchange.transmissions import QUEUED, TransmissionInfo, info_of
from cix.node.register import Register, event
from cix.node.roles import Actor, Role
from cix.policy import Action, decide
from cix.store.models import Document, ReceivedCopy, Transmission

TRANSMISSION_KIND = "transmission"
"""The message kind of a document sent to a peer."""
_PARTY = re.compile(r"[A-Z]{3}\Z")
_PURPOSE = re.compile(r"[a-z][a-z0-9-]{0,63}\Z")
_CONSENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")

ConsentCheck = Callable[[Session, Actor, str, str, str | None, str], dict[str, Any]]
"""Checks, inside the transmission's write, that consent `consent_id` permits this act
(actor, document id, to party, purpose, consent id) and marks it used; returns what the
transmission body must carry for the third party (the consent chain); raises
`DocumentRefused` if not."""


def may_transmit(actor: Actor, row: Document) -> bool:
    """Whether `actor`'s roles allow transmitting `row` (see the module docstring)."""
    return actor.has(Role.NSA_OFFICER) or (
        actor.has(Role.ORIGINATOR) and row.custodian_id == actor.id
    )


class Transmitter:
    """Decides and queues transmissions (see the module docstring)."""

    def __init__(
        self,
        register: Register,
        peers: PeerBook,
        *,
        node_id: str,
        overdue_after: timedelta,
        wake: Callable[[], None],
    ) -> None:
        self.reg = register
        self.peers = peers
        self.node_id = node_id
        self._overdue_after = overdue_after
        self._wake = wake
        self.consent_check: ConsentCheck | None = None
        """Set by the consent service; without it every consent reference is refused."""

    def _refuse(
        self, actor: Actor, obj: str, reason: str, now: Any, details: dict[str, Any]
    ) -> DocumentRefused:
        self.reg.audit.append(
            event(actor, "transmit", obj, denied_reason=reason, now=now, details=details)
        )
        return DocumentRefused(reason)

    def transmit(
        self,
        actor: Actor,
        doc_id: str,
        *,
        to_party: str,
        purpose: str | None = None,
        consent_id: str | None = None,
    ) -> TransmissionInfo:
        """Transmit document `doc_id` to `to_party`'s node (see the module docstring)."""
        from cix import envelope

        if not isinstance(to_party, str) or not _PARTY.match(to_party):
            raise InputError("to: a party's ISO alpha-3 code (e.g. CAN) is required")
        if purpose is not None and not _PURPOSE.match(purpose):
            raise InputError("purpose: lower-case words joined by hyphens")
        if consent_id is not None and not _CONSENT.match(consent_id):
            raise InputError("consent: malformed consent id")
        reg = self.reg
        now = reg.clock()
        obj = f"document:{doc_id}"
        details: dict[str, Any] = {"to": to_party, "purpose": purpose}
        if to_party == reg.party:
            raise InputError(f"to: {to_party} is this node's own party")
        with reg.db.read() as session:
            row = reg.live(session, doc_id)
            label = reg.label_of(row)
            copy = session.get(ReceivedCopy, doc_id)
            origin_id = copy.originator_document_id if copy is not None else doc_id
        if not may_transmit(actor, row):
            raise self._refuse(actor, obj, "role-required:custodian|nsa-officer", now, details)
        subject = reg.registry.subject_for(actor.id, now)
        if label.policy not in reg.agreements:
            raise self._refuse(actor, obj, "policy-not-held", now, details)
        # A release to a party outside the label's agreement needs the originator's
        # consent (rule 2): asked as RELEASE, which refuses without one.
        action = (
            Action.RELEASE
            if consent_id is not None
            else transmit_action(label, to_party, party=reg.party, agreements=reg.agreements)
        )
        decision = decide(
            subject,
            label,
            action,
            agreements=reg.policies,
            now=now,
            to=to_party,
            consent=consent_id,
            purpose=purpose,
        )
        decided = event(actor, action.value, obj, decision=decision, now=now, details=details)
        if not decision.permit:
            reg.audit.append(decided)
            raise DocumentRefused(*sorted(decision.codes))
        agreement = self._agreement_with(label.policy, to_party)
        if agreement is None:
            raise self._refuse(actor, obj, "no-agreement-with-party", now, details)
        peer = self.peers.for_party(to_party, agreement.id)
        if peer is None:
            raise self._refuse(actor, obj, "no-peer-for-party", now, details)
        keys = reg.keys()
        assert row.blob_hash is not None  # a live document has its blob
        reasons: list[str] = []
        writer = reg.blobs.writer(limit=None)
        try:
            with reg.blobs.open(row.blob_hash) as src:
                envelope.rewrap(
                    src,
                    writer,  # type: ignore[arg-type]  # a write-only file-like sink
                    private_key=keys.kem,
                    to=[peer.identity.kem_key],
                    trusted_signers=self.peers.trusted_signers(keys.verify_key),
                    drop_others=True,
                    audit_hook=lambda error: reasons.append(error.reason.value),
                )
            ref = writer.commit()
        except envelope.ObjectRefused:
            writer.abort()
            raise self._refuse(actor, obj, reasons[0] if reasons else "refused", now,
                               details) from None  # fmt: skip
        except BaseException:
            writer.abort()
            raise
        policy = reg.agreements[label.policy]
        message_id = new_message_id()
        to_node = peer.identity.node_id
        try:
            with audited_write(reg.db, reg.audit) as (session, group):
                live = reg.live(session, doc_id)
                chain: dict[str, Any] = {}
                if consent_id is not None:
                    if self.consent_check is None:
                        raise self._refuse(actor, obj, "consent-unverified", now, details)
                    chain = self.consent_check(
                        session, actor, doc_id, to_party, purpose, consent_id
                    )
                live.copies_made += 1
                number = live.copies_made
                transmission = Transmission(
                    id=message_id,
                    document_id=doc_id,
                    to_party=to_party,
                    to_node=to_node,
                    agreement=agreement.id,
                    purpose=purpose,
                    consent_id=consent_id,
                    requested_by=actor.id,
                    requested_at=now,
                    state=QUEUED,
                    refusal_code=None,
                    requires_receipt=policy.requires_receipt(
                        label.originator, label.classification
                    ),
                    receipt=None,
                    receipted_at=None,
                )
                session.add(transmission)
                enqueue(
                    session,
                    peer=to_node,
                    kind=TRANSMISSION_KIND,
                    agreement=agreement.id,
                    body={
                        "document": origin_id,
                        "copy": number,
                        "label": dict(label.to_json()),
                        "title": live.title,
                        "media_type": live.media_type,
                        "purpose": purpose,
                        "consent": consent_id,
                        "originator_party": label.originator,
                        "releasing_party": reg.party,
                        "object_sha256": ref.sha256,
                        "object_size": ref.size,
                        **chain,
                    },
                    now=now,
                    blob_hash=ref.sha256,
                    message_id=message_id,
                )
                session.flush()
                sent = AuditRecord(
                    type="document",
                    actor=actor.id,
                    object=obj,
                    action="queue-transmission",
                    decision="permit",
                    time=now,
                    details={
                        **details,
                        "node": to_node,
                        "agreement": agreement.id,
                        "copy": number,
                        "message": message_id,
                        "object": ref.sha256,
                        "requires_receipt": transmission.requires_receipt,
                    },
                )
                group.append([decided, sent])
                info = info_of(transmission, now, self._overdue_after)
        except BaseException:
            reg.blobs.delete(ref.sha256)
            raise
        self._wake()
        return info

    def _agreement_with(self, policy_id: str, to_party: str) -> Agreement | None:
        """The agreement to send under: the label's own when `to_party` is a party of it,
        else (a consented release to a third party) one this node holds with it."""
        own = self.reg.agreements[policy_id]
        if to_party in own.parties:
            return own
        for agreement in self.reg.agreements.values():
            if {to_party, self.reg.party} <= set(agreement.parties):
                return agreement
        return None
