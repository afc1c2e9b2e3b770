"""A third party's reception of a consented release, with three real nodes in-process
(`tests/federation/three_nodes.py`): KOR's 군사Ⅱ급비밀 CPSP design at CAN, released by CAN
to DEU with KOR's consent. DEU checks the chain (KOR's identity vouched for by CAN, KOR's
consent signed by KOR for that document, DEU and purpose, unexpired; the label signed by
the vouched key), records it with the copy, and holds the copy under CAN's onward label
under `can-deu`.

The attacks are by a hostile releasing peer: CAN's node signs what it sends (the message is
CAN's), but changes the chain it carries between the decision and the delivery. Each is
refused by DEU with its code (answered, signed, stored at CAN on the transmission) and
audited at DEU; nothing is registered."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cix.audit.checkpoint import generate_signer
from cix.federation import NodeIdentity, read_identity, sign_identity
from cix.federation.chain import CHAIN_FIELD, chain_for_transmission
from cix.federation.consent import ConsentAct, ConsentRequest, answer_request, sign_statement
from cix.keys import KemAlgorithm, SigningKey, generate_kem, generate_signing
from cix.node.auditing import append_many
from cix.node.errors import DocumentRefused
from cix.node.exchange.outbox import enqueue
from cix.node.search import DocumentQuery
from cix.store.models import Document, OutboxItem, ReceivedCopy
from tests.federation.three_nodes import (
    CAN_DEU,
    DATA,
    PURPOSE,
    SECRET,
    World,
    consent_to_deu,
    copy_of,
    make_world,
    release_to_deu,
    send_to_can,
    transmission,
    upload,
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


@pytest.fixture
def at_can(world: World) -> tuple[str, str, str]:
    """KOR's document, CAN's copy of it, and KOR's approved consent to release it to DEU."""
    kor_doc = upload(world)
    can_doc = send_to_can(world, kor_doc)
    return kor_doc, can_doc, consent_to_deu(world, can_doc)


def _open(world: World, person: str, doc_id: str) -> bytes:
    admission = world.deu.opening.admit(world.deu.registry.actor_for(person), doc_id)
    append_many(world.deu.audit, admission.events)  # as the open route records them
    admission.recorded()
    out = io.BytesIO()
    admission.write_to(out)
    return out.getvalue()


def _item(world: World, transmission_id: str) -> OutboxItem:
    with world.can.db.read() as session:
        item = session.get(OutboxItem, transmission_id)
        assert item is not None
        session.expunge(item)
        return item


def _tamper(world: World, transmission_id: str, change: Callable[[dict[str, Any]], None]) -> None:
    """The hostile releasing node changes the queued transmission's body before it goes."""
    with world.can.db.write() as session:
        item = session.get(OutboxItem, transmission_id)
        assert item is not None
        body = json.loads(json.dumps(item.body))
        change(body)
        item.body = body


def _statement(world: World, kor_doc: str, signer: SigningKey | None = None, **asked: Any) -> str:
    """A consent statement signed by KOR's key (or `signer`) for the act `asked` names
    (by default exactly the release to DEU for PURPOSE, given to CAN)."""
    now = asked.pop("now", world.clock())
    fields: dict[str, Any] = {
        "consent_id": "c-forged",
        "requester_node": world.can.settings.node_id,
        "requester_party": "CAN",
        "originator_party": "KOR",
        "document_id": kor_doc,
        "act": ConsentAct.RELEASE,
        "to_party": "DEU",
        "purpose": PURPOSE,
        "new_label": None,
        "requested_by": "nsa",
        "reason": "swapped in",
        **asked,
    }
    statement = answer_request(
        ConsentRequest(**fields).checked(),
        approved=True,
        originator_node=world.kor.settings.node_id,
        conditions=None,
        expires_at=now + timedelta(days=30),
        now=now,
    )
    assert world.kor.keys is not None
    return sign_statement(statement, signer or world.kor.keys.signing)


