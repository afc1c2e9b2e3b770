"""Three nodes in-process (KOR, CAN, DEU) for the consent workflow tests, and a courier that
carries their queued messages to each other: each message is signed by its sender and
verified by its receiver exactly as between real nodes (`cix.federation.verify_message`),
then handed to the receiver's consent handler in a write transaction.

(The exchange helper's inbox, outbox and simulator replace this courier when they land.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cix.federation import new_message_id, sign_message, verify_message
from cix.federation.message import PinnedPeer
from cix.node.auditing import AuditRecord, MemoryAuditSink, append_many
from cix.node.errors import Unauthenticated
from cix.node.exchange.consent_rows import pinned_peer
from cix.node.exchange.consents import (
    ANSWER_KIND,
    REQUEST_KIND,
    ConsentMessageRefused,
    Reply,
)
from cix.node.register import new_id
from cix.node.roles import SYSTEM, Actor, Role
from cix.node.schemas import OrganisationIn, PersonIn
from cix.node.service import Node, init_node
from cix.store.models import (
    Document,
    OrganisationRow,
    OutboxItem,
    ReceivedCopy,
    Transmission,
)
from tests.node_support import ENVIRON, Clock

URL = "/federation/v1/messages"
AGREEMENTS = {"KOR": ("kor-can",), "CAN": ("kor-can", "can-deu"), "DEU": ("can-deu",)}


def outbox_enqueue(
    session: Session,
    *,
    peer: str,
    kind: str,
    agreement: str,
    body: dict[str, Any],
    now: Any,
    blob_hash: str | None = None,
    message_id: str | None = None,
) -> str:
    """The outbox's contract: a queued row in the caller's transaction."""
    message_id = message_id or new_message_id()
    session.add(
        OutboxItem(
            message_id=message_id,
            peer=peer,
            kind=kind,
            agreement=agreement,
            body=body,
            blob_hash=blob_hash,
            state="queued",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return message_id


@dataclass
class Federation:
    """KOR, CAN and DEU, pinned KOR↔CAN (kor-can) and CAN↔DEU (can-deu)."""

    clock: Clock
    nodes: dict[str, Node]
    audits: dict[str, MemoryAuditSink]
    replies: list[tuple[str, str, Reply]] = field(default_factory=list)

    def __getitem__(self, party: str) -> Node:
        return self.nodes[party]

    def pin(self, at: str, other: str, agreement: str) -> None:
        """`at` pins `other` under `agreement` (its administrator, with `other`'s document)."""
        node, peer = self.nodes[at], self.nodes[other]
        node.peers.add(
            node.registry.actor_for("root"), peer.peers.own_identity_document(), agreement=agreement
        )

    def officer(self, party: str, person: str = "nsa", role: Role = Role.NSA_OFFICER) -> Actor:
        """A person of `party`'s node with `role` (created on first use)."""
        node = self.nodes[party]
        try:
            return node.registry.actor_for(person)
        except Unauthenticated:
            pass
        org = f"{party.lower()}-mnd"
        with node.db.read() as session:
            known = session.get(OrganisationRow, org) is not None
        if not known:
            node.registry.create_organisation(
                SYSTEM, OrganisationIn(id=org, name=org, kind="government", party=party)
            )
        node.registry.create_person(
            SYSTEM,
            PersonIn(
                id=person,
                name=person.title(),
                organisation=org,
                nationalities=[party],
                roles=[role],
            ),
        )
        return node.registry.actor_for(person)

    def node_by_id(self, node_id: str) -> Node:
        """The node whose id is `node_id`."""
        return next(n for n in self.nodes.values() if n.settings.node_id == node_id)

    def deliver(self) -> list[tuple[str, str, Reply]]:
        """Carry every queued consent message to its receiver; returns (kind, to, reply)."""
        done: list[tuple[str, str, Reply]] = []
        for node in self.nodes.values():
            with node.db.write() as session:
                items = session.scalars(
                    select(OutboxItem).where(OutboxItem.state == "queued")
                ).all()
                for item in items:
                    reply = self.carry(node, item)
                    item.state = "delivered" if reply.status < 400 else "refused"
                    item.answer = json.dumps({"status": reply.status, **reply.body})
                    item.delivered_at = self.clock()
                    done.append((item.kind, item.peer, reply))
        self.replies.extend(done)
        return done

    def carry(self, sender: Node, item: OutboxItem) -> Reply:
        """One message, signed by `sender`, verified and handled by its receiver."""
        keys = sender.keys
        assert keys is not None
        receiver = self.node_by_id(item.peer)
        token = sign_message(
            keys.signing,
            sender=sender.settings.node_id,
            audience=receiver.settings.node_id,
            url=URL,
            agreement=item.agreement,
            kind=item.kind,
            body=item.body,
            message_id=item.message_id,
            issued_at=self.clock(),
        )
        return self.receive(receiver, token)

    def receive(self, receiver: Node, token: str) -> Reply:
        """`token` arriving at `receiver`: verified, then handed to its consent handler in a
        write; a refusal is audited with its code and nothing is stored (as the inbox does)."""
        try:
            with receiver.db.write() as session:
                reply = self._handle(receiver, session, token)
                append_many(receiver.audit, reply.events)
                return reply
        except ConsentMessageRefused as refused:
            receiver.audit.append(
                AuditRecord(
                    type="federation",
                    actor="peer",
                    object="message",
                    action="receive",
                    decision="deny",
                    time=self.clock(),
                    reasons=(refused.code,),
                )
            )
            return Reply(refused.status, {"refused": refused.code})

    def _handle(self, receiver: Node, session: Session, token: str) -> Reply:
        def peer(node_id: str) -> PinnedPeer | None:
            found = pinned_peer(session, node_id)
            return found[0] if found else None

        message = verify_message(
            token,
            peer=peer,
            audience=receiver.settings.node_id,
            url=URL,
            held_agreements=receiver.settings.agreements,
            now=self.clock(),
            max_skew=timedelta(seconds=300),
        )
        handler = {
            REQUEST_KIND: receiver.consents.on_request,
            ANSWER_KIND: receiver.consents.on_answer,
        }[message.kind]
        return handler(session, message, None)


def make_federation(root: Path, clock: Clock) -> Iterator[Federation]:
    """Three initialised nodes, pinned, with their consent outboxes on `outbox_enqueue`."""
    nodes: dict[str, Node] = {}
    audits: dict[str, MemoryAuditSink] = {}
    try:
        for party, agreements in AGREEMENTS.items():
            audit = audits[party] = MemoryAuditSink()
            directory = root / party.lower()
            init_node(
                directory,
                party=party,
                agreements=agreements,
                database_url=f"sqlite:///{root / party.lower()}.db",
                admin="root",
                environ=ENVIRON,
                audit=audit,
                clock=clock,
            )
            node = nodes[party] = Node.open(directory, environ=ENVIRON, audit=audit, clock=clock)
            node.consents.enqueue = outbox_enqueue
        fed = Federation(clock, nodes, audits)
        fed.pin("KOR", "CAN", "kor-can")
        fed.pin("CAN", "KOR", "kor-can")
        fed.pin("CAN", "DEU", "can-deu")
        fed.pin("DEU", "CAN", "can-deu")
        for party in ("KOR", "CAN"):  # before any test holds a write transaction
            fed.officer(party)
        yield fed
    finally:
        for node in nodes.values():
            node.close()


def document_row(doc_id: str, *, originator: str, now: Any, title: str) -> Document:
    """A register row of a kor-can document (the sealed bytes are not needed here)."""
    return Document(
        id=doc_id,
        policy="kor-can",
        originator=originator,
        classification="II",
        rank=3,
        releasability_mask=0,
        programme_mask=0,
        caveat_mask=0,
        label_json={},
        title=title,
        purpose="defence-procurement",
        media_type="application/pdf",
        plaintext_size=1,
        sealed_size=1,
        blob_hash=None,
        created_by="root",
        created_at=now,
        custodian_id="root",
        copies_made=0,
        destroyed_at=None,
    )


def seed_copy(fed: Federation) -> tuple[str, str]:
    """KOR's document sent to CAN: KOR's register row and its transmission, CAN's copy.
    Returns (KOR's document id, CAN's document id)."""
    now = fed.clock()
    kor_id, can_id = new_id(now), new_id(now)
    with fed["KOR"].db.write() as session:
        session.add(document_row(kor_id, originator="KOR", now=now, title="KSS-III hull"))
        session.flush()
        session.add(
            Transmission(
                id=new_id(now),
                document_id=kor_id,
                to_party="CAN",
                to_node="cix-can",
                agreement="kor-can",
                purpose="defence-procurement",
                consent_id=None,
                requested_by="root",
                requested_at=now,
                state="receipted",
                refusal_code=None,
                requires_receipt=True,
                receipt=None,
                receipted_at=now,
            )
        )
    with fed["CAN"].db.write() as session:
        session.add(document_row(can_id, originator="KOR", now=now, title="KSS-III hull"))
        session.flush()
        session.add(
            ReceivedCopy(
                document_id=can_id,
                message_id=new_message_id(),
                originator_party="KOR",
                originator_document_id=kor_id,
                copy_number=1,
                received_from="cix-kor",
                releasing_party="KOR",
                agreement="kor-can",
                purpose="defence-procurement",
                consent=None,
                received_at=now,
            )
        )
    return kor_id, can_id
