"""Classification changes across three real nodes in-process (rule 3): KOR originates a
군사Ⅱ급비밀 CPSP document, CAN holds a copy, DEU holds CAN's copy released onward with
KOR's consent. KOR's NSA officer downgrades it to 군사Ⅲ급비밀; the notice reaches CAN, which
re-marks its copy and forwards the notice to DEU. Messages travel through each node's real
outbox, delivery and inbox (`Loopback`: one node's transport calls the other's inbox).

KOR's copy reaches CAN through the exchange's real transmit and receive. DEU's copy, a
consented release by CAN, is registered as reception would register it (`give_copy`: the
object rewrapped to DEU's key, the document, `received_copies` with the consent chain's
originator identity, and CAN's `transmissions` row), the consent chain check being the
consent service's.
"""

from __future__ import annotations

import base64
import io
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cix import envelope
from cix.agreements import bundled, bundled_registry
from cix.envelope._assertion import label_assertion, sign_binding
from cix.envelope._manifest import b64, canonical
from cix.federation import sign_identity
from cix.labels import Label, alternative_label, alternative_to_json, make_label, to_4774_xml
from cix.node.auditing import AuditRecord, MemoryAuditSink
from cix.node.errors import DocumentRefused, Forbidden
from cix.node.exchange._changes import CLASSIFICATION_CHANGE
from cix.node.exchange.outbox import DELIVERED, REFUSED, enqueue
from cix.node.exchange.transport import MESSAGES_PATH
from cix.node.labelbits import CAVEAT, PARTY, PROGRAMME
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import MembershipIn, OrganisationIn, PersonIn, ProgrammeIn, RegistryClearance
from cix.node.service import Node, init_node
from cix.store.models import Document, LabelHistory, OutboxItem, ReceivedCopy, Transmission
from tests.federation.simulator import node_identity, pin
from tests.node_support import ENVIRON, T0, Clock

KOR_CAN = bundled("kor-can")
REGISTRY = bundled_registry()
DATA = os.urandom(5000)


def _korean(level: str) -> Label:
    return make_label(
        KOR_CAN,
        originator="KOR",
        classification=level,
        releasable_to={"KOR", "CAN"},
        programmes={"CPSP"},
        created=T0,
        registry=REGISTRY,
    )


SECRET = _korean("II")
LOWER = _korean("III")


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


def _url(node: Node) -> str:
    return f"http://{node.settings.party.lower()}.test"


def _seed(node: Node, level: str) -> None:
    """An NSA officer `nsa` cleared at `level`, briefed, a CPSP member; a reader `reader`."""
    party = node.settings.party
    reg = node.registry
    reg.create_organisation(
        SYSTEM, OrganisationIn(id="gov", name="Ministry", kind="government", party=party)
    )
    reg.create_programme(SYSTEM, ProgrammeIn(id="CPSP", title="Submarines", party="CAN"))
    for person, roles in (("nsa", [Role.NSA_OFFICER, Role.ORIGINATOR]), ("reader", [])):
        reg.create_person(
            SYSTEM,
            PersonIn(
                id=person,
                name=person.title(),
                organisation="gov",
                nationalities=[party],
                clearance=RegistryClearance(
                    level=level, party=party, expires=T0 + timedelta(days=365)
                ),
                briefed_at=T0 - timedelta(days=1),
                briefed_until=T0 + timedelta(days=365),
                roles=roles or [Role.READER],
            ),
        )
        reg.grant_membership(
            SYSTEM,
            MembershipIn(
                person=person,
                programme="CPSP",
                valid_until=T0 + timedelta(days=365),
                justification="submarine programme",
            ),
        )


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


def _open_node(tmp: Path, party: str, agreements: tuple[str, ...], clock: Clock) -> Node:
    audit = MemoryAuditSink()
    init_node(
        tmp / party,
        party=party,
        agreements=agreements,
        admin="root",
        environ=ENVIRON,
        audit=audit,
        clock=clock,
    )
    return Node.open(tmp / party, environ=ENVIRON, audit=audit, clock=clock)