def _refused(world: World, transmission_id: str, code: str, kor_doc: str) -> None:
    """DEU refused the transmission with `code`: stored at CAN, audited at DEU, no copy."""
    row = transmission(world.can, transmission_id)
    assert (row.state, row.refusal_code) == ("refused", code)
    assert copy_of(world.deu, kor_doc) is None
    with world.deu.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 0
    denied = [e for e in world.audits["DEU"].events if e.decision == "deny"]
    assert [e.reasons for e in denied] == [(code,)]
    peer_refused = world.events("CAN", "peer-refused")
    assert [e.reasons for e in peer_refused] == [(code,)]


# --- the consented release, end to end ----------------------------------------------------


def test_consented_release_is_registered_at_the_third_party_and_opens(
    world: World, at_can: tuple[str, str, str]
) -> None:
    kor_doc, can_doc, consent = at_can
    sent = release_to_deu(world, can_doc, consent)
    # CAN: decided as a release under KOR's consent, the consent used, DEU's receipt stored
    row = transmission(world.can, sent)
    assert (row.state, row.refusal_code, row.consent_id) == ("receipted", None, consent)
    (released,) = world.events("CAN", "release")
    assert released.decision == "permit"
    (used,) = [e for e in world.events("CAN", "use") if e.type == "consent"]
    assert (used.decision, used.object) == ("permit", f"consent:{consent}")
    (receipt,) = world.events("CAN", "receipt")
    assert receipt.details["receipt"]["consent"] == consent
    assert receipt.details["receipt"]["marking"] == "GEHEIM//CPSP//REL TO CAN, DEU//ORIGINATOR KOR"
    # DEU: the copy names KOR as originator and CAN as the releasing party, records the
    # chain, keeps KOR's label as received; its register row holds CAN's onward label
    copy = copy_of(world.deu, kor_doc)
    assert copy is not None
    assert (copy.originator_party, copy.releasing_party, copy.agreement) == (
        "KOR",
        "CAN",
        "can-deu",
    )
    assert copy.received_from == world.can.settings.node_id
    assert copy.consent_id == consent
    assert copy.originator_label == SECRET.to_json()
    chain = json.loads(copy.consent or "")
    assert (chain["consent_id"], chain["originator_party"]) == (consent, "KOR")
    assert chain["releasing_node"] == world.can.settings.node_id
    assert world.kor.keys is not None
    vouched = read_identity(chain["originator_identity"]).identity
    assert vouched.signing_key.kid == world.kor.keys.verify_key.kid
    assert chain["originator_fingerprint"] == vouched.fingerprint
    with world.deu.db.read() as session:
        doc = session.get(Document, copy.document_id)
        assert doc is not None
        assert (doc.policy, doc.originator, doc.classification) == ("can-deu", "CAN", "S")
        assert doc.label_json["releasable_to"] == ["CAN", "DEU"]
        assert doc.label_json["programmes"] == ["CPSP"]
        assert doc.rank == CAN_DEU.rank("CAN", "S")
    (received,) = [e for e in world.events("DEU", "receive") if e.type == "document"]
    assert received.decision == "permit"
    assert received.details["consent"] == consent
    assert received.details["originator_party"] == "KOR"
    assert received.details["originator_label"] == SECRET.to_json()
    assert received.details["marking"] == "GEHEIM//CPSP//REL TO CAN, DEU//ORIGINATOR KOR"
    # a cleared TKMS engineer, a CPSP member, opens it; a cleared engineer outside CPSP not
    assert _open(world, "engineer", copy.document_id) == DATA
    # ... and sees it listed and shown under DEU's own marking, in German, naming KOR
    engineer = world.deu.registry.actor_for("engineer")
    listed = world.deu.documents.list(engineer, limit=10)
    assert [(d.id, d.banner) for d in listed.items] == [
        (copy.document_id, "GEHEIM//CPSP//FREIGABE AN CAN, DEU//HERKUNFT KOR")
    ]
    assert world.deu.documents.show(engineer, copy.document_id).banner.endswith("HERKUNFT KOR")
    by_originator = world.deu.documents.list(
        engineer, limit=10, narrowed=DocumentQuery(originator="KOR")
    )
    assert [d.id for d in by_originator.items] == [copy.document_id]
    with pytest.raises(DocumentRefused):
        _open(world, "outsider", copy.document_id)
    reads = [(e.actor, e.decision) for e in world.events("DEU", "read")]
    # the open, then the show (each a read, audited), then the outsider's refused open
    assert reads == [("engineer", "permit"), ("engineer", "permit"), ("outsider", "deny")]


