"""Rewrap: a current recipient adds or replaces key access for another without touching the
payload; the originator's label signature stays valid."""

from __future__ import annotations

import io
import os

import pytest

from cix import envelope
from cix.envelope import RefusalReason
from cix.errors import InputError, Refused
from cix.keys import KemAlgorithm, KemPrivateKey, SigningKey, generate_kem
from tests.envelope.helpers import Audit, members, open_bytes, rezip, seal_bytes


def rewrap_bytes(blob: bytes, key: KemPrivateKey, signer: SigningKey, **kwargs: object) -> bytes:
    out = io.BytesIO()
    envelope.rewrap(
        io.BytesIO(blob),
        out,
        private_key=key,
        trusted_signers={"KOR": [signer.public]},
        **kwargs,  # type: ignore[arg-type]
    )
    return out.getvalue()


def test_rewrap_adds_a_recipient_without_touching_the_payload(
    alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey
) -> None:
    data = os.urandom(1000)
    blob = seal_bytes(data, [alice.public], signer, segment_size=100)
    re = rewrap_bytes(blob, alice, signer, to=[bob.public])
    assert members(re)[1] == members(blob)[1]
    assert open_bytes(re, bob, [signer.public])[0] == data
    assert open_bytes(re, alice, [signer.public])[0] == data
    kids = [k["kid"] for k in members(re)[0]["encryptionInformation"]["keyAccess"]]
    assert kids == [alice.kid, bob.kid]


def test_rewrap_drop_others_leaves_only_the_new_recipient(
    alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey
) -> None:
    blob = seal_bytes(b"forwarded", [alice.public], signer)
    re = rewrap_bytes(blob, alice, signer, to=[bob.public], drop_others=True)
    assert open_bytes(re, bob, [signer.public])[0] == b"forwarded"
    audit = Audit()
    with pytest.raises(Refused):
        open_bytes(re, alice, [signer.public], audit)
    assert audit.only is RefusalReason.NO_KEY_FOR_RECIPIENT


def test_rewrap_replaces_an_existing_key_access_object(
    alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey
) -> None:
    blob = seal_bytes(b"x", [alice.public, bob.public], signer)
    before = members(blob)[0]["encryptionInformation"]["keyAccess"]
    re = rewrap_bytes(blob, alice, signer, to=[bob.public])
    after = members(re)[0]["encryptionInformation"]["keyAccess"]
    assert [k["kid"] for k in after] == [alice.kid, bob.kid]
    assert after[1]["wrappedKey"] != before[1]["wrappedKey"]
    assert open_bytes(re, bob, [signer.public])[0] == b"x"


def test_rewrap_by_a_non_recipient_is_refused(
    alice: KemPrivateKey, carol: KemPrivateKey, signer: SigningKey
) -> None:
    blob = seal_bytes(b"x", [alice.public], signer)
    audit = Audit()
    with pytest.raises(Refused):
        envelope.rewrap(
            io.BytesIO(blob),
            io.BytesIO(),
            private_key=carol,
            to=[carol.public],
            trusted_signers={"KOR": [signer.public]},
            audit_hook=audit,
        )
    assert audit.only is RefusalReason.NO_KEY_FOR_RECIPIENT


def test_rewrap_of_a_tampered_object_is_refused(
    alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey
) -> None:
    blob = seal_bytes(b"y" * 64, [alice.public], signer, segment_size=16)
    manifest, payload = members(blob)
    listed = manifest["encryptionInformation"]["integrityInformation"]["segments"]
    listed[0], listed[1] = listed[1], listed[0]
    audit = Audit()
    with pytest.raises(Refused):
        envelope.rewrap(
            io.BytesIO(rezip(manifest, payload)),
            io.BytesIO(),
            private_key=alice,
            to=[bob.public],
            trusted_signers={"KOR": [signer.public]},
            audit_hook=audit,
        )
    assert audit.only is RefusalReason.ROOT_SIGNATURE_MISMATCH


def test_rewrapped_key_access_cannot_be_moved_to_another_object(
    alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey
) -> None:
    a = rewrap_bytes(seal_bytes(b"a", [alice.public], signer), alice, signer, to=[bob.public])
    b = seal_bytes(b"b", [alice.public], signer)
    mb, pb = members(b)
    mb["encryptionInformation"]["keyAccess"] = members(a)[0]["encryptionInformation"]["keyAccess"]
    audit = Audit()
    with pytest.raises(Refused):
        open_bytes(rezip(mb, pb), bob, [signer.public], audit)
    assert audit.only is RefusalReason.POLICY_BINDING_MISMATCH


def test_rewrap_to_rsa_drops_the_payload_spec_version(
    alice: KemPrivateKey, signer: SigningKey
) -> None:
    rsa = generate_kem(KemAlgorithm.RSA_2048)
    blob = seal_bytes(b"for opentdf", [alice.public], signer)
    assert "tdf_spec_version" in members(blob)[0]["payload"]
    re = rewrap_bytes(blob, alice, signer, to=[rsa.public])
    assert "tdf_spec_version" not in members(re)[0]["payload"]
    plain, opened = open_bytes(re, rsa, [signer.public])
    assert plain == b"for opentdf"
    assert opened.signer_kid == signer.kid


def test_rewrap_needs_a_recipient(alice: KemPrivateKey, signer: SigningKey) -> None:
    with pytest.raises(InputError, match="at least one recipient"):
        rewrap_bytes(seal_bytes(b"x", [alice.public], signer), alice, signer, to=[])


def test_rewrap_requires_trusted_signers(alice: KemPrivateKey, bob: KemPrivateKey) -> None:
    # Issue 11 #6: `rewrap(trusted_signers=())` used to skip the label check silently; an
    # object whose label nobody verified could be passed on. There is no default now, and
    # an unknown signer is refused.
    from cix.keys import generate_signing

    blob = seal_bytes(b"x", [alice.public], generate_signing())
    audit = Audit()
    with pytest.raises(Refused):
        envelope.rewrap(
            io.BytesIO(blob),
            io.BytesIO(),
            private_key=alice,
            to=[bob.public],
            trusted_signers={},
            audit_hook=audit,
        )
    assert audit.only is RefusalReason.UNKNOWN_SIGNER


def test_rewrap_to_a_party_the_label_does_not_release_to_is_refused(
    alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey
) -> None:
    # Issue 14 #12: the check is the envelope's, on the verified label, before a byte is out.
    blob = seal_bytes(b"kor-can only", [alice.public], signer)
    out = io.BytesIO()
    with pytest.raises(envelope.NotReleasable, match="not to DEU"):
        envelope.rewrap(
            io.BytesIO(blob),
            out,
            private_key=alice,
            to=[bob.public],
            trusted_signers={"KOR": [signer.public]},
            recipient_parties=["DEU"],
        )
    assert out.getvalue() == b""
    allowed = rewrap_bytes(blob, alice, signer, to=[bob.public], recipient_parties=["CAN"])
    assert open_bytes(allowed, bob, [signer.public])[0] == b"kor-can only"
