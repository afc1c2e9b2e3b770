"""Named attacks on sealed objects: each is refused with one opaque error, and the audit hook
receives the specific reason."""

from __future__ import annotations

import base64
import copy
import json
import os
from typing import Any

import pytest

from cix.envelope import (
    RefusalReason,
)
from cix.envelope._manifest import canonical
from cix.errors import Refused
from cix.keys import KemPrivateKey, SigningKey
from tests.envelope.helpers import LABEL_JSON, Audit, members, open_bytes, rezip, seal_bytes

SEG = 16
ENC = SEG + 28


@pytest.fixture
def sealed(alice: KemPrivateKey, signer: SigningKey) -> tuple[bytes, bytes]:
    data = os.urandom(3 * SEG + 5)  # four segments, the last one short
    return data, seal_bytes(data, [alice.public], signer, segment_size=SEG)


def refused_reason(blob: bytes, key: KemPrivateKey, signer: SigningKey) -> RefusalReason:
    audit = Audit()
    with pytest.raises(Refused) as info:
        open_bytes(blob, key, [signer.public], audit)
    assert str(info.value) == str(Refused())  # the caller learns nothing more
    return audit.only


def segments(payload: bytes) -> list[bytes]:
    return [payload[i : i + ENC] for i in range(0, len(payload), ENC)]


