"""The originator's signed consent permits exactly the act it names, and nothing else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cix.federation.consent import (
    ConsentAct,
    ConsentRefusal,
    ConsentRefused,
    check_consent,
    read_statement,
    request_from_json,
)
from tests.federation.consent_support import T0, make_test_node, release_request, signed_consent

KOR = make_test_node("KOR", ("kor-can",))
CAN = make_test_node("CAN", ("kor-can", "can-deu"))


def check(token: str, **overrides: Any) -> None:
    args: dict[str, Any] = {
        "originator_key": KOR.identity.signing_key,
        "document_id": "d0c",
        "act": ConsentAct.RELEASE,
        "to_party": "DEU",
        "purpose": "defence-procurement",
        "now": T0 + timedelta(days=1),
    }
    args.update(overrides)
    check_consent(token, **args)


def refusal(token: str, **overrides: Any) -> ConsentRefusal:
    with pytest.raises(ConsentRefused) as caught:
        check(token, **overrides)
    return caught.value.reason


def test_consent_permits_exactly_its_act() -> None:
    token = signed_consent(KOR.signer)
    check(token)
    statement = read_statement(token, originator_key=KOR.identity.signing_key)
    assert statement.consent_id == "c-1"
    assert statement.conditions == "no further release"


def test_consent_for_another_party_does_not_permit() -> None:
    token = signed_consent(KOR.signer)
    assert refusal(token, to_party="USA") is ConsentRefusal.OTHER_PARTY


def test_consent_for_another_purpose_does_not_permit() -> None:
    token = signed_consent(KOR.signer)
    assert refusal(token, purpose="research") is ConsentRefusal.OTHER_PURPOSE
    assert refusal(token, purpose=None) is ConsentRefusal.OTHER_PURPOSE


def test_consent_for_another_act_does_not_permit() -> None:
    token = signed_consent(KOR.signer)
    assert refusal(token, act=ConsentAct.PURPOSE) is ConsentRefusal.OTHER_ACT


def test_consent_statement_swapped_between_documents_is_refused() -> None:
    token = signed_consent(KOR.signer, release_request("other-doc"))
    assert refusal(token) is ConsentRefusal.OTHER_DOCUMENT


def test_expired_consent_does_not_permit() -> None:
    token = signed_consent(KOR.signer, days=2)
    check(token, now=T0 + timedelta(days=2) - timedelta(seconds=1))
    assert refusal(token, now=T0 + timedelta(days=2)) is ConsentRefusal.EXPIRED


def test_denied_consent_does_not_permit() -> None:
    token = signed_consent(KOR.signer, approved=False)
    assert refusal(token) is ConsentRefusal.DENIED


def test_consent_signed_by_requester_not_originator_is_refused() -> None:
    # CAN writes itself a consent naming KOR as the originator: KOR's key does not verify it
    forged = signed_consent(CAN.signer)
    assert refusal(forged) is ConsentRefusal.SIGNATURE_INVALID


def test_consent_given_to_another_requester_does_not_permit() -> None:
    token = signed_consent(KOR.signer)
    assert refusal(token, requester_node="cix-usa") is ConsentRefusal.OTHER_REQUESTER


def test_tampered_consent_is_refused() -> None:
    token = signed_consent(KOR.signer)
    header, payload, signature = token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    assert refusal(f"{header}.{flipped}.{signature}") in (
        ConsentRefusal.SIGNATURE_INVALID,
        ConsentRefusal.MALFORMED,
    )


def test_request_for_a_release_without_a_party_is_malformed() -> None:
    body = release_request().to_json()
    body["to_party"] = None
    with pytest.raises(ConsentRefused) as caught:
        request_from_json(body)
    assert caught.value.reason is ConsentRefusal.MALFORMED


def test_request_round_trips() -> None:
    request = release_request()
    assert request_from_json(request.to_json()) == request


@given(st.dictionaries(st.text(max_size=20), st.none() | st.text(max_size=20) | st.integers()))
def test_any_other_request_body_is_refused_as_malformed(body: dict[str, Any]) -> None:
    with pytest.raises(ConsentRefused) as caught:
        request_from_json(body)
    assert caught.value.reason is ConsentRefusal.MALFORMED


@given(st.sampled_from(sorted(release_request().to_json())), st.none() | st.integers() | st.text())
def test_a_request_with_one_field_changed_is_refused_or_parsed(name: str, value: Any) -> None:
    body = release_request().to_json()
    body[name] = value
    outcome: ConsentRefusal | dict[str, Any]
    try:
        outcome = request_from_json(body).to_json()
    except ConsentRefused as exc:
        outcome = exc.reason
    assert outcome in (ConsentRefusal.MALFORMED, body)