def _pair(a: Node, b: Node, agreement: str) -> None:
    for one, other in ((a, b), (b, a)):
        assert other.keys is not None
        pin(one, node_identity(other, url=_url(other)), other.keys.signing, [agreement])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = Clock(T0)
    kor = _open_node(tmp_path, "KOR", ("kor-can",), clock)
    can = _open_node(tmp_path, "CAN", ("kor-can", "can-deu"), clock)
    deu = _open_node(tmp_path, "DEU", ("can-deu",), clock)
    wire = Loopback()
    for node in (kor, can, deu):
        wire.nodes[_url(node)] = node
        node.exchange.delivery.transport = wire
    _pair(kor, can, "kor-can")
    _pair(can, deu, "can-deu")
    _seed(kor, "II")
    _seed(can, "S")
    audits = {n.settings.party: n.audit for n in (kor, can, deu)}
    assert all(isinstance(a, MemoryAuditSink) for a in audits.values())
    yield World(kor, can, deu, audits, wire, clock)  # type: ignore[arg-type]
    for node in (kor, can, deu):
        node.close()


def _trusted(node: Node, *extra: Node) -> dict[str, list[Any]]:
    trusted: dict[str, list[Any]] = node.reclassify.trusted()
    for other in extra:
        assert other.keys is not None
        trusted.setdefault(other.settings.party, []).append(other.keys.verify_key)
    return trusted


def give_copy(
    sender: Node, doc_id: str, receiver: Node, agreement: str, *, originator: Node
) -> str:
    """Register at `receiver` a copy of `sender`'s document `doc_id`, as transmit/receive
    do: rewrapped to the receiver, marked by it (when its party is in the label's agreement),
    a document row, a `received_copies` row, and a receipted transmission at the sender.
    Returns the receiver's document id."""
    assert sender.keys is not None
    assert receiver.keys is not None
    assert originator.keys is not None
    with sender.db.read() as session:
        row = session.get(Document, doc_id)
        assert row is not None
        assert row.blob_hash is not None
        held = session.get(ReceivedCopy, doc_id)
        origin_id = held.originator_document_id if held is not None else doc_id
        blob, title = row.blob_hash, row.title
    signers = _trusted(sender, originator, receiver)
    out = io.BytesIO()
    with sender.blobs.open(blob) as src:
        envelope.rewrap(src, out, private_key=sender.keys.kem, to=[receiver.keys.kem_public],
                        trusted_signers=signers, drop_others=True)  # fmt: skip
    sealed = out.getvalue()
    label = SECRET
    if receiver.settings.party in KOR_CAN.parties:
        alternative = alternative_label(label, KOR_CAN, receiver.settings.party)
        out = io.BytesIO()
        envelope.add_alternative_label(
            io.BytesIO(sealed), out, private_key=receiver.keys.kem, trusted_signers=signers,
            label_xml=to_4774_xml(alternative, REGISTRY),
            label_json=alternative_to_json(alternative), signer=receiver.keys.signing,
        )  # fmt: skip
        sealed = out.getvalue()
    ref = receiver.blobs.put([sealed])
    local = os.urandom(16).hex()
    consent = None
    if originator is not sender:
        consent = json.dumps(
            {
                "type": "cix-consent-chain/v1",
                "originator_party": originator.settings.party,
                "originator_identity": sign_identity(
                    node_identity(originator, url=_url(originator)), originator.keys.signing
                ),
            }
        )
    now = receiver.clock()
    bits = receiver.documents.bits
    with receiver.db.write() as session:
        session.add(
            Document(
                id=local, policy=label.policy, originator=label.originator,
                classification=label.classification,
                rank=KOR_CAN.rank(label.originator, label.classification),
                releasability_mask=bits.allocate(session, PARTY, label.releasable_to),
                programme_mask=bits.allocate(session, PROGRAMME, label.programmes),
                caveat_mask=bits.allocate(session, CAVEAT, label.caveats),
                label_json=dict(label.to_json()), title=title, purpose=None,
                media_type="application/octet-stream", plaintext_size=len(DATA),
                sealed_size=ref.size, blob_hash=ref.sha256, created_by=sender.settings.node_id,
                created_at=now, custodian_id=receiver.settings.node_id, copies_made=0,
                destroyed_at=None,
            )
        )  # fmt: skip
        session.flush()
        session.add(
            ReceivedCopy(
                document_id=local, message_id=os.urandom(8).hex(),
                originator_party=originator.settings.party, originator_document_id=origin_id,
                copy_number=1, received_from=sender.settings.node_id,
                releasing_party=sender.settings.party, agreement=agreement, purpose=None,
                consent=consent, received_at=now,
            )
        )  # fmt: skip
    with sender.db.write() as session:
        session.add(
            Transmission(
                id=os.urandom(8).hex(), document_id=doc_id, to_party=receiver.settings.party,
                to_node=receiver.settings.node_id, agreement=agreement, purpose=None,
                consent_id=None, requested_by="nsa", requested_at=now, state="receipted",
                requires_receipt=True, receipt="(receipt)", receipted_at=now,
            )
        )  # fmt: skip
    return local