def test_segment_reorder_is_detected(
    sealed: tuple[bytes, bytes], alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = members(sealed[1])
    s = segments(payload)
    tampered = rezip(manifest, s[1] + s[0] + s[2] + s[3])
    assert refused_reason(tampered, alice, signer) is RefusalReason.SEGMENT_HASH_MISMATCH


def test_segment_reorder_in_manifest_too_is_detected(
    sealed: tuple[bytes, bytes], alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = members(sealed[1])
    s = segments(payload)
    listed = manifest["encryptionInformation"]["integrityInformation"]["segments"]
    listed[0], listed[1] = listed[1], listed[0]
    tampered = rezip(manifest, s[1] + s[0] + s[2] + s[3])
    assert refused_reason(tampered, alice, signer) is RefusalReason.ROOT_SIGNATURE_MISMATCH


def test_segment_drop_is_detected(
    sealed: tuple[bytes, bytes], alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = members(sealed[1])
    s = segments(payload)
    assert refused_reason(rezip(manifest, s[0] + s[2] + s[3]), alice, signer) is (
        RefusalReason.PAYLOAD_LENGTH_MISMATCH
    )


def test_segment_drop_in_manifest_too_is_detected(
    sealed: tuple[bytes, bytes], alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = members(sealed[1])
    s = segments(payload)
    del manifest["encryptionInformation"]["integrityInformation"]["segments"][1]
    assert refused_reason(rezip(manifest, s[0] + s[2] + s[3]), alice, signer) is (
        RefusalReason.ROOT_SIGNATURE_MISMATCH
    )


def test_segment_duplicate_is_detected(
    sealed: tuple[bytes, bytes], alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = members(sealed[1])
    s = segments(payload)
    assert refused_reason(rezip(manifest, s[0] + s[0] + s[1] + s[2] + s[3]), alice, signer) is (
        RefusalReason.PAYLOAD_LENGTH_MISMATCH
    )


def test_segment_duplicate_replacing_another_is_detected(
    sealed: tuple[bytes, bytes], alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = members(sealed[1])
    s = segments(payload)
    assert refused_reason(rezip(manifest, s[0] + s[0] + s[2] + s[3]), alice, signer) is (
        RefusalReason.SEGMENT_HASH_MISMATCH
    )


def test_segment_append_is_detected(
    sealed: tuple[bytes, bytes], alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = members(sealed[1])
    s = segments(payload)
    assert refused_reason(rezip(manifest, payload + s[0]), alice, signer) is (
        RefusalReason.PAYLOAD_LENGTH_MISMATCH
    )


def test_segment_append_from_another_object_is_detected(
    sealed: tuple[bytes, bytes], alice: KemPrivateKey, signer: SigningKey
) -> None:
    other = seal_bytes(os.urandom(SEG), [alice.public], signer, segment_size=SEG)
    manifest, payload = members(sealed[1])
    other_manifest, other_payload = members(other)
    listed = manifest["encryptionInformation"]["integrityInformation"]["segments"]
    listed.append(other_manifest["encryptionInformation"]["integrityInformation"]["segments"][0])
    assert refused_reason(rezip(manifest, payload + other_payload), alice, signer) is (
        RefusalReason.ROOT_SIGNATURE_MISMATCH
    )


def test_truncated_payload_is_detected(
    sealed: tuple[bytes, bytes], alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = members(sealed[1])
    assert (
        refused_reason(rezip(manifest, payload[:-1]), alice, signer)
        is RefusalReason.PAYLOAD_LENGTH_MISMATCH
    )


def test_segment_ciphertext_flip_is_detected(
    sealed: tuple[bytes, bytes], alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = members(sealed[1])
    flipped = bytearray(payload)
    flipped[ENC + 13] ^= 0x80
    assert (
        refused_reason(rezip(manifest, bytes(flipped)), alice, signer)
        is RefusalReason.SEGMENT_DECRYPT_FAILED
    )


def _policy_of(manifest: dict[str, Any]) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(
        base64.b64decode(manifest["encryptionInformation"]["policy"])
    )
    return policy


def test_label_swap_is_detected(alice: KemPrivateKey, signer: SigningKey) -> None:
    secret = {"classification": "KOR-II", "originator": "KOR"}
    public = {"classification": "UNCLASSIFIED", "originator": "KOR"}
    a = seal_bytes(b"A" * 40, [alice.public], signer, label_json=secret, label_xml=b"<s/>")
    b = seal_bytes(b"B" * 40, [alice.public], signer, label_json=public, label_xml=b"<u/>")
    ma, pa = members(a)
    mb, _ = members(b)
    # The signed label assertion of B moved onto A.
    swapped = copy.deepcopy(ma)
    swapped["assertions"] = mb["assertions"]
    assert (
        refused_reason(rezip(swapped, pa), alice, signer)
        is RefusalReason.ASSERTION_BINDING_MISMATCH
    )
    # B's policy (label JSON) and assertion moved onto A.
    swapped["encryptionInformation"]["policy"] = mb["encryptionInformation"]["policy"]
    assert (
        refused_reason(rezip(swapped, pa), alice, signer) is RefusalReason.POLICY_BINDING_MISMATCH
    )
    # B's policy, assertion and key access objects moved onto A's payload.
    swapped["encryptionInformation"]["keyAccess"] = mb["encryptionInformation"]["keyAccess"]
    assert (
        refused_reason(rezip(swapped, pa), alice, signer) is RefusalReason.ROOT_SIGNATURE_MISMATCH
    )


def test_label_xml_swap_alone_is_detected(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(b"x" * 40, [alice.public], signer)
    manifest, payload = members(blob)
    manifest["assertions"][0]["statement"]["value"] = "<Unclassified/>"
    assert (
        refused_reason(rezip(manifest, payload), alice, signer)
        is RefusalReason.ASSERTION_BINDING_MISMATCH
    )


def test_policy_binding_mismatch_is_detected(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(b"x" * 40, [alice.public], signer)
    manifest, payload = members(blob)
    policy = _policy_of(manifest)
    policy["body"]["cix"]["label"]["classification"] = "UNCLASSIFIED"
    manifest["encryptionInformation"]["policy"] = base64.b64encode(canonical(policy)).decode()
    assert (
        refused_reason(rezip(manifest, payload), alice, signer)
        is RefusalReason.POLICY_BINDING_MISMATCH
    )


def test_policy_binding_hash_forged_is_detected(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(b"x" * 40, [alice.public], signer)
    manifest, payload = members(blob)
    kao = manifest["encryptionInformation"]["keyAccess"][0]
    kao["policyBinding"]["hash"] = base64.b64encode(b"0" * 64).decode()
    assert (
        refused_reason(rezip(manifest, payload), alice, signer)
        is RefusalReason.POLICY_BINDING_MISMATCH
    )


def test_wrong_recipient_key_is_refused(
    alice: KemPrivateKey, carol: KemPrivateKey, signer: SigningKey
) -> None:
    blob = seal_bytes(b"x" * 40, [alice.public], signer)
    assert refused_reason(blob, carol, signer) is RefusalReason.NO_KEY_FOR_RECIPIENT


def test_key_access_readdressed_to_another_key_is_refused(
    alice: KemPrivateKey, carol: KemPrivateKey, signer: SigningKey
) -> None:
    blob = seal_bytes(b"x" * 40, [alice.public], signer)
    manifest, payload = members(blob)
    manifest["encryptionInformation"]["keyAccess"][0]["kid"] = carol.kid
    assert (
        refused_reason(rezip(manifest, payload), carol, signer) is RefusalReason.KEY_UNWRAP_FAILED
    )


def test_key_access_url_change_is_detected(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(b"x" * 40, [alice.public], signer)
    manifest, payload = members(blob)
    manifest["encryptionInformation"]["keyAccess"][0]["url"] = "https://kas.example/"
    assert (
        refused_reason(rezip(manifest, payload), alice, signer) is RefusalReason.KEY_UNWRAP_FAILED
    )


def test_unknown_signer_is_refused(
    alice: KemPrivateKey, signer: SigningKey, stranger: SigningKey
) -> None:
    blob = seal_bytes(b"x" * 40, [alice.public], stranger)
    assert refused_reason(blob, alice, signer) is RefusalReason.UNKNOWN_SIGNER


def test_no_trusted_signers_is_refused(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(b"x" * 40, [alice.public], signer)
    audit = Audit()
    with pytest.raises(Refused):
        open_bytes(blob, alice, [], audit)
    assert audit.only is RefusalReason.UNKNOWN_SIGNER


def test_signature_by_impostor_claiming_trusted_kid_is_refused(
    alice: KemPrivateKey, signer: SigningKey, stranger: SigningKey
) -> None:
    real = seal_bytes(b"x" * 40, [alice.public], signer)
    forged = seal_bytes(b"x" * 40, [alice.public], stranger)
    mr, _ = members(real)
    mf, pf = members(forged)
    _h, p, s = mf["assertions"][0]["binding"]["signature"].split(".")
    hr = mr["assertions"][0]["binding"]["signature"].split(".")[0]  # the trusted kid's header
    mf["assertions"][0]["binding"]["signature"] = f"{hr}.{p}.{s}"
    assert refused_reason(rezip(mf, pf), alice, signer) is RefusalReason.ASSERTION_SIGNATURE_INVALID


def test_stripped_label_assertion_is_detected(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(b"x" * 40, [alice.public], signer)
    manifest, payload = members(blob)
    del manifest["assertions"]
    assert (
        refused_reason(rezip(manifest, payload), alice, signer) is RefusalReason.ASSERTION_MISSING
    )


def test_stripped_label_everywhere_is_detected(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(b"x" * 40, [alice.public], signer)
    manifest, payload = members(blob)
    del manifest["assertions"]
    policy = _policy_of(manifest)
    del policy["body"]["cix"]
    manifest["encryptionInformation"]["policy"] = base64.b64encode(canonical(policy)).decode()
    assert (
        refused_reason(rezip(manifest, payload), alice, signer)
        is RefusalReason.POLICY_BINDING_MISMATCH
    )


def test_signed_manifest_field_change_is_detected(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(b"x" * 40, [alice.public], signer)
    manifest, payload = members(blob)
    manifest["payload"]["mimeType"] = "text/html"
    assert (
        refused_reason(rezip(manifest, payload), alice, signer)
        is RefusalReason.ASSERTION_BINDING_MISMATCH
    )


def test_label_signed_by_other_nation_is_refused(alice: KemPrivateKey, signer: SigningKey) -> None:
    # Issue 10 #13: a Korean-originated label (LABEL_JSON: originator KOR) signed with
    # Canada's key, both keys trusted: refused, a label is accepted only under its
    # originator's keys.
    from cix.keys import generate_signing

    canada = generate_signing()
    blob = seal_bytes(b"x", [alice.public], canada)
    audit = Audit()
    trusted = {"KOR": [signer.public], "CAN": [canada.public]}
    with pytest.raises(Refused):
        open_bytes(blob, alice, trusted, audit)
    assert audit.only is RefusalReason.SIGNER_NOT_ORIGINATOR
    # Signed by KOR's key it opens under the same trust.
    plain, opened = open_bytes(seal_bytes(b"x", [alice.public], signer), alice, trusted)
    assert (plain, opened.signer_kid) == (b"x", signer.kid)


def test_alternative_label_signed_by_other_party_than_the_one_that_added_it_is_refused(
    alice: KemPrivateKey, signer: SigningKey
) -> None:
    from cix.keys import generate_signing

    canada = generate_signing()
    alternative = {"label": dict(LABEL_JSON), "party": "CAN", "classification": "CAN-S"}
    trusted = {"KOR": [signer.public], "CAN": [canada.public]}
    by_kor = seal_bytes(b"x", [alice.public], signer, label_json=alternative)
    audit = Audit()
    with pytest.raises(Refused):
        open_bytes(by_kor, alice, trusted, audit)
    assert audit.only is RefusalReason.SIGNER_NOT_ORIGINATOR
    by_can = seal_bytes(b"x", [alice.public], canada, label_json=alternative)
    assert open_bytes(by_can, alice, trusted)[0] == b"x"