# --- attacks: each refused with its code, audited at DEU, nothing registered ---------------


def test_third_party_copy_without_chain_is_refused(
    world: World, at_can: tuple[str, str, str]
) -> None:
    kor_doc, can_doc, consent = at_can
    sent = release_to_deu(world, can_doc, consent, deliver=False)
    _tamper(world, sent, lambda body: body.pop(CHAIN_FIELD))
    world.deliver()
    _refused(world, sent, "consent-chain-missing", kor_doc)


def _swap_consent(world: World, sent: str, token: str) -> None:
    def change(body: dict[str, Any]) -> None:
        body[CHAIN_FIELD]["consent"] = token
        body["consent"] = None  # the body's own reference would not match

    _tamper(world, sent, change)


def test_consent_for_another_party_is_refused(world: World, at_can: tuple[str, str, str]) -> None:
    kor_doc, can_doc, consent = at_can
    sent = release_to_deu(world, can_doc, consent, deliver=False)
    _swap_consent(world, sent, _statement(world, kor_doc, to_party="FRA"))
    world.deliver()
    _refused(world, sent, "consent-for-another-party", kor_doc)


def test_consent_for_another_document_is_refused(
    world: World, at_can: tuple[str, str, str]
) -> None:
    kor_doc, can_doc, consent = at_can
    sent = release_to_deu(world, can_doc, consent, deliver=False)
    _swap_consent(world, sent, _statement(world, kor_doc, document_id="0" * 32))
    world.deliver()
    _refused(world, sent, "consent-for-another-document", kor_doc)


def test_consent_for_another_purpose_is_refused(world: World, at_can: tuple[str, str, str]) -> None:
    kor_doc, can_doc, consent = at_can
    sent = release_to_deu(world, can_doc, consent, deliver=False)
    _swap_consent(world, sent, _statement(world, kor_doc, purpose="research"))
    world.deliver()
    _refused(world, sent, "consent-for-another-purpose", kor_doc)


def test_expired_consent_is_refused(world: World, at_can: tuple[str, str, str]) -> None:
    kor_doc, can_doc, consent = at_can
    sent = release_to_deu(world, can_doc, consent, deliver=False)
    given = world.clock() - timedelta(days=31)  # approved for 30 days, a month ago
    _swap_consent(world, sent, _statement(world, kor_doc, now=given))
    world.deliver()
    _refused(world, sent, "consent-expired", kor_doc)


def test_consent_signed_by_the_releasing_node_itself_is_refused(
    world: World, at_can: tuple[str, str, str]
) -> None:
    kor_doc, can_doc, consent = at_can
    sent = release_to_deu(world, can_doc, consent, deliver=False)
    assert world.can.keys is not None
    _swap_consent(world, sent, _statement(world, kor_doc, world.can.keys.signing))
    world.deliver()
    _refused(world, sent, "consent-signature-invalid", kor_doc)


def test_chain_vouched_by_a_key_not_pinned_is_refused(
    world: World, at_can: tuple[str, str, str]
) -> None:
    kor_doc, can_doc, consent = at_can
    sent = release_to_deu(world, can_doc, consent, deliver=False)
    stranger = generate_signing()  # in CAN's name, but not the key DEU pinned for CAN

    def change(body: dict[str, Any]) -> None:
        body[CHAIN_FIELD] = chain_for_transmission(
            consent=body[CHAIN_FIELD]["consent"],
            originator_identity=world.kor.peers.own_identity_document(),
            releasing_node=world.can.settings.node_id,
            signer=stranger,
        )

    _tamper(world, sent, change)
    world.deliver()
    _refused(world, sent, "consent-chain-voucher-invalid", kor_doc)


