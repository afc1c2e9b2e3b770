"""Classification changes across three real nodes in-process (rule 3): KOR originates a
군사Ⅱ급비밀 CPSP document, CAN holds a copy, DEU holds CAN's copy released onward with
KOR's consent. KOR's NSA officer downgrades it to 군사Ⅲ급비밀; the notice reaches CAN, which
re-marks its copy and forwards the notice to DEU. Messages travel through each node's real
outbox, delivery and inbox (`Loopback`: one node's transport calls the other's inbox).

KOR's copy reaches CAN through the exchange's real transmit and receive; DEU's copy is
CAN's consented release (KOR's consent asked, approved, used; the chain checked and
recorded at DEU), held at DEU under CAN's onward label under `can-deu`: the notice re-marks
it with the onward label of KOR's new label, KOR's new label kept on the copy's record.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cix import envelope
from cix.envelope._assertion import label_assertion, sign_binding
from cix.envelope._manifest import b64, canonical
from cix.federation.consent import ConsentAct
from cix.labels import Label, alternative_label, alternative_to_json, to_4774_xml
from cix.labels.onward import onward_label
from cix.node.errors import DocumentRefused, Forbidden
from cix.node.exchange._changes import CLASSIFICATION_CHANGE
from cix.node.exchange.outbox import DELIVERED, REFUSED, enqueue
from cix.node.exchange.transport import MESSAGES_PATH
from cix.node.service import Node
from cix.store.models import Document, LabelHistory, OutboxItem, ReceivedCopy, Transmission
from tests.federation.three_nodes import (
    CAN_DEU,
    DATA,
    KOR_CAN,
    LOWER,
    REGISTRY,
    SECRET,
    World,
    consent_to_deu,
    copy_of,
    make_world,
    release_to_deu,
    send_to_can,
    upload,
)


def onward(label: Label) -> Label:
    """DEU's label of KOR's `label`: CAN's onward label under can-deu."""
    return onward_label(label, KOR_CAN, CAN_DEU, releasing_party="CAN", to_party="DEU")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


def _trusted(node: Node, *extra: Node) -> dict[str, list[Any]]:
    trusted: dict[str, list[Any]] = node.reclassify.trusted()
    for other in extra:
        assert other.keys is not None
        trusted.setdefault(other.settings.party, []).append(other.keys.verify_key)
    return trusted


@dataclass
class Held:
    kor: str
    can: str
    deu: str


