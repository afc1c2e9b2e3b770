"""The consent workflow across three nodes in-process: CAN asks KOR (the originator) to
release KOR's document to DEU; KOR's NSA officer approves; the signed answer returns and
permits exactly that release, once; DEU checks the chain CAN forwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cix.agreements import bundled_registry
from cix.errors import InputError
from cix.federation import Message, new_message_id, sign_message
from cix.federation.chain import CHAIN_FIELD
from cix.federation.consent import ConsentRefusal, ConsentRefused
from cix.labels import Label, make_label
from cix.node.errors import Conflict, DocumentRefused, Forbidden
from cix.node.exchange.consent_rows import pinned_peer
from cix.node.exchange.consent_use import transmit_action
from cix.node.exchange.consents import ANSWER_TYPE
from cix.node.roles import Role
from cix.policy import Action, Clearance, Organisation, OrganisationKind, decide, make_subject
from cix.store.models import Consent, OutboxItem, ReceivedCopy
from tests.federation.consent_nodes import (
    URL,
    Federation,
    document_row,
    make_federation,
    seed_copy,
)
from tests.node_support import T0, Clock

PURPOSE = "defence-procurement"


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[Federation]:
    yield from make_federation(tmp_path, Clock())


@pytest.fixture
def copy(fed: Federation) -> tuple[str, str]:
    return seed_copy(fed)


def audited(fed: Federation, party: str, action: str, decision: str = "permit") -> list[Any]:
    return [
        e
        for e in fed.audits[party].events
        if e.type == "consent" and e.action == action and e.decision == decision
    ]


def request(fed: Federation, can_doc: str, *, to: str = "DEU", purpose: str = PURPOSE) -> str:
    info = fed["CAN"].consents.request(
        fed.officer("CAN"), can_doc, to_party=to, purpose=purpose, reason="TKMS builds the hull"
    )
    return info.id


def approved(fed: Federation, can_doc: str, **approve: Any) -> str:
    consent_id = request(fed, can_doc)
    fed.deliver()
    fed["KOR"].consents.approve(fed.officer("KOR"), consent_id, **approve)
    fed.deliver()
    return consent_id


def kor_label(fed: Federation) -> Label:
    return make_label(
        fed["CAN"].agreements["kor-can"],
        originator="KOR",
        classification="II",
        releasable_to={"KOR", "CAN"},
        created=T0,
        purpose=PURPOSE,
        registry=bundled_registry(),
    )


def can_decides_release(fed: Federation, consent: str | None) -> frozenset[str]:
    node = fed["CAN"]
    label = kor_label(fed)
    later = T0 + timedelta(days=365)
    subject = make_subject(
        id="nsa",
        nationalities=frozenset({"CAN"}),
        clearance=Clearance("CAN", "S", later),
        briefed_until=later,
        programmes={},
        roles=frozenset(),
        organisation=Organisation("dnd", OrganisationKind.GOVERNMENT, "CAN", None),
    )
    action = transmit_action(label, "DEU", party="CAN", agreements=node.agreements)
    assert action is Action.RELEASE
    decision = decide(
        subject,
        label,
        action,
        agreements=list(node.agreements.values()),
        now=fed.clock(),
        to="DEU",
        consent=consent,
        purpose=PURPOSE,
    )
    return decision.codes


def test_request_reaches_the_originator_and_its_signed_approval_returns(
    fed: Federation, copy: tuple[str, str]
) -> None:
    kor_doc, can_doc = copy
    consent_id = request(fed, can_doc)
    with fed["CAN"].db.read() as session:
        row = session.get(Consent, consent_id)
        assert row is not None
        assert (row.side, row.state, row.document_id) == ("requester", "requested", kor_doc)
        queued = session.scalars(select(OutboxItem)).all()
        assert [(q.kind, q.peer, q.agreement) for q in queued] == [
            ("consent-request", "cix-kor", "kor-can")
        ]
    assert len(audited(fed, "CAN", "request")) == 1

    assert [(k, to, r.status) for k, to, r in fed.deliver()] == [
        ("consent-request", "cix-kor", 202)
    ]
    kor_nsa = fed.officer("KOR")
    pending = fed["KOR"].consents.list(kor_nsa, state="requested")
    assert [(c.id, c.side, c.to_party, c.purpose, c.requester_node) for c in pending] == [
        (consent_id, "originator", "DEU", PURPOSE, "cix-can")
    ]
    assert pending[0].reason == "TKMS builds the hull"
    assert len(audited(fed, "KOR", "receive-request")) == 1

    fed["KOR"].consents.approve(kor_nsa, consent_id, conditions="no further release")
    assert len(audited(fed, "KOR", "approve")) == 1
    assert [(k, to, r.status) for k, to, r in fed.deliver()] == [("consent-answer", "cix-can", 200)]
    shown = fed["CAN"].consents.show(fed.officer("CAN"), consent_id)
    assert shown.state == "approved"
    assert shown.conditions == "no further release"
    assert shown.expires_at == T0 + timedelta(days=30)
    assert shown.statement is not None
    assert len(audited(fed, "CAN", "receive-answer")) == 1


def test_transmission_to_a_third_party_is_refused_without_consent(
    fed: Federation, copy: tuple[str, str]
) -> None:
    _, can_doc = copy
    with fed["CAN"].db.read() as session:
        assert fed["CAN"].consents.permit_for(session, can_doc, "DEU", PURPOSE, fed.clock()) is None
    assert can_decides_release(fed, None) == {"third-party-consent-missing"}


def test_consented_release_is_permitted_once(fed: Federation, copy: tuple[str, str]) -> None:
    _, can_doc = copy
    consent_id = approved(fed, can_doc)
    consents = fed["CAN"].consents
    with fed["CAN"].db.write() as session:
        evidence = consents.permit_for(session, can_doc, "DEU", PURPOSE, fed.clock())
        assert evidence is not None
        assert evidence.consent_id == consent_id
        assert can_decides_release(fed, evidence.consent_id) == frozenset()
        event = consents.use(session, evidence, fed.officer("CAN"), fed.clock())
        assert (event.action, event.object) == ("use", f"consent:{consent_id}")
    with fed["CAN"].db.read() as session:
        row = session.get(Consent, consent_id)
        assert row is not None
        assert (row.state, row.used_at) == ("used", fed.clock())
        assert consents.permit_for(session, can_doc, "DEU", PURPOSE, fed.clock()) is None


def test_consent_used_twice_is_refused(fed: Federation, copy: tuple[str, str]) -> None:
    _, can_doc = copy
    approved(fed, can_doc)
    consents = fed["CAN"].consents
    with fed["CAN"].db.write() as session:
        evidence = consents.permit_for(session, can_doc, "DEU", PURPOSE, fed.clock())
        assert evidence is not None
        consents.use(session, evidence, fed.officer("CAN"), fed.clock())
    with fed["CAN"].db.write() as session, pytest.raises(ConsentRefused) as caught:
        consents.use(session, evidence, fed.officer("CAN"), fed.clock())
    assert caught.value.reason is ConsentRefusal.ALREADY_USED


def test_consent_for_another_party_or_purpose_does_not_permit(
    fed: Federation, copy: tuple[str, str]
) -> None:
    _, can_doc = copy
    approved(fed, can_doc)
    consents, now = fed["CAN"].consents, fed.clock()
    with fed["CAN"].db.read() as session:
        assert consents.permit_for(session, can_doc, "USA", PURPOSE, now) is None
        assert consents.permit_for(session, can_doc, "DEU", "research", now) is None
        assert consents.permit_for(session, can_doc, "DEU", PURPOSE, now) is not None


def test_expired_consent_does_not_permit(fed: Federation, copy: tuple[str, str]) -> None:
    _, can_doc = copy
    consent_id = approved(fed, can_doc, expires_at=T0 + timedelta(days=2))
    fed.clock.advance(days=2)
    with fed["CAN"].db.read() as session:
        assert fed["CAN"].consents.permit_for(session, can_doc, "DEU", PURPOSE, fed.clock()) is None
    shown = fed["CAN"].consents.list(fed.officer("CAN"), state="expired")
    assert [c.id for c in shown] == [consent_id]


def test_denied_request_permits_nothing(fed: Federation, copy: tuple[str, str]) -> None:
    _, can_doc = copy
    consent_id = request(fed, can_doc)
    fed.deliver()
    fed["KOR"].consents.deny(fed.officer("KOR"), consent_id, conditions="not to DEU")
    fed.deliver()
    assert fed["CAN"].consents.show(fed.officer("CAN"), consent_id).state == "denied"
    with fed["CAN"].db.read() as session:
        assert fed["CAN"].consents.permit_for(session, can_doc, "DEU", PURPOSE, fed.clock()) is None
    with pytest.raises(Conflict):
        fed["KOR"].consents.approve(fed.officer("KOR"), consent_id)


def test_only_an_nsa_officer_answers_a_request(fed: Federation, copy: tuple[str, str]) -> None:
    _, can_doc = copy
    consent_id = request(fed, can_doc)
    fed.deliver()
    reader = fed.officer("KOR", "reader", Role.READER)
    with pytest.raises(Forbidden):
        fed["KOR"].consents.approve(reader, consent_id)
    assert len(audited(fed, "KOR", "approve", "deny")) == 1
    assert fed["KOR"].consents.show(fed.officer("KOR"), consent_id).state == "requested"


def test_request_for_a_party_of_the_agreement_is_refused(
    fed: Federation, copy: tuple[str, str]
) -> None:
    _, can_doc = copy
    with pytest.raises(InputError):
        request(fed, can_doc, to="KOR")


def test_answer_signed_by_another_peer_is_refused(fed: Federation, copy: tuple[str, str]) -> None:
    # DEU, a pinned peer of CAN, answers CAN's request to KOR with a consent of its own
    _, can_doc = copy
    consent_id = request(fed, can_doc)
    deu = fed["DEU"]
    assert deu.keys is not None
    token = sign_message(
        deu.keys.signing,
        sender="cix-deu",
        audience="cix-can",
        url=URL,
        agreement="can-deu",
        kind="consent-answer",
        body={"type": ANSWER_TYPE, "consent_id": consent_id, "statement": "x.y.z"},
        message_id=new_message_id(),
        issued_at=fed.clock(),
    )
    reply = fed.receive(fed["CAN"], token)
    assert (reply.status, reply.body) == (403, {"refused": "consent-answer-not-from-originator"})
    refused = [e for e in fed.audits["CAN"].events if e.decision == "deny"]
    assert [e.reasons for e in refused] == [("consent-answer-not-from-originator",)]
    assert fed["CAN"].consents.show(fed.officer("CAN"), consent_id).state == "requested"


def test_request_about_a_document_the_requester_was_never_sent_is_refused(
    fed: Federation, copy: tuple[str, str]
) -> None:
    _, can_doc = copy
    request(fed, can_doc)
    with fed["CAN"].db.read() as session:
        item = session.scalars(select(OutboxItem)).one()
        body = dict(item.body)
    body["document_id"] = "0" * 32
    can = fed["CAN"]
    assert can.keys is not None
    token = sign_message(
        can.keys.signing,
        sender="cix-can",
        audience="cix-kor",
        url=URL,
        agreement="kor-can",
        kind="consent-request",
        body=body,
        message_id=new_message_id(),
        issued_at=fed.clock(),
    )
    reply = fed.receive(fed["KOR"], token)
    assert reply.body == {"refused": "document-not-originated-here"}
    assert fed["KOR"].consents.list(fed.officer("KOR")) == []


def test_third_party_receives_the_chain_and_a_second_copy_is_refused(
    fed: Federation, copy: tuple[str, str]
) -> None:
    kor_doc, can_doc = copy
    consent_id = approved(fed, can_doc)
    can, deu = fed["CAN"], fed["DEU"]
    with can.db.write() as session:
        evidence = can.consents.permit_for(session, can_doc, "DEU", PURPOSE, fed.clock())
        assert evidence is not None
        body = {CHAIN_FIELD: can.consents.chain_for(session, evidence)}
        can.consents.use(session, evidence, fed.officer("CAN"), fed.clock())
    with deu.db.write() as session:
        found = pinned_peer(session, "cix-can")
        assert found is not None
        chain = deu.consents.accept_chain(
            session,
            body[CHAIN_FIELD],
            releasing_peer=found[0],
            document_id=kor_doc,
            purpose=PURPOSE,
            now=fed.clock(),
        )
        assert (chain.originator.party, chain.releasing_node) == ("KOR", "cix-can")
        assert chain.consent_id == consent_id
        # what the receive handler records on the copy

        session.add(document_row("d" * 32, originator="KOR", now=fed.clock(), title="hull"))
        session.flush()
        session.add(
            ReceivedCopy(
                document_id="d" * 32,
                message_id=new_message_id(),
                originator_party=chain.originator.party,
                originator_document_id=kor_doc,
                copy_number=1,
                received_from="cix-can",
                releasing_party="CAN",
                agreement="can-deu",
                purpose=PURPOSE,
                consent=str(chain.to_json()),
                consent_id=chain.consent_id,
                received_at=fed.clock(),
            )
        )
    with deu.db.read() as session, pytest.raises(ConsentRefused) as caught:
        deu.consents.accept_chain(
            session,
            body[CHAIN_FIELD],
            releasing_peer=found[0],
            document_id=kor_doc,
            purpose=PURPOSE,
            now=fed.clock(),
        )
    assert caught.value.reason is ConsentRefusal.ALREADY_USED


def test_copy_without_originator_consent_chain_is_refused(
    fed: Federation, copy: tuple[str, str]
) -> None:
    kor_doc, _ = copy
    deu = fed["DEU"]
    with deu.db.read() as session:
        found = pinned_peer(session, "cix-can")
        assert found is not None
        with pytest.raises(ConsentRefused) as caught:
            deu.consents.accept_chain(
                session,
                None,
                releasing_peer=found[0],
                document_id=kor_doc,
                purpose=PURPOSE,
                now=fed.clock(),
            )
    assert caught.value.reason is ConsentRefusal.CHAIN_MISSING


def transmission_at_deu(fed: Federation, body: dict[str, Any]) -> Message:
    """The transmission CAN sends DEU, as DEU's inbox hands it to the receive handler."""
    return Message(
        sender="cix-can",
        audience="cix-deu",
        url="/federation/v1/documents",
        issued_at=fed.clock(),
        message_id=new_message_id(),
        agreement="can-deu",
        kind="transmission",
        body=body,
        token="",
    )


