"""Three real nodes in-process (KOR, CAN, DEU), paired KOR↔CAN under `kor-can` and CAN↔DEU
under `can-deu`, whose messages travel through each node's real outbox, delivery and inbox
(`Loopback`: one node's transport calls the other's inbox). KOR originates a 군사Ⅱ급비밀
CPSP document; `send_to_can` sends it through the real transmit and receive; `release_to_deu`
is CAN's consented release onward: CAN asks KOR's consent, KOR's NSA officer approves, CAN
transmits with it, DEU checks the chain and registers the copy."""

from __future__ import annotations

import io
import os
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from cix.agreements import bundled, bundled_registry
from cix.labels import Label, make_label
from cix.node.auditing import AuditRecord, MemoryAuditSink
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import (
    MembershipIn,
    OrganisationIn,
    PersonIn,
    ProgrammeIn,
    RegistryClearance,
)
from cix.node.service import Node, init_node
from cix.store.models import ReceivedCopy, Transmission
from tests.federation.simulator import node_identity, pin
from tests.node_support import ENVIRON, T0, Clock

KOR_CAN = bundled("kor-can")
CAN_DEU = bundled("can-deu")
REGISTRY = bundled_registry()
DATA = os.urandom(5000)
PURPOSE = "defence-procurement"


def korean(level: str) -> Label:
    """KOR's CPSP label at `level`, releasable to KOR and CAN."""
    return make_label(
        KOR_CAN,
        originator="KOR",
        classification=level,
        releasable_to={"KOR", "CAN"},
        programmes={"CPSP"},
        created=T0,
        registry=REGISTRY,
    )


SECRET = korean("II")
LOWER = korean("III")


@dataclass
class Loopback:
    """A transport that hands each message to the addressed node's inbox, in-process; it
    keeps what went by (path, token, the answer's status and token)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    sent: list[tuple[str, str, int, str]] = field(default_factory=list)

    def send(self, url: str, path: str, token: str, body: Path | None) -> tuple[int, bytes]:
        reply = self.nodes[url].exchange.inbox.receive(token, url=path, body=body)
        answer = reply.token or reply.detail
        self.sent.append((path, token, reply.status, answer))
        return reply.status, answer.encode()


def url_of(node: Node) -> str:
    """The base URL the loopback knows `node` by."""
    return f"http://{node.settings.party.lower()}.test"


def _person(
    node: Node, person: str, org: str, level: str, roles: list[Role], *, programme: bool = True
) -> None:
    party = node.settings.party
    node.registry.create_person(
        SYSTEM,
        PersonIn(
            id=person,
            name=person.title(),
            organisation=org,
            nationalities=[party],
            clearance=RegistryClearance(level=level, party=party, expires=T0 + timedelta(days=365)),
            briefed_at=T0 - timedelta(days=1),
            briefed_until=T0 + timedelta(days=365),
            roles=roles,
        ),
    )
    if programme:
        node.registry.grant_membership(
            SYSTEM,
            MembershipIn(
                person=person,
                programme="CPSP",
                valid_until=T0 + timedelta(days=365),
                justification="submarine programme",
            ),
        )


def seed(node: Node, level: str) -> None:
    """An NSA officer `nsa` cleared at `level`, briefed, a CPSP member; a reader `reader`;
    and a cleared contractor's engineer `engineer` (facility cleared at `level`), a CPSP
    member, and `outsider`, cleared but not a member."""
    party = node.settings.party
    reg = node.registry
    reg.create_organisation(
        SYSTEM, OrganisationIn(id="gov", name="Ministry", kind="government", party=party)
    )
    reg.create_organisation(
        SYSTEM,
        OrganisationIn(
            id="yard",
            name="Shipyard",
            kind="contractor",
            party=party,
            facility_clearance=RegistryClearance(
                level=level, party=party, expires=T0 + timedelta(days=365)
            ),
        ),
    )
    reg.create_programme(SYSTEM, ProgrammeIn(id="CPSP", title="Submarines", party="CAN"))
    _person(node, "nsa", "gov", level, [Role.NSA_OFFICER, Role.ORIGINATOR])
    _person(node, "reader", "gov", level, [Role.READER])
    _person(node, "engineer", "yard", level, [Role.READER])
    _person(node, "outsider", "yard", level, [Role.READER], programme=False)


@dataclass
class World:
    """KOR, CAN and DEU, paired (KOR↔CAN under kor-can, CAN↔DEU under can-deu)."""

    kor: Node
    can: Node
    deu: Node
    audits: dict[str, MemoryAuditSink]
    wire: Loopback
    clock: Clock

    @property
    def nodes(self) -> tuple[Node, Node, Node]:
        return self.kor, self.can, self.deu

    def deliver(self) -> None:
        """Run every node's delivery until nothing is due."""
        for _ in range(10):
            if not sum(n.exchange.delivery.run_once() for n in self.nodes):
                return
        raise AssertionError("delivery did not settle")

    def events(self, party: str, action: str) -> list[AuditRecord]:
        return [e for e in self.audits[party].events if e.action == action]