@pytest.fixture
def held(world: World) -> Held:
    """KOR's document, CAN's copy, DEU's copy of CAN's copy (released with KOR's consent):
    each through the real transmit, delivery, receive and receipt."""
    kor = upload(world)
    can = send_to_can(world, kor)
    sent = release_to_deu(world, can, consent_to_deu(world, can))
    with world.can.db.read() as session:
        assert session.get(Transmission, sent) is not None
    copy = copy_of(world.deu, kor)
    assert copy is not None
    world.audits["CAN"].events.clear()
    world.audits["DEU"].events.clear()
    world.audits["KOR"].events.clear()
    return Held(kor, can, copy.document_id)


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
    with node.db.read() as session:
        copy = session.get(ReceivedCopy, doc_id)
        sealed = copy.originator_label if copy and copy.originator_label else row.label_json
    out = io.BytesIO()
    with node.blobs.open(row.blob_hash) as src:
        opened = envelope.open(
            src, out, private_key=node.keys.kem, trusted_signers=_trusted(node, *extra),
            expected_label=sealed,
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
    # DEU: reached through CAN, the originator's signature verified under the chain's key;
    # its row re-marked with CAN's onward label of the new label (CONFIDENTIAL), KOR's new
    # label kept on the copy; DEU's cleared engineer opens it through the open path.
    deu = _opened(world.deu, held.deu, world.kor)
    assert deu.label_json == LOWER.to_json()
    assert deu.signer_kid == world.kor.keys.signing.kid
    assert _row(world.deu, held.deu).label_json == onward(LOWER).to_json()
    assert _row(world.deu, held.deu).classification == "C"
    deu_copy = copy_of(world.deu, held.kor)
    assert deu_copy is not None
    assert deu_copy.originator_label == LOWER.to_json()
    admission = world.deu.opening.admit(world.deu.registry.actor_for("engineer"), held.deu)
    admission.recorded()
    out = io.BytesIO()
    admission.write_to(out)
    assert out.getvalue() == DATA
    # Every notice delivered and answered; the answers are the receipts, audited.
    assert [i.state for i in _outbox(world.kor)] == [DELIVERED]
    assert [(i.peer, i.state) for i in _outbox(world.can)] == [
        (world.deu.settings.node_id, DELIVERED)
    ]
    assert len(world.events("KOR", "reclassify-receipt")) == 1
    assert world.events("KOR", "reclassify-receipt")[0].decision == "permit"
    assert world.events("CAN", "reclassify-receipt")[0].actor == world.deu.settings.node_id
    (remarked,) = world.events("CAN", "reclassify")
    assert remarked.decision == "permit"
    assert remarked.details["to"] == LOWER.to_json()
    (remarked,) = world.events("DEU", "reclassify")
    assert remarked.decision == "permit"
    assert remarked.details["to"] == onward(LOWER).to_json()
    assert remarked.details["originator_label"] == LOWER.to_json()
    assert remarked.details["marking"] == "VS-VERTRAULICH//CPSP//REL TO CAN, DEU//ORIGINATOR KOR"
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
    for node, doc, levels in (
        (world.can, held.can, ("III", "II")),
        (world.deu, held.deu, ("C", "S")),
    ):
        rows = _history(node, doc)
        assert [(h.side, h.revision, h.label["classification"]) for h in rows] == [
            ("copy", 1, levels[0]),
            ("copy", 2, levels[1]),
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
    assert _row(world.deu, held.deu).label_json == onward(SECRET).to_json()
    deu_copy = copy_of(world.deu, held.kor)
    assert deu_copy is not None
    assert deu_copy.originator_label == SECRET.to_json()
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


# --- a downgrade asked by a holder, consented by the originator -----------------------------


def test_approved_downgrade_consent_changes_the_classification(world: World, held: Held) -> None:
    asked = world.can.consents.request(
        world.can.registry.actor_for("nsa"),
        held.can,
        act=ConsentAct.DOWNGRADE,
        new_label=dict(LOWER.to_json()),
        reason="the hull form is public now",
    )
    world.deliver()
    assert _history(world.kor, held.kor) == []  # asked, not yet answered: nothing changes
    world.kor.consents.approve(world.kor.registry.actor_for("nsa"), asked.id)
    # KOR: the approval made the change, with the consent's id, and queued the notices
    (entry,) = _history(world.kor, held.kor)
    assert (entry.side, entry.revision, entry.consent_id) == ("originator", 1, asked.id)
    assert _row(world.kor, held.kor).label_json == LOWER.to_json()
    (decided,) = world.events("KOR", "reclassify")
    assert (decided.decision, decided.details["consent"]) == ("permit", asked.id)
    world.deliver()
    # ... reaching CAN's copy and, through CAN, DEU's
    assert world.can.consents.show(world.can.registry.actor_for("nsa"), asked.id).state == (
        "approved"
    )
    assert _opened(world.can, held.can, world.kor).label_json == LOWER.to_json()
    assert _row(world.deu, held.deu).label_json == onward(LOWER).to_json()
    assert [h.revision for h in _history(world.deu, held.deu)] == [1]


def test_denied_downgrade_consent_changes_nothing(world: World, held: Held) -> None:
    asked = world.can.consents.request(
        world.can.registry.actor_for("nsa"),
        held.can,
        act=ConsentAct.DOWNGRADE,
        new_label=dict(LOWER.to_json()),
        reason="the hull form is public now",
    )
    world.deliver()
    world.kor.consents.deny(world.kor.registry.actor_for("nsa"), asked.id, conditions="not yet")
    world.deliver()
    assert _history(world.kor, held.kor) == []
    assert _row(world.kor, held.kor).label_json == SECRET.to_json()
    assert _outbox(world.kor) == []