def test_transmit_check_without_consent_is_refused_and_audited(
    fed: Federation, copy: tuple[str, str]
) -> None:
    _, can_doc = copy
    consent_id = request(fed, can_doc)  # asked, not yet answered
    can = fed["CAN"]
    with can.db.write() as session, pytest.raises(DocumentRefused):
        can.consents.transmit_check(
            session, fed.officer("CAN"), can_doc, "DEU", PURPOSE, consent_id
        )
    (refused,) = audited(fed, "CAN", "use", "deny")
    assert refused.reasons == ("third-party-consent-missing",)


def test_transmit_check_hands_the_chain_that_receive_check_accepts(
    fed: Federation, copy: tuple[str, str]
) -> None:
    kor_doc, can_doc = copy
    consent_id = approved(fed, can_doc)
    can, deu = fed["CAN"], fed["DEU"]
    with can.db.write() as session:
        extra = can.consents.transmit_check(
            session, fed.officer("CAN"), can_doc, "DEU", PURPOSE, consent_id
        )
    assert set(extra) == {CHAIN_FIELD}
    assert len(audited(fed, "CAN", "use")) == 1
    body = {"document": kor_doc, "purpose": PURPOSE, "consent": consent_id, **extra}
    with deu.db.read() as session:
        evidence = deu.consents.receive_check(
            session, transmission_at_deu(fed, body), kor_label(fed)
        )
    assert (evidence.originator.party, evidence.releasing_node) == ("KOR", "cix-can")
    kor_keys = fed["KOR"].keys
    assert kor_keys is not None
    assert evidence.originator.signing_key.kid == kor_keys.verify_key.kid
    # the same consent cannot serve a second transmission
    with can.db.write() as session, pytest.raises(DocumentRefused):
        can.consents.transmit_check(
            session, fed.officer("CAN"), can_doc, "DEU", PURPOSE, consent_id
        )


def test_receive_check_refuses_a_transmission_without_chain(
    fed: Federation, copy: tuple[str, str]
) -> None:
    kor_doc, _ = copy
    body = {"document": kor_doc, "purpose": PURPOSE, "consent": None}
    with fed["DEU"].db.read() as session, pytest.raises(ConsentRefused) as caught:
        fed["DEU"].consents.receive_check(session, transmission_at_deu(fed, body), kor_label(fed))
    assert caught.value.reason is ConsentRefusal.CHAIN_MISSING


def test_receive_check_refuses_a_chain_for_another_purpose(
    fed: Federation, copy: tuple[str, str]
) -> None:
    kor_doc, can_doc = copy
    consent_id = approved(fed, can_doc)
    can = fed["CAN"]
    with can.db.write() as session:
        extra = can.consents.transmit_check(
            session, fed.officer("CAN"), can_doc, "DEU", PURPOSE, consent_id
        )
    body = {"document": kor_doc, "purpose": "research", **extra}
    with fed["DEU"].db.read() as session, pytest.raises(ConsentRefused) as caught:
        fed["DEU"].consents.receive_check(session, transmission_at_deu(fed, body), kor_label(fed))
    assert caught.value.reason is ConsentRefusal.OTHER_PURPOSE