def open_node(
    tmp: Path,
    party: str,
    agreements: tuple[str, ...],
    clock: Clock,
    database_url: str | None = None,
) -> Node:
    """A fresh node of `party` in `tmp` (its database SQLite, or `database_url`), auditing
    into memory."""
    audit = MemoryAuditSink()
    init_node(
        tmp / party,
        party=party,
        agreements=agreements,
        admin="root",
        environ=ENVIRON,
        audit=audit,
        clock=clock,
        database_url=database_url,
    )
    return Node.open(tmp / party, environ=ENVIRON, audit=audit, clock=clock)


def pair(a: Node, b: Node, agreement: str) -> None:
    """Each of `a` and `b` pins the other under `agreement`."""
    for one, other in ((a, b), (b, a)):
        assert other.keys is not None
        pin(one, node_identity(other, url=url_of(other)), other.keys.signing, [agreement])


def make_world(tmp_path: Path, *, deu_database: str | None = None) -> Generator[World]:
    """The three nodes, paired and seeded (the generator of a fixture); DEU's database is
    `deu_database` when given."""
    clock = Clock(T0)
    kor = open_node(tmp_path, "KOR", ("kor-can",), clock)
    can = open_node(tmp_path, "CAN", ("kor-can", "can-deu"), clock)
    deu = open_node(tmp_path, "DEU", ("can-deu",), clock, deu_database)
    wire = Loopback()
    for node in (kor, can, deu):
        wire.nodes[url_of(node)] = node
        node.exchange.delivery.transport = wire
    pair(kor, can, "kor-can")
    pair(can, deu, "can-deu")
    seed(kor, "II")
    seed(can, "S")
    seed(deu, "GEH")
    audits = {n.settings.party: n.audit for n in (kor, can, deu)}
    assert all(isinstance(a, MemoryAuditSink) for a in audits.values())
    try:
        yield World(kor, can, deu, audits, wire, clock)  # type: ignore[arg-type]
    finally:
        for node in (kor, can, deu):
            node.close()


def upload(world: World, label: Label = SECRET) -> str:
    """KOR's NSA officer uploads the CPSP hull design; its id."""
    nsa = world.kor.registry.actor_for("nsa")
    info = world.kor.documents.upload(
        nsa,
        label=label,
        title="CPSP hull design",
        media_type="application/octet-stream",
        source=io.BytesIO(DATA),
    )
    return info.id


def send_to_can(world: World, kor_doc: str) -> str:
    """KOR → CAN through the real transmit, delivery, receive and receipt; CAN's copy id."""
    world.kor.exchange.transmit(world.kor.registry.actor_for("nsa"), kor_doc, to_party="CAN")
    world.deliver()
    with world.can.db.read() as session:
        (copy,) = session.scalars(
            select(ReceivedCopy.document_id).where(ReceivedCopy.originator_document_id == kor_doc)
        )
    return str(copy)


def consent_to_deu(world: World, can_doc: str, *, purpose: str = PURPOSE) -> str:
    """CAN asks KOR's consent to release its copy to DEU; KOR's NSA officer approves; the
    signed answer is back at CAN. The consent id."""
    asked = world.can.consents.request(
        world.can.registry.actor_for("nsa"),
        can_doc,
        to_party="DEU",
        purpose=purpose,
        reason="TKMS builds the hull section",
    )
    world.deliver()
    world.kor.consents.approve(
        world.kor.registry.actor_for("nsa"), asked.id, conditions="no further release"
    )
    world.deliver()
    return asked.id


def release_to_deu(
    world: World, can_doc: str, consent: str, *, purpose: str = PURPOSE, deliver: bool = True
) -> str:
    """CAN transmits its copy to DEU under `consent` (decided, the consent used, queued),
    and, unless told not to, delivers it; the transmission id (its outbox message id)."""
    sent = world.can.exchange.transmit(
        world.can.registry.actor_for("nsa"),
        can_doc,
        to_party="DEU",
        purpose=purpose,
        consent_id=consent,
    )
    if deliver:
        world.deliver()
    return sent.id


def transmission(node: Node, transmission_id: str) -> Transmission:
    """A transmission row, detached."""
    with node.db.read() as session:
        row = session.get(Transmission, transmission_id)
        assert row is not None
        session.expunge(row)
        return row


def copy_of(node: Node, originator_document: str) -> ReceivedCopy | None:
    """The node's received copy of `originator_document`, detached, if any."""
    with node.db.read() as session:
        row = session.scalars(
            select(ReceivedCopy).where(ReceivedCopy.originator_document_id == originator_document)
        ).one_or_none()
        if row is not None:
            session.expunge(row)
        return row
