"""The consent at the moment of the act: what transmit and receive call (rule 2).

Transmit (at the releasing node, CAN) asks `permit_for` for a stored consent that permits
exactly this release, re-verified under the originator's pinned key; decides with
`transmit_action`'s action and the consent's id; on a permit marks it `used` (`use`, in the
same transaction: one consent permits one act) and adds `chain_for` to the transmission
body under `CHAIN_FIELD`. Receive (at the third party, DEU) calls `accept_chain` before it
registers the copy, and records the evidence on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cix.agreements import Agreement
from cix.federation import Message, PinnedPeer
from cix.federation.chain import (
    CHAIN_FIELD,
    ChainEvidence,
    chain_for_transmission,
    check_third_party_chain,
)
from cix.federation.consent import ConsentAct, ConsentRefusal, ConsentRefused, check_consent
from cix.labels import Label
from cix.node.auditing import AuditRecord, AuditSink
from cix.node.errors import DocumentRefused, KeysLocked
from cix.node.exchange.consent_rows import consent_event, pinned_peer
from cix.node.roles import Actor
from cix.policy import Action
from cix.store.models import Consent, ReceivedCopy


@dataclass(frozen=True)
class ConsentEvidence:
    """A stored consent, verified now under the originator's pinned key, that permits
    exactly one release: what transmit decides with, marks used and forwards."""

    consent_id: str
    document_id: str
    originator_document_id: str
    originator_party: str
    originator_node: str
    to_party: str
    purpose: str | None
    statement: str
    conditions: str | None
    expires_at: datetime


def transmit_action(
    label: Label, to_party: str, *, party: str, agreements: dict[str, Agreement]
) -> Action:
    """The action the decision function is asked for when sending `label` to `to_party`:
    `RELEASE` (which needs the originator's consent) when the information is another party's
    and `to_party` is not a party of the agreement it was received under (rule 2, a third
    party), `TRANSMIT` otherwise. A label under a policy not held here is `TRANSMIT` (the
    decision refuses it)."""
    agreement = agreements.get(label.policy)
    if agreement is None or label.originator == party or to_party in agreement.parties:
        return Action.TRANSMIT
    return Action.RELEASE


class ConsentUse:
    """The gates transmit and receive call (see the module docstring); a part of
    `Consents`, which gives it the node's party, id and keys."""

    party: str
    node_id: str
    _keys: Any
    audit: AuditSink
    clock: Callable[[], datetime]

    def transmit_check(
        self,
        session: Session,
        actor: Actor,
        document_id: str,
        to_party: str,
        purpose: str | None,
        consent_id: str,
    ) -> dict[str, Any]:
        """Transmit's one call for a release under consent `consent_id`, inside its write:
        the consent is checked (`permit_for`), marked used (`use`, audited) and the chain to
        merge into the transmission body is returned (`{CHAIN_FIELD: ...}`). Without such a
        consent the refusal `third-party-consent-missing` is audited and `DocumentRefused`
        raised."""
        now = self.clock()
        evidence = self.permit_for(
            session, document_id, to_party, purpose, now, consent_id=consent_id
        )
        if evidence is None:
            self.audit.append(
                AuditRecord(
                    type="consent",
                    actor=actor.id,
                    object=f"consent:{consent_id}",
                    action="use",
                    decision="deny",
                    time=now,
                    reasons=("third-party-consent-missing",),
                    details={"document": document_id, "to_party": to_party, "purpose": purpose},
                )
            )
            raise DocumentRefused("third-party-consent-missing")
        chain = self.chain_for(session, evidence)
        self.audit.append(self.use(session, evidence, actor, now))
        return {CHAIN_FIELD: chain}

    def receive_check(self, session: Session, message: Message, label: Label) -> ChainEvidence:
        """Receive's one call for a copy whose originator is not its sender, inside its
        write: the chain in the message body (`CHAIN_FIELD`) checked for the document and
        purpose the body names (`accept_chain`), and the label's originator the one the
        chain vouches for. Returns the evidence to record on the copy (`to_json()` in
        `consent`, `consent_id`) and the key the label must be signed by
        (`originator.signing_key`); raises `ConsentRefused` with the code to answer."""
        found = pinned_peer(session, message.sender)
        if found is None:
            raise ConsentRefused(ConsentRefusal.VOUCHER_INVALID, "the sender is not pinned")
        body = message.body
        document_id, purpose = body.get("document"), body.get("purpose")
        if not isinstance(document_id, str) or not (purpose is None or isinstance(purpose, str)):
            raise ConsentRefused(ConsentRefusal.CHAIN_MALFORMED, "document or purpose")
        evidence = self.accept_chain(
            session,
            body.get(CHAIN_FIELD),
            releasing_peer=found[0],
            document_id=document_id,
            purpose=purpose,
            now=self.clock(),
        )
        evidence.originator_key(label.originator)
        named = body.get("consent")
        if named is not None and named != evidence.consent_id:
            raise ConsentRefused(ConsentRefusal.CHAIN_MALFORMED, "the body names another consent")
        return evidence

    # -- transmit and receive (called by cix.node.exchange.transmit / receive) --------

    def permit_for(
        self,
        session: Session,
        document_id: str,
        to_party: str,
        purpose: str | None,
        now: datetime,
        *,
        consent_id: str | None = None,
    ) -> ConsentEvidence | None:
        """A stored consent permitting exactly the release of this node's copy
        `document_id` to `to_party` for `purpose` at `now`, re-verified under the
        originator's pinned key (with `consent_id`: that one only); None if there is none.
        It is not yet used: `use` it in the transaction that acts on it."""
        copy = session.get(ReceivedCopy, document_id)
        if copy is None:
            return None
        query = select(Consent).where(
            Consent.side == "requester",
            Consent.document_id == copy.originator_document_id,
            Consent.act == ConsentAct.RELEASE.value,
            Consent.to_party == to_party,
            Consent.state == "approved",
        )
        if consent_id is not None:
            query = query.where(Consent.id == consent_id)
        for row in session.scalars(query.order_by(Consent.id)):
            found = pinned_peer(session, row.originator_node)
            if found is None or row.answer is None:
                continue
            try:
                statement = check_consent(
                    row.answer,
                    originator_key=found[0].identity.signing_key,
                    document_id=copy.originator_document_id,
                    act=ConsentAct.RELEASE,
                    to_party=to_party,
                    purpose=purpose,
                    now=now,
                    requester_node=self.node_id,
                )
            except ConsentRefused:
                continue
            # check_consent refuses an approval without an expiry; the row has its node
            assert statement.expires_at is not None
            assert row.originator_node is not None
            return ConsentEvidence(
                consent_id=row.id,
                document_id=document_id,
                originator_document_id=copy.originator_document_id,
                originator_party=row.originator_party,
                originator_node=row.originator_node,
                to_party=to_party,
                purpose=purpose,
                statement=row.answer,
                conditions=statement.conditions,
                expires_at=statement.expires_at,
            )
        return None

    def use(
        self, session: Session, evidence: ConsentEvidence, actor: Actor, now: datetime
    ) -> AuditRecord:
        """Mark the consent used, in the caller's transaction (the act it permits); the
        audit event to record in the caller's group. Raises `ConsentRefused`
        (`consent-already-used`) if another act used it first."""
        done = session.execute(
            update(Consent)
            .where(
                Consent.id == evidence.consent_id,
                Consent.side == "requester",
                Consent.state == "approved",
            )
            .values(state="used", used_at=now)
        )
        if getattr(done, "rowcount", 0) != 1:
            raise ConsentRefused(ConsentRefusal.ALREADY_USED, f"{evidence.consent_id}")
        return consent_event(
            actor.id,
            evidence.consent_id,
            "use",
            now,
            details={
                "document": evidence.document_id,
                "to_party": evidence.to_party,
                "purpose": evidence.purpose,
                "originator": evidence.originator_party,
            },
        )

    def chain_for(self, session: Session, evidence: ConsentEvidence) -> dict[str, Any]:
        """The chain to put under `CHAIN_FIELD` ("consent_chain") of the transmission body:
        the originator's statement and its identity as pinned here, vouched for by this
        node's signing key."""
        if self._keys is None:
            raise KeysLocked("the node's keys are locked: open it with the passphrase")
        found = pinned_peer(session, evidence.originator_node)
        if found is None:
            raise ConsentRefused(ConsentRefusal.MISSING, "the originator is no longer pinned")
        return chain_for_transmission(
            consent=evidence.statement,
            originator_identity=found[1],
            releasing_node=self.node_id,
            signer=self._keys.signing,
        )

    def accept_chain(
        self,
        session: Session,
        chain: Any,
        *,
        releasing_peer: PinnedPeer,
        document_id: str,
        purpose: str | None,
        now: datetime,
    ) -> ChainEvidence:
        """At a third party: verify the chain that came with a copy of another party's
        document `document_id` (the originator's id) from `releasing_peer`, released to this
        node's party, and that no copy was registered under its consent before; raises
        `ConsentRefused`. Record `evidence.to_json()` and `evidence.consent_id` on the
        ReceivedCopy (`consent`, `consent_id`: unique) in the same transaction."""
        evidence = check_third_party_chain(
            chain,
            releasing_peer=releasing_peer,
            document_id=document_id,
            to_party=self.party,
            purpose=purpose,
            now=now,
        )
        taken = session.scalar(
            select(ReceivedCopy.document_id).where(ReceivedCopy.consent_id == evidence.consent_id)
        )
        if taken is not None:
            raise ConsentRefused(ConsentRefusal.ALREADY_USED, f"copy {taken} holds it")
        return evidence
