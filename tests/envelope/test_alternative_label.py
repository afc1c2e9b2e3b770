"""Alternative labels (rule 5): a receiving party adds its own equivalent marking as a second
assertion signed by itself; the payload, the key access and the originator's label stay as
they were, and every open verifies each alternative label it finds.

The labels are real: a Korean SECRET (군사Ⅱ급비밀) label of the kor-can agreement and its
Canadian marking `SECRET//CPSP//REL TO CAN, KOR//ORIGINATOR KOR`, as `cix.labels` builds
them. Where an attack needs an object no honest writer makes, the test signs it with the
attacker's key through the envelope's own signing code (`sign_binding`).
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cix import envelope
from cix.agreements import bundled, bundled_registry
from cix.envelope import ManifestCache, ObjectRefused, RefusalReason, UnlabelledObject
from cix.envelope._assertion import alternative_assertion, label_assertion, sign_binding
from cix.envelope._manifest import b64, canonical, kao_info, policy_binding
from cix.errors import InputError, Refused
from cix.keys import KemPrivateKey, SigningKey, VerifyKey, generate_signing
from cix.labels import Label, alternative_label, alternative_to_json, make_label, to_4774_xml
from tests.envelope.helpers import Audit, members, open_bytes, rezip, seal_bytes

KOR_CAN = bundled("kor-can")
REGISTRY = bundled_registry()
DATA = os.urandom(3000)
SEGMENT = 1000


def _korean(classification: str, programmes: frozenset[str] = frozenset({"CPSP"})) -> Label:
    return make_label(
        KOR_CAN,
        originator="KOR",
        classification=classification,
        releasable_to={"KOR", "CAN"},
        programmes=set(programmes),
        created=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        registry=REGISTRY,
    )


SECRET = _korean("군사Ⅱ급비밀")
CONFIDENTIAL = _korean("군사Ⅲ급비밀")
CAN_SECRET = alternative_label(SECRET, KOR_CAN, "CAN")


@pytest.fixture(scope="module")
def canada() -> SigningKey:
    """The Canadian node's signing key (it adds Canada's alternative labels)."""
    return generate_signing()


@pytest.fixture(scope="module")
def britain() -> SigningKey:
    """A third party's signing key, trusted for its own labels only."""
    return generate_signing()


def _trusted(
    korea: SigningKey, canada: SigningKey, britain: SigningKey | None = None
) -> dict[str, list[VerifyKey]]:
    trusted = {"KOR": [korea.public], "CAN": [canada.public]}
    if britain is not None:
        trusted["GBR"] = [britain.public]
    return trusted


def _seal(alice: KemPrivateKey, korea: SigningKey, label: Label = SECRET, **kw: Any) -> bytes:
    return seal_bytes(
        DATA,
        [alice.public],
        korea,
        label_json=label.to_json(),
        label_xml=to_4774_xml(label, REGISTRY),
        segment_size=SEGMENT,
        **kw,
    )


def _add(
    blob: bytes,
    alice: KemPrivateKey,
    trusted: Mapping[str, list[VerifyKey]],
    signer: SigningKey,
    *,
    label_json: Mapping[str, Any] | None = None,
    label_xml: bytes | None = None,
    **kw: Any,
) -> bytes:
    out = io.BytesIO()
    envelope.add_alternative_label(
        io.BytesIO(blob),
        out,
        private_key=alice,
        trusted_signers=trusted,
        label_json=alternative_to_json(CAN_SECRET) if label_json is None else label_json,
        label_xml=to_4774_xml(CAN_SECRET, REGISTRY) if label_xml is None else label_xml,
        signer=signer,
        **kw,
    )
    return out.getvalue()