@dataclass
class Held:
    kor: str
    can: str
    deu: str


@pytest.fixture
def held(world: World) -> Held:
    """KOR's document, CAN's copy, DEU's copy of CAN's copy."""
    nsa = world.kor.registry.actor_for("nsa")
    info = world.kor.documents.upload(
        nsa,
        label=SECRET,
        title="CPSP hull design",
        media_type="application/octet-stream",
        source=io.BytesIO(DATA),
    )
    # KOR → CAN through the exchange's real transmit, delivery, receive and receipt.
    world.kor.exchange.transmit(nsa, info.id, to_party="CAN")
    world.deliver()
    with world.can.db.read() as session:
        (can,) = session.scalars(
            select(ReceivedCopy.document_id).where(ReceivedCopy.originator_document_id == info.id)
        )
    with world.kor.db.read() as session:
        (state,) = session.scalars(select(Transmission.state))
    assert state == "receipted"
    deu = give_copy(world.can, can, world.deu, "can-deu", originator=world.kor)
    return Held(info.id, can, deu)


def _row(node: Node, doc_id: str) -> Document:
    with node.db.read() as session:
        row = session.get(Document, doc_id)
        assert row is not None
        session.expunge(row)
        return row


def _opened(node: Node, doc_id: str, *extra: Node) -> envelope.Opened:
    assert node.keys is not None
    row = _row(node, doc_id)
    assert row.blob_hash is not None
    out = io.BytesIO()
    with node.blobs.open(row.blob_hash) as src:
        opened = envelope.open(
            src, out, private_key=node.keys.kem, trusted_signers=_trusted(node, *extra),
            expected_label=row.label_json,
        )  # fmt: skip
    assert out.getvalue() == DATA
    return opened


def _history(node: Node, doc_id: str) -> list[LabelHistory]:
    with node.db.read() as session:
        rows = list(session.scalars(select(LabelHistory).where(LabelHistory.document_id == doc_id)))
        for r in rows:
            session.expunge(r)
        return rows


def _outbox(node: Node) -> list[OutboxItem]:
    with node.db.read() as session:
        rows = list(
            session.scalars(select(OutboxItem).where(OutboxItem.kind == CLASSIFICATION_CHANGE))
        )
        for r in rows:
            session.expunge(r)
        return rows


def _claims(token: str) -> dict[str, Any]:
    """The claims of a compact JWS (read, not verified: the node verified it)."""
    part = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def _reclassify(world: World, held: Held, label: Label = LOWER) -> None:
    nsa = world.kor.registry.actor_for("nsa")
    world.kor.reclassify.reclassify(
        nsa, held.kor, new_label=label.to_json(), reason="declassified in part"
    )


# --- the change reaches every copy ---------------------------------------------------------