def test_label_not_signed_by_the_originators_vouched_key_is_refused(
    world: World, at_can: tuple[str, str, str]
) -> None:
    # CAN vouches, with its real key, for a "KOR" of its own making whose key signs a
    # consent: the chain holds, but the document's label was signed by KOR's real key,
    # which is not the one vouched for.
    kor_doc, can_doc, consent = at_can
    sent = release_to_deu(world, can_doc, consent, deliver=False)
    fake = generate_signing()
    identity = NodeIdentity(
        party="KOR",
        node_id=world.kor.settings.node_id,
        url="http://kor.test",
        agreements=("kor-can",),
        signing_key=fake.public,
        kem_key=generate_kem(KemAlgorithm.X25519).public,
        audit_key=generate_signer("cix-kor/audit").verifier,
        tls_fingerprint=None,
    )
    assert world.can.keys is not None
    signing = world.can.keys.signing

    def change(body: dict[str, Any]) -> None:
        body[CHAIN_FIELD] = chain_for_transmission(
            consent=_statement(world, kor_doc, fake),
            originator_identity=sign_identity(identity, fake),
            releasing_node=world.can.settings.node_id,
            signer=signing,
        )
        body["consent"] = None

    _tamper(world, sent, change)
    world.deliver()
    _refused(world, sent, "unknown-signer", kor_doc)


def test_chain_replayed_for_a_second_copy_is_refused(
    world: World, at_can: tuple[str, str, str]
) -> None:
    _, can_doc, consent = at_can
    first = release_to_deu(world, can_doc, consent, deliver=False)
    # The object sent, kept by the hostile sender (its outbox copy goes once answered).
    sent_object = world.can.blobs.read(_item(world, first).blob_hash or "")
    world.deliver()
    assert transmission(world.can, first).state == "receipted"
    # CAN's node would refuse a second release under the consent (it is used) ...
    with pytest.raises(DocumentRefused):
        release_to_deu(world, can_doc, consent)
    # ... so a hostile one sends the same body, chain and object again, as a new message
    item = _item(world, first)
    world.can.blobs.put([sent_object])
    with world.can.db.write() as session:
        again = enqueue(
            session,
            peer=item.peer,
            kind=item.kind,
            agreement=item.agreement,
            body={**item.body, "copy": 2},
            now=world.clock(),
            blob_hash=item.blob_hash,
        )
    world.deliver()
    with world.can.db.read() as session:
        replayed = session.get(OutboxItem, again)
        assert replayed is not None
        assert (replayed.state, replayed.last_error) == ("refused", "consent-already-used")
    with world.deu.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ReceivedCopy)) == 1
    denied = [e for e in world.audits["DEU"].events if e.decision == "deny"]
    assert [e.reasons for e in denied] == [("consent-already-used",)]


def test_consented_release_and_its_replay_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    # DEU on PostgreSQL: the copy registered with its chain, the one-copy-per-consent index
    # holding against the replay, the copy opening for the cleared engineer
    worlds = make_world(tmp_path, deu_database=postgres_url)
    world = next(worlds)
    try:
        assert world.deu.settings.database_url.reveal().startswith("postgresql")
        kor_doc = upload(world)
        can_doc = send_to_can(world, kor_doc)
        consent = consent_to_deu(world, can_doc)
        first = release_to_deu(world, can_doc, consent, deliver=False)
        sent_object = world.can.blobs.read(_item(world, first).blob_hash or "")
        world.deliver()
        assert transmission(world.can, first).state == "receipted"
        copy = copy_of(world.deu, kor_doc)
        assert copy is not None
        assert (copy.consent_id, copy.originator_label) == (consent, SECRET.to_json())
        item = _item(world, first)
        world.can.blobs.put([sent_object])  # the hostile sender kept the object it sent
        with world.can.db.write() as session:
            again = enqueue(session, peer=item.peer, kind=item.kind, agreement=item.agreement,
                            body={**item.body, "copy": 2}, now=world.clock(),
                            blob_hash=item.blob_hash)  # fmt: skip
        world.deliver()
        with world.can.db.read() as session:
            replayed = session.get(OutboxItem, again)
            assert replayed is not None
            assert replayed.last_error == "consent-already-used"
        assert _open(world, "engineer", copy.document_id) == DATA
    finally:
        worlds.close()
