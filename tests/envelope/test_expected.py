"""`expected_label`, `expected_policy_uuid` and `known`: a reader that knows which object it
meant to open refuses another one (validly sealed and signed) swapped in its place, before
the first plaintext byte is written."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import pytest

from cix import envelope
from cix.envelope import (
    ManifestCache,
    RefusalReason,
    _open,
)
from cix.errors import InputError, Refused
from cix.keys import KemPrivateKey, SigningKey
from tests.envelope.helpers import LABEL_JSON, Audit, open_bytes, seal_bytes

UUID = "019ca8a0-3e80-0008-8543-8cc12fcf8afd"
OTHER_LABEL: dict[str, Any] = {**LABEL_JSON, "classification": "KOR-I"}
DATA = b"the reactor is a MARK-7 design" * 10


def _refused(blob: bytes, alice: KemPrivateKey, signer: SigningKey, **kwargs: Any) -> RefusalReason:
    audit = Audit()
    out = io.BytesIO()
    with pytest.raises(Refused):
        envelope.open(
            io.BytesIO(blob),
            out,
            private_key=alice,
            trusted_signers={"KOR": [signer.public]},
            audit_hook=audit,
            **kwargs,
        )
    assert out.getvalue() == b""  # refused before the first plaintext byte
    return audit.only


def test_the_expected_label_and_policy_uuid_open(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(DATA, [alice.public], signer, policy_uuid=UUID, segment_size=64)
    plain, opened = open_bytes(
        blob,
        alice,
        [signer.public],
        expected_label=dict(LABEL_JSON),
        expected_policy_uuid=UUID,
    )
    assert plain == DATA
    assert opened.policy["uuid"] == UUID
    assert envelope.inspect(blob)["policyUuid"] == UUID


def test_an_object_with_another_label_is_refused(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(DATA, [alice.public], signer, label_json=OTHER_LABEL)
    reason = _refused(blob, alice, signer, expected_label=dict(LABEL_JSON))
    assert reason is RefusalReason.LABEL_MISMATCH
    assert RefusalReason.LABEL_MISMATCH.value == "label-mismatch"


def test_another_label_is_refused_when_the_manifest_is_cached(
    alice: KemPrivateKey, signer: SigningKey
) -> None:
    cache = ManifestCache()
    blob = seal_bytes(DATA, [alice.public], signer, label_json=OTHER_LABEL)
    open_bytes(blob, alice, [signer.public], manifest_cache=cache, expected_label=OTHER_LABEL)
    reason = _refused(blob, alice, signer, manifest_cache=cache, expected_label=LABEL_JSON)
    assert reason is RefusalReason.LABEL_MISMATCH


def test_an_unverified_label_never_matches(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(DATA, [alice.public], signer)
    out = io.BytesIO()
    audit = Audit()
    with pytest.raises(Refused):
        envelope.open(
            io.BytesIO(blob),
            out,
            private_key=alice,
            trusted_signers={},
            audit_hook=audit,
            expected_label=dict(LABEL_JSON),
        )
    assert out.getvalue() == b""
    assert audit.reasons  # no trusted signer: refused (unknown signer) before the comparison


def test_an_object_with_another_policy_uuid_is_refused(
    alice: KemPrivateKey, signer: SigningKey
) -> None:
    blob = seal_bytes(DATA, [alice.public], signer)  # a random policy uuid
    reason = _refused(blob, alice, signer, expected_policy_uuid=UUID)
    assert reason is RefusalReason.POLICY_UUID_MISMATCH
    assert RefusalReason.POLICY_UUID_MISMATCH.value == "policy-uuid-mismatch"


def test_open_range_checks_the_expectations_too(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(DATA, [alice.public], signer, policy_uuid=UUID, label_json=OTHER_LABEL)
    audit = Audit()
    out = io.BytesIO()
    with pytest.raises(Refused):
        envelope.open_range(
            io.BytesIO(blob),
            out,
            start=0,
            length=10,
            private_key=alice,
            trusted_signers={"KOR": [signer.public]},
            audit_hook=audit,
            expected_label=dict(LABEL_JSON),
            expected_policy_uuid=UUID,
        )
    assert out.getvalue() == b""
    assert audit.only is RefusalReason.LABEL_MISMATCH


def test_an_empty_policy_uuid_is_bad_input(alice: KemPrivateKey, signer: SigningKey) -> None:
    with pytest.raises(InputError):
        seal_bytes(DATA, [alice.public], signer, policy_uuid="")


def test_a_known_object_opens_without_parsing_its_container_again(
    alice: KemPrivateKey, signer: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = seal_bytes(DATA, [alice.public], signer, segment_size=64)
    _, first = open_bytes(blob, alice, [signer.public])
    raw = zipfile.ZipFile(io.BytesIO(blob)).read("0.manifest.json")
    assert first.known.manifest_sha256 == hashlib.sha256(raw).digest()
    assert first.known.size == len(blob)
    monkeypatch.setattr(_open, "read_members", None)  # not called again
    plain, again = open_bytes(blob, alice, [signer.public], known=first.known)
    assert plain == DATA
    assert again.known == first.known


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
def test_an_object_with_another_manifest_is_refused(
    alice: KemPrivateKey, signer: SigningKey, cached: bool
) -> None:
    # Another sealing of the same plaintext, label and policy uuid (same sizes, so the same
    # layout): only its manifest's bytes (its key, tags, signatures) and its payload tell it
    # from the object the caller knows. (Every other change: test_known_object_tamper.py.)
    known = seal_bytes(DATA, [alice.public], signer, policy_uuid=UUID, segment_size=64)
    other = seal_bytes(DATA, [alice.public], signer, policy_uuid=UUID, segment_size=64)
    _, opened = open_bytes(known, alice, [signer.public])
    _, theirs = open_bytes(other, alice, [signer.public])
    for ours, its in [
        (opened.known.manifest, theirs.known.manifest),
        (opened.known.payload, theirs.known.payload),
    ]:
        assert (ours.data_offset, ours.size) == (its.data_offset, its.size)
    cache = ManifestCache()
    if cached:
        open_bytes(other, alice, [signer.public], manifest_cache=cache)
    reason = _refused(
        other,
        alice,
        signer,
        known=opened.known,
        expected_policy_uuid=UUID,
        manifest_cache=cache,
    )
    assert reason is RefusalReason.OBJECT_DIGEST_MISMATCH


@pytest.mark.parametrize("where", ["manifest", "payload"])
def test_a_known_object_cut_short_is_refused(
    alice: KemPrivateKey, signer: SigningKey, where: str
) -> None:
    blob = seal_bytes(DATA, [alice.public], signer, segment_size=64)
    _, opened = open_bytes(blob, alice, [signer.public])
    member = opened.known.manifest if where == "manifest" else opened.known.payload
    cut = blob[: member.data_offset + member.size - 1]  # the member's last byte gone
    reason = _refused(cut, alice, signer, known=opened.known)
    assert reason is RefusalReason.OBJECT_DIGEST_MISMATCH