def test_reclassification_reaches_every_copy(world: World, held: Held) -> None:
    nsa = world.kor.registry.actor_for("nsa")
    done = world.kor.reclassify.reclassify(
        nsa, held.kor, new_label="군사Ⅲ급비밀//CPSP//REL TO KOR, CAN", reason="lower harm"
    )
    assert done.revision == 1
    assert done.label == LOWER.to_json()
    assert done.notified == (world.can.settings.node_id,)
    world.deliver()
    # KOR: its own object relabelled and its row's label columns; CAN's receipt stored.
    assert _row(world.kor, held.kor).label_json == LOWER.to_json()
    assert _row(world.kor, held.kor).classification == "III"
    assert _opened(world.kor, held.kor).label_json == LOWER.to_json()
    # CAN: the originator's new label signed by KOR, and its own new alternative label.
    can = _opened(world.can, held.can, world.kor)
    assert can.label_json == LOWER.to_json()
    assert world.kor.keys is not None
    assert can.signer_kid == world.kor.keys.signing.kid
    (alt,) = can.alternative_labels
    assert alt.label_json == alternative_to_json(alternative_label(LOWER, KOR_CAN, "CAN"))
    assert _row(world.can, held.can).rank == KOR_CAN.rank("KOR", "III")
    # ... and CAN's reader opens it through the node's own open path (the row's new label
    # expected, the object's policy uuid the originator's document id).
    admission = world.can.opening.admit(world.can.registry.actor_for("reader"), held.can)
    admission.recorded()
    out = io.BytesIO()
    admission.write_to(out)
    assert out.getvalue() == DATA
    # DEU: reached through CAN, the originator's signature verified under the chain's key.
    deu = _opened(world.deu, held.deu, world.kor)
    assert deu.label_json == LOWER.to_json()
    assert deu.signer_kid == world.kor.keys.signing.kid
    # Every notice delivered and answered; the answers are the receipts, audited.
    assert [i.state for i in _outbox(world.kor)] == [DELIVERED]
    assert [(i.peer, i.state) for i in _outbox(world.can)] == [
        (world.deu.settings.node_id, DELIVERED)
    ]
    assert len(world.events("KOR", "reclassify-receipt")) == 1
    assert world.events("KOR", "reclassify-receipt")[0].decision == "permit"
    assert world.events("CAN", "reclassify-receipt")[0].actor == world.deu.settings.node_id
    for party in ("CAN", "DEU"):
        (remarked,) = world.events(party, "reclassify")
        assert remarked.decision == "permit"
        assert remarked.details["to"] == LOWER.to_json()
    (decided,) = world.events("KOR", "reclassify")
    assert decided.decision == "permit"
    assert decided.details["reason"] == "lower harm"


def test_history_kept_on_both_sides(world: World, held: Held) -> None:
    _reclassify(world, held)
    world.deliver()
    _reclassify(world, held, SECRET)  # and back up again: revision 2
    world.deliver()
    kor = _history(world.kor, held.kor)
    assert [(h.side, h.revision, h.label["classification"]) for h in kor] == [
        ("originator", 1, "III"),
        ("originator", 2, "II"),
    ]
    assert kor[0].changed_by == "nsa"
    assert kor[0].previous_label == SECRET.to_json()
    for node, doc in ((world.can, held.can), (world.deu, held.deu)):
        rows = _history(node, doc)
        assert [(h.side, h.revision, h.label["classification"]) for h in rows] == [
            ("copy", 1, "III"),
            ("copy", 2, "II"),
        ]
        assert all(h.originator_document_id == held.kor for h in rows)
        assert all(h.message_id for h in rows)
    assert _opened(world.deu, held.deu, world.kor).label_json == SECRET.to_json()
    reader = world.can.registry.actor_for("reader")
    assert [h.revision for h in world.can.reclassify.history(reader, held.can)] == [1, 2]


# --- who may change it ---------------------------------------------------------------------


def test_reclassification_by_a_copy_holder_is_refused(world: World, held: Held) -> None:
    nsa = world.can.registry.actor_for("nsa")
    before = _row(world.can, held.can).blob_hash
    with pytest.raises(DocumentRefused) as refused:
        world.can.reclassify.reclassify(nsa, held.can, new_label=LOWER.to_json(), reason="x")
    assert refused.value.reasons == ("not-originator",)
    (denied,) = world.events("CAN", "reclassify")
    assert denied.decision == "deny"
    assert denied.reasons == ("not-originator",)
    assert _row(world.can, held.can).blob_hash == before
    assert _history(world.can, held.can) == []
    assert _outbox(world.can) == []


def test_reclassification_needs_an_nsa_officer(world: World, held: Held) -> None:
    reader = world.kor.registry.actor_for("reader")
    with pytest.raises(Forbidden):
        world.kor.reclassify.reclassify(reader, held.kor, new_label=LOWER.to_json(), reason="x")
    assert world.events("KOR", "reclassify")[0].decision == "deny"
    assert _outbox(world.kor) == []


# --- replays and forgeries -----------------------------------------------------------------