def _refusal(blob: bytes, alice: KemPrivateKey, trusted: Mapping[str, Any], **kw: Any) -> Any:
    """The refusal an open of `blob` ends in; fails the test if it opened."""
    audit = Audit()
    with pytest.raises(ObjectRefused) as refused:
        open_bytes(blob, alice, trusted, audit, **kw)
    assert str(refused.value) == str(Refused())  # opaque: nothing of the reason shown
    assert len(audit.reasons) == 1
    return audit.reasons[0]


def _alternatives(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [a for a in doc["assertions"] if a["id"].startswith("cix-alternative-label-")]


def _hand_made(party: str, label: Label = SECRET, classification: str = "S") -> dict[str, Any]:
    """An alternative label JSON of `party` for `label`, for parties the agreement lacks."""
    return {"classification": classification, "label": label.to_json(), "party": party}


@pytest.fixture(scope="module")
def sealed(alice: KemPrivateKey, signer: SigningKey) -> bytes:
    return _seal(alice, signer)


@pytest.fixture(scope="module")
def marked(sealed: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey) -> bytes:
    """`sealed` with Canada's alternative label added by the Canadian node."""
    return _add(sealed, alice, _trusted(signer, canada), canada)


# --- what is written --------------------------------------------------------------------


def test_alternative_label_opens_with_both_labels_verified(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    plain, opened = open_bytes(marked, alice, _trusted(signer, canada))
    assert plain == DATA
    assert opened.label_json == SECRET.to_json()  # the originator's, as sealed
    assert opened.signer_kid == signer.kid
    (alternative,) = opened.alternative_labels
    assert alternative.party == "CAN"
    assert alternative.label_json == alternative_to_json(CAN_SECRET)
    assert alternative.label_xml == to_4774_xml(CAN_SECRET, REGISTRY)
    assert alternative.signer_kid == canada.kid


def test_payload_bytes_unchanged_after_adding(sealed: bytes, marked: bytes) -> None:
    before, payload_before = members(sealed)
    after, payload_after = members(marked)
    assert payload_after == payload_before
    enc_before, enc_after = before["encryptionInformation"], after["encryptionInformation"]
    assert enc_after == enc_before  # key access, policy, segments, root signature
    # The originator's assertion, its signature included, is the very same.
    assert after["assertions"][0] == before["assertions"][0]
    assert [a["id"] for a in after["assertions"]] == ["cix-label", "cix-alternative-label-CAN"]
    assert {k: v for k, v in after.items() if k != "assertions"} == {
        k: v for k, v in before.items() if k != "assertions"
    }


def test_object_without_alternative_labels_opens_with_none(
    sealed: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    assert open_bytes(sealed, alice, [signer.public])[1].alternative_labels == ()


def test_inspect_shows_the_alternative_label_unverified(marked: bytes, canada: SigningKey) -> None:
    summary = envelope.inspect(marked)
    assert summary["verified"] is False
    assert summary["alternativeLabels"] == [
        {"party": "CAN", "label": alternative_to_json(CAN_SECRET), "signerKid": canada.kid}
    ]


def test_rewrap_keeps_and_verifies_the_alternative_label(
    marked: bytes, alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    out = io.BytesIO()
    envelope.rewrap(
        io.BytesIO(marked),
        out,
        private_key=alice,
        to=[bob.public],
        trusted_signers=_trusted(signer, canada),
    )
    plain, opened = open_bytes(out.getvalue(), bob, _trusted(signer, canada))
    assert plain == DATA
    assert [a.party for a in opened.alternative_labels] == ["CAN"]


def test_expected_label_is_still_the_originators(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    trusted = _trusted(signer, canada)
    assert open_bytes(marked, alice, trusted, expected_label=SECRET.to_json())[0] == DATA
    refusal = _refusal(marked, alice, trusted, expected_label=alternative_to_json(CAN_SECRET))
    assert refusal.reason is RefusalReason.LABEL_MISMATCH


# --- the caller's own mistakes ------------------------------------------------------------


def test_adding_needs_a_signer_trusted_for_the_party(
    sealed: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    # Korea's key is trusted, but not for Canada's labels: the copy would not open.
    with pytest.raises(InputError, match="trusted for CAN"):
        _add(sealed, alice, _trusted(signer, canada), signer)


def test_adding_an_alternative_of_another_label_is_an_input_error(
    sealed: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    other = alternative_label(CONFIDENTIAL, KOR_CAN, "CAN")
    with pytest.raises(InputError, match="not of this object's label"):
        _add(
            sealed,
            alice,
            _trusted(signer, canada),
            canada,
            label_json=alternative_to_json(other),
            label_xml=to_4774_xml(other, REGISTRY),
        )


def test_the_originator_adds_no_alternative_of_its_own(
    sealed: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    with pytest.raises(InputError, match="originator"):
        _add(sealed, alice, _trusted(signer, canada), signer, label_json=_hand_made("KOR"))


def test_an_unlabelled_object_gets_no_alternative_label(
    alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    sealed = _seal(alice, signer)
    doc, payload = members(sealed)
    del doc["assertions"]
    policy = json.loads(base64.b64decode(doc["encryptionInformation"]["policy"]))
    del policy["body"]["cix"]
    unlabelled = _rebind(rezip(doc, payload), alice, policy)
    with pytest.raises(UnlabelledObject):
        _add(unlabelled, alice, _trusted(signer, canada), canada)


def test_adding_to_a_tampered_object_is_refused_and_audited(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    doc, payload = members(marked)
    doc["assertions"][1]["statement"]["value"] += " "
    audit = Audit()
    with pytest.raises(ObjectRefused):
        _add(rezip(doc, payload), alice, _trusted(signer, canada), canada, audit_hook=audit)
    assert audit.only is RefusalReason.ASSERTION_BINDING_MISMATCH


# --- attacks -------------------------------------------------------------------------------


def _forged(
    blob: bytes,
    attacker: SigningKey,
    label_json: Mapping[str, Any],
    *,
    party: str = "CAN",
    xml: str = "<alternativeConfidentialityLabel/>",
) -> bytes:
    """`blob` with an alternative label of `party` signed (validly) by `attacker`'s key."""
    doc, payload = members(blob)
    assertion = alternative_assertion(party, xml, label_json)
    kept = [a for a in doc["assertions"] if a["id"] != assertion["id"]]
    doc["assertions"] = [*kept, assertion]
    tags = [
        base64.b64decode(s["hash"])
        for s in doc["encryptionInformation"]["integrityInformation"]["segments"]
    ]
    assertion["binding"] = sign_binding(doc, assertion, tags, attacker)
    return rezip(canonical(doc), payload)


def test_alternative_label_signed_by_another_party_is_refused(
    sealed: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    # Korea's key is trusted (for Korea's labels): it may not mark for Canada.
    forged = _forged(sealed, signer, alternative_to_json(CAN_SECRET))
    refusal = _refusal(forged, alice, _trusted(signer, canada))
    assert refusal.reason is RefusalReason.SIGNER_NOT_ORIGINATOR
    assert "alternative label of CAN" in refusal.detail


def test_alternative_label_signed_by_an_untrusted_key_is_refused(
    sealed: bytes,
    alice: KemPrivateKey,
    signer: SigningKey,
    canada: SigningKey,
    stranger: SigningKey,
) -> None:
    forged = _forged(sealed, stranger, alternative_to_json(CAN_SECRET))
    refusal = _refusal(forged, alice, _trusted(signer, canada))
    assert refusal.reason is RefusalReason.UNKNOWN_SIGNER


def test_originator_label_swap_under_alternative_is_detected(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    # Korea (whose key signs Korea's labels) rewrites its label to CONFIDENTIAL under
    # Canada's SECRET marking, re-signing its own assertion: a valid originator label.
    doc, payload = members(marked)
    policy = json.loads(base64.b64decode(doc["encryptionInformation"]["policy"]))
    policy["body"]["cix"]["label"] = CONFIDENTIAL.to_json()
    doc["assertions"][0] = label_assertion(to_4774_xml(CONFIDENTIAL, REGISTRY).decode())
    swapped = _relabel(rezip(doc, payload), alice, policy, signer)
    # Its label alone verifies (without Canada's assertion the object opens) ...
    stripped, stripped_payload = members(swapped)
    stripped["assertions"] = stripped["assertions"][:1]
    alone = open_bytes(rezip(stripped, stripped_payload), alice, _trusted(signer, canada))[1]
    assert alone.label_json == CONFIDENTIAL.to_json()
    # ... so it is Canada's alternative label that refuses the swap.
    refusal = _refusal(swapped, alice, _trusted(signer, canada))
    assert refusal.reason is RefusalReason.ASSERTION_BINDING_MISMATCH
    assert "alternative label" in refusal.detail


def test_alternative_label_moved_to_another_object_is_refused(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    # Another object with the same label and the same plaintext: only the binding differs.
    other, payload = members(_seal(alice, signer))
    other["assertions"].append(_alternatives(members(marked)[0])[0])
    refusal = _refusal(rezip(other, payload), alice, _trusted(signer, canada))
    assert refusal.reason is RefusalReason.ASSERTION_BINDING_MISMATCH
    assert "does not belong to this object" in refusal.detail


def test_alternative_label_of_other_originator_label_is_refused(
    sealed: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    # Canada signs, bound to this object, a marking of another label (CONFIDENTIAL): its
    # signature and binding verify, the label inside is not this object's.
    other = alternative_label(CONFIDENTIAL, KOR_CAN, "CAN")
    forged = _forged(sealed, canada, alternative_to_json(other))
    refusal = _refusal(forged, alice, _trusted(signer, canada))
    assert refusal.reason is RefusalReason.ASSERTION_BINDING_MISMATCH
    assert "not of this object's originator label" in refusal.detail


def test_alternative_label_of_the_originators_own_party_is_refused(
    sealed: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    forged = _forged(sealed, signer, _hand_made("KOR"), party="KOR")
    refusal = _refusal(forged, alice, _trusted(signer, canada))
    assert refusal.reason is RefusalReason.ASSERTION_BINDING_MISMATCH
    assert "originator's own" in refusal.detail


def test_alternative_label_whose_id_names_another_party_is_refused(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    doc, payload = members(marked)
    doc["assertions"][1]["id"] = "cix-alternative-label-GBR"
    refusal = _refusal(rezip(doc, payload), alice, _trusted(signer, canada))
    assert refusal.reason is RefusalReason.MALFORMED_OBJECT


def test_alternative_label_renamed_out_of_its_kind_breaks_the_originators_binding(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    # Renamed so that no reader takes it for an alternative label, it is an assertion the
    # originator's signature covers, and did not sign.
    doc, payload = members(marked)
    doc["assertions"][1]["id"] = "cix-alternative-labels"
    refusal = _refusal(rezip(doc, payload), alice, _trusted(signer, canada))
    assert refusal.reason is RefusalReason.ASSERTION_BINDING_MISMATCH
    assert "signed label does not belong" in refusal.detail


def test_originator_label_stripped_under_alternative_is_refused(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    doc, payload = members(marked)
    doc["assertions"] = doc["assertions"][1:]
    refusal = _refusal(rezip(doc, payload), alice, _trusted(signer, canada))
    assert refusal.reason is RefusalReason.ASSERTION_MISSING


def test_two_alternative_labels_of_one_party_are_refused(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    doc, payload = members(marked)
    doc["assertions"].append(doc["assertions"][1])
    refusal = _refusal(rezip(doc, payload), alice, _trusted(signer, canada))
    assert refusal.reason is RefusalReason.MALFORMED_OBJECT


def test_forged_alternative_label_is_refused_by_range_reads_and_rewrap(
    sealed: bytes, alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    forged = _forged(sealed, signer, alternative_to_json(CAN_SECRET))
    trusted = _trusted(signer, canada)
    audit = Audit()
    with pytest.raises(ObjectRefused):
        envelope.open_range(
            forged,
            io.BytesIO(),
            start=0,
            length=10,
            private_key=alice,
            trusted_signers=trusted,
            audit_hook=audit,
        )
    with pytest.raises(ObjectRefused):
        envelope.rewrap(
            io.BytesIO(forged),
            io.BytesIO(),
            private_key=alice,
            to=[bob.public],
            trusted_signers=trusted,
            audit_hook=audit,
        )
    assert [r.reason for r in audit.reasons] == [RefusalReason.SIGNER_NOT_ORIGINATOR] * 2


def test_range_read_gives_the_verified_alternative_labels(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    out = io.BytesIO()
    opened = envelope.open_range(
        marked,
        out,
        start=1500,
        length=100,
        private_key=alice,
        trusted_signers=_trusted(signer, canada),
    )
    assert out.getvalue() == DATA[1500:1600]
    assert [a.party for a in opened.alternative_labels] == ["CAN"]


# --- fast paths ------------------------------------------------------------------------------


def test_cached_manifest_verified_with_other_signers_still_checks_the_alternative(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    cache = ManifestCache(8)
    first = open_bytes(marked, alice, _trusted(signer, canada), manifest_cache=cache)[1]
    assert [a.party for a in first.alternative_labels] == ["CAN"]
    again = open_bytes(
        marked, alice, _trusted(signer, canada), manifest_cache=cache, known=first.known
    )[1]
    assert again.alternative_labels == first.alternative_labels
    # The same bytes, cached and known, under signers that do not trust Canada's key, or
    # trust it for another party only: refused every time.
    for trusted, reason in (
        ({"KOR": [signer.public]}, RefusalReason.UNKNOWN_SIGNER),
        (
            {"KOR": [signer.public], "GBR": [canada.public]},
            RefusalReason.SIGNER_NOT_ORIGINATOR,
        ),
    ):
        for _ in range(2):
            refusal = _refusal(marked, alice, trusted, manifest_cache=cache, known=first.known)
            assert refusal.reason is reason


# --- re-marking --------------------------------------------------------------------------------


def test_readding_alternative_label_replaces_the_same_party(
    marked: bytes,
    alice: KemPrivateKey,
    signer: SigningKey,
    canada: SigningKey,
    britain: SigningKey,
) -> None:
    trusted = _trusted(signer, canada, britain)
    with_gbr = _add(marked, alice, trusted, britain, label_json=_hand_made("GBR"))
    # Canada re-marks (say its equivalence table changed): its earlier marking goes.
    remarked = _add(
        with_gbr,
        alice,
        trusted,
        canada,
        label_json=_hand_made("CAN", classification="TS"),
        label_xml=b"<alternativeConfidentialityLabel>TOP SECRET</alternativeConfidentialityLabel>",
    )
    doc, payload = members(remarked)
    assert [a["id"] for a in doc["assertions"]] == [
        "cix-label",
        "cix-alternative-label-GBR",
        "cix-alternative-label-CAN",
    ]
    assert payload == members(marked)[1]
    opened = open_bytes(remarked, alice, trusted)[1]
    by_party = {a.party: a for a in opened.alternative_labels}
    assert set(by_party) == {"CAN", "GBR"}
    assert by_party["CAN"].label_json["classification"] == "TS"
    assert by_party["GBR"].signer_kid == britain.kid


@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["CAN", "GBR", "DEU"]), st.sampled_from(["S", "TS", "C"])),
        min_size=1,
        max_size=5,
    )
)
def test_any_sequence_of_markings_leaves_the_last_of_each_party(
    sealed: bytes,
    alice: KemPrivateKey,
    signer: SigningKey,
    canada: SigningKey,
    britain: SigningKey,
    steps: list[tuple[str, str]],
) -> None:
    keys = {"CAN": canada, "GBR": britain, "DEU": signer_of_germany()}
    trusted: dict[str, list[VerifyKey]] = {"KOR": [signer.public]} | {
        party: [key.public] for party, key in keys.items()
    }
    blob = sealed
    for party, code in steps:
        blob = _add(blob, alice, trusted, keys[party], label_json=_hand_made(party, SECRET, code))
    plain, opened = open_bytes(blob, alice, trusted)
    assert plain == DATA
    assert members(blob)[1] == members(sealed)[1]
    assert opened.label_json == SECRET.to_json()
    expected = dict(steps)  # the last classification each party gave
    found = {a.party: a.label_json["classification"] for a in opened.alternative_labels}
    assert found == expected
    assert all(a.signer_kid == keys[a.party].kid for a in opened.alternative_labels)


_GERMANY: list[SigningKey] = []


def signer_of_germany() -> SigningKey:
    """One more party's key, made once (hypothesis examples share it)."""
    if not _GERMANY:
        _GERMANY.append(generate_signing())
    return _GERMANY[0]


# --- every byte of the new assertion -------------------------------------------------------------


def test_every_byte_change_in_the_alternative_label_is_refused(
    marked: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    # As test_tamper.py does for the whole manifest: each byte of the alternative label's
    # assertion flipped in its low bit and in its high bit, in a fresh well-formed ZIP.
    with_members = members(marked)
    manifest = canonical(with_members[0])
    (assertion,) = _alternatives(with_members[0])
    text = canonical(assertion)
    start = manifest.index(text)
    trusted = _trusted(signer, canada)
    reasons: Counter[RefusalReason] = Counter()
    for i in range(start, start + len(text)):
        for bit in (0x01, 0x80):
            changed = bytearray(manifest)
            changed[i] ^= bit
            reasons[_refusal(rezip(bytes(changed), with_members[1]), alice, trusted).reason] += 1
    assert sum(reasons.values()) == 2 * len(text)
    # The cryptographic guards are reached, not only the parser.
    assert reasons[RefusalReason.ASSERTION_BINDING_MISMATCH] > 0
    assert reasons[RefusalReason.ASSERTION_SIGNATURE_INVALID] > 0
    assert reasons[RefusalReason.MALFORMED_OBJECT] > 0


# --- helpers that need the payload key (an attacker holding a recipient's key) ---------------


def _payload_key(doc: Mapping[str, Any], alice: KemPrivateKey) -> bytes:
    (kao,) = doc["encryptionInformation"]["keyAccess"]
    return alice.unwrap(base64.b64decode(kao["wrappedKey"]), kao_info(kao))


def _rebind(
    blob: bytes,
    alice: KemPrivateKey,
    policy: Mapping[str, Any],
    then: Callable[[dict[str, Any]], None] | None = None,
) -> bytes:
    """`blob` with `policy` in place of its own, the policy binding recomputed."""
    doc, payload = members(blob)
    key = _payload_key(doc, alice)
    enc = doc["encryptionInformation"]
    enc["policy"] = b64(canonical(dict(policy)))
    enc["keyAccess"][0]["policyBinding"]["hash"] = policy_binding(key, enc["policy"])
    if then is not None:
        then(doc)
    return rezip(canonical(doc), payload)


def _relabel(
    blob: bytes, alice: KemPrivateKey, policy: Mapping[str, Any], korea: SigningKey
) -> bytes:
    """`blob` with `policy` bound in, and its label assertion re-signed by `korea`."""

    def resign(doc: dict[str, Any]) -> None:
        tags = [
            base64.b64decode(s["hash"])
            for s in doc["encryptionInformation"]["integrityInformation"]["segments"]
        ]
        label = doc["assertions"][0]
        label.pop("binding", None)
        label["binding"] = sign_binding(doc, label, tags, korea)

    return _rebind(blob, alice, policy, resign)
