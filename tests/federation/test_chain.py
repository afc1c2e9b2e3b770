"""The consented-release chain a third party checks: KOR's consent and identity, vouched
for by the releasing peer CAN that the third party DEU has pinned."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cix.federation import add_voucher, read_identity
from cix.federation.chain import ChainEvidence, chain_for_transmission, check_third_party_chain
from cix.federation.consent import ConsentRefusal, ConsentRefused
from tests.federation.consent_support import T0, make_test_node, release_request, signed_consent

KOR = make_test_node("KOR", ("kor-can",))
CAN = make_test_node("CAN", ("kor-can", "can-deu"))
USA = make_test_node("USA", ("can-usa",))
NOW = T0 + timedelta(days=1)


def chain(consent: str | None = None, *, voucher: Any = CAN, identity: str | None = None) -> Any:
    return chain_for_transmission(
        consent=consent or signed_consent(KOR.signer),
        originator_identity=identity or KOR.document,
        releasing_node=voucher.identity.node_id,
        signer=voucher.signer,
    )


def check(body: Any, **overrides: Any) -> ChainEvidence:
    args: dict[str, Any] = {
        "releasing_peer": CAN.pinned("can-deu"),
        "document_id": "d0c",
        "to_party": "DEU",
        "purpose": "defence-procurement",
        "now": NOW,
    }
    args.update(overrides)
    return check_third_party_chain(body, **args)


def refusal(body: Any, **overrides: Any) -> ConsentRefusal:
    with pytest.raises(ConsentRefused) as caught:
        check(body, **overrides)
    return caught.value.reason


def test_chain_names_kor_as_originator_and_can_as_releasing_node() -> None:
    evidence = check(chain())
    assert evidence.originator.party == "KOR"
    assert evidence.releasing_node == "cix-can"
    assert evidence.consent_id == "c-1"
    assert evidence.originator_key("KOR").kid == KOR.signer.kid
    recorded = evidence.to_json()
    assert recorded["originator_node"] == "cix-kor"
    assert recorded["releasing_node"] == "cix-can"


def test_copy_without_originator_consent_chain_is_refused() -> None:
    assert refusal(None) is ConsentRefusal.CHAIN_MISSING


def test_chain_without_consent_is_refused() -> None:
    body = chain()
    del body["consent"]
    assert refusal(body) is ConsentRefusal.CHAIN_MALFORMED


def test_chain_vouched_by_unpinned_node_is_refused() -> None:
    # a node DEU never pinned (USA) vouches for KOR; the copy comes from CAN
    assert refusal(chain(voucher=USA)) is ConsentRefusal.VOUCHER_INVALID


def test_chain_with_a_voucher_in_the_peers_name_by_another_key_is_refused() -> None:
    forged = add_voucher(read_identity(KOR.document), "cix-can", USA.signer)
    body = chain_for_transmission(
        consent=signed_consent(KOR.signer),
        originator_identity=KOR.document,
        releasing_node="cix-can",
        signer=CAN.signer,
    )
    body["originator_identity"] = forged.document
    assert refusal(body) is ConsentRefusal.VOUCHER_INVALID


def test_consent_statement_swapped_between_documents_is_refused() -> None:
    other = signed_consent(KOR.signer, release_request("another-document"))
    assert refusal(chain(other)) is ConsentRefusal.OTHER_DOCUMENT


def test_chain_for_another_third_party_is_refused() -> None:
    assert refusal(chain(), to_party="USA") is ConsentRefusal.OTHER_PARTY


def test_chain_for_another_purpose_is_refused() -> None:
    assert refusal(chain(), purpose="research") is ConsentRefusal.OTHER_PURPOSE


def test_expired_consent_in_chain_is_refused() -> None:
    assert refusal(chain(), now=T0 + timedelta(days=31)) is ConsentRefusal.EXPIRED


def test_consent_signed_by_releasing_node_is_refused() -> None:
    # CAN forges KOR's consent with its own key and vouches for KOR's real identity
    assert refusal(chain(signed_consent(CAN.signer))) is ConsentRefusal.SIGNATURE_INVALID


def test_chain_trusts_the_releasing_peer_for_the_originators_identity() -> None:
    # What the voucher means: DEU trusts its pinned peer CAN for KOR's identity. A CAN that
    # made up a "KOR" of its own, consistently, is not detectable by DEU alone (the trust
    # model in docs/federation.md (the consent section)); the evidence keeps the key it vouched for.
    fake = make_test_node("KOR", ("kor-can",))
    token = signed_consent(fake.signer)
    evidence = check(chain(token, identity=fake.document))
    assert evidence.originator.signing_key.kid == fake.signer.kid != KOR.signer.kid


def test_label_of_another_originator_is_refused() -> None:
    evidence = check(chain())
    with pytest.raises(ConsentRefused) as caught:
        evidence.originator_key("USA")
    assert caught.value.reason is ConsentRefusal.ORIGINATOR_MISMATCH


def test_chain_whose_originator_is_the_releasing_node_is_refused() -> None:
    body = chain(identity=CAN.document)
    assert refusal(body) is ConsentRefusal.ORIGINATOR_MISMATCH


def test_consent_given_to_another_requester_is_refused() -> None:
    # KOR consented to a release by USA's node; CAN forwards it as if it were its own
    request = release_request()
    other = type(request)(**{**request.__dict__, "requester_node": "cix-usa"})
    assert refusal(chain(signed_consent(KOR.signer, other))) is ConsentRefusal.OTHER_REQUESTER