def test_classification_change_notice_replayed_gets_the_same_answer(
    world: World, held: Held
) -> None:
    _reclassify(world, held)
    world.deliver()
    path, token, status, answer = next(
        s
        for s in world.wire.sent
        if _claims(s[1])["aud"] == world.can.settings.node_id
        and _claims(s[1])["kind"] == CLASSIFICATION_CHANGE
    )
    assert path == MESSAGES_PATH
    assert status == 200
    blob = _row(world.can, held.can).blob_hash
    again = world.can.exchange.inbox.receive(token, url=path)
    assert (again.status, again.token) == (status, answer)  # the stored answer, byte for byte
    assert _row(world.can, held.can).blob_hash == blob
    assert len(_history(world.can, held.can)) == 1
    assert len(world.events("CAN", "reclassify")) == 1


def test_same_change_under_a_new_message_id_is_already_current(world: World, held: Held) -> None:
    _reclassify(world, held)
    world.deliver()
    (item,) = _outbox(world.kor)
    with world.kor.db.write() as session:
        enqueue(session, peer=item.peer, kind=item.kind, agreement=item.agreement,
                body=dict(item.body), now=world.clock())  # fmt: skip
    blob = _row(world.can, held.can).blob_hash
    world.deliver()
    last = world.wire.sent[-1]
    assert last[2] == 200
    assert _claims(last[3])["body"]["state"] == "already-current"
    assert _row(world.can, held.can).blob_hash == blob
    assert len(_history(world.can, held.can)) == 1


def _forged_change(node: Node, doc_id: str, label: Label) -> envelope.LabelChange:
    """What a holder can make on its own: a change of its copy signed with its own key."""
    assert node.keys is not None
    row = _row(node, doc_id)
    assert row.blob_hash is not None
    with node.blobs.open(row.blob_hash) as src:
        data = src.read()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        doc = json.loads(z.read("0.manifest.json"))
    enc = doc["encryptionInformation"]
    policy = json.loads(base64.b64decode(enc["policy"]))
    policy["body"]["cix"] = {"version": 1, "label": label.to_json(), "revision": 1}
    enc["policy"] = b64(canonical(policy))
    assertion = label_assertion(to_4774_xml(label, REGISTRY).decode())
    doc["assertions"] = [assertion]
    tags = [base64.b64decode(s["hash"]) for s in enc["integrityInformation"]["segments"]]
    assertion["binding"] = sign_binding(doc, assertion, tags, node.keys.signing)
    return envelope.LabelChange(enc["policy"], assertion)


def test_holder_cannot_forge_a_classification_change_for_the_next_holder(
    world: World, held: Held
) -> None:
    forged = _forged_change(world.can, held.can, LOWER)
    body = {
        "document": held.kor,
        "originator_party": "KOR",
        "revision": 1,
        "change": forged.to_json(),
        "reason": "forged by the releasing party",
        "changed_at": world.clock().isoformat(),
    }
    with world.can.db.write() as session:
        enqueue(session, peer=world.deu.settings.node_id, kind=CLASSIFICATION_CHANGE,
                agreement="can-deu", body=body, now=world.clock())  # fmt: skip
    blob = _row(world.deu, held.deu).blob_hash
    world.deliver()
    (item,) = _outbox(world.can)
    assert (item.state, item.last_error) == (REFUSED, "signer-not-originator")
    assert _row(world.deu, held.deu).blob_hash == blob
    assert _row(world.deu, held.deu).label_json == SECRET.to_json()
    assert _history(world.deu, held.deu) == []
    denied = [e for e in world.audits["DEU"].events if e.decision == "deny"]
    assert [e.reasons for e in denied] == [("signer-not-originator",)]


def test_notice_for_a_copy_not_held_is_refused(world: World, held: Held) -> None:
    _reclassify(world, held)
    (item,) = _outbox(world.kor)
    with world.kor.db.write() as session:
        enqueue(session, peer=item.peer, kind=item.kind, agreement=item.agreement,
                body={**item.body, "document": "0" * 32}, now=world.clock())  # fmt: skip
    world.deliver()
    states = sorted((i.state, i.last_error or "") for i in _outbox(world.kor))
    assert states == [(DELIVERED, ""), (REFUSED, "copy-not-held")]
    assert len(world.events("KOR", "reclassify-receipt")) == 2
