"""A malformed object is refused when opened (malformed-object, the defect named in the
audit record) and named by `inspect`; the caller's own bad input gets an InputError naming
what was wrong. Never a traceback."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import zipfile
from typing import Any, BinaryIO, cast

import pytest

from cix import envelope
from cix.envelope import ObjectRefused, RefusalReason, UnlabelledObject
from cix.envelope.errors import ContainerError, ManifestError, UnknownAlgorithm
from cix.errors import InputError, Refused
from cix.keys import KemAlgorithm, KemPrivateKey, SigningKey, generate_kem
from tests.envelope.helpers import Audit, members, open_bytes, rezip, seal_bytes


def _open(blob: bytes, key: KemPrivateKey, signer: SigningKey) -> None:
    """Open a malformed object: refused as malformed-object, the defect named in the audit
    detail only; then `inspect` it, which verifies nothing and names the same defect as an
    `InputError` (raised here for the test to match)."""
    audit = Audit()
    with pytest.raises(ObjectRefused) as refused:
        open_bytes(blob, key, [signer.public], audit)
    assert audit.only is RefusalReason.MALFORMED_OBJECT
    assert str(refused.value) == str(Refused())  # nothing of the defect shown
    try:
        envelope.inspect(blob)
    except InputError as exc:
        assert str(exc) == audit.reasons[0].detail  # noqa: PT017 - re-raised for the caller
        raise
    raise AssertionError(f"inspect accepted what open refused: {audit.reasons[0].detail}")


@pytest.fixture(scope="module")
def good(alice: KemPrivateKey, signer: SigningKey) -> bytes:
    return seal_bytes(b"payload bytes", [alice.public], signer)


def zip_of(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in entries:
            z.writestr(name, data, method)
    return out.getvalue()


@pytest.mark.parametrize("blob", [b"", b"not a zip at all", os.urandom(4096)])
def test_not_a_zip(blob: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    with pytest.raises(ContainerError, match="not a ZIP"):
        _open(blob, alice, signer)


def test_missing_manifest(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    _, payload = members(good)
    with pytest.raises(ContainerError, match=r"no member '0\.manifest\.json'"):
        _open(zip_of([("0.payload", payload)]), alice, signer)


def test_missing_payload(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    manifest, _ = members(good)
    with pytest.raises(ContainerError, match=r"no member '0\.payload'"):
        _open(zip_of([("0.manifest.json", json.dumps(manifest).encode())]), alice, signer)


def test_unexpected_member(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    manifest, payload = members(good)
    blob = zip_of(
        [
            ("0.payload", payload),
            ("0.manifest.json", json.dumps(manifest).encode()),
            ("extra.txt", b"x"),
        ]
    )
    with pytest.raises(ContainerError, match=r"unexpected member 'extra\.txt'"):
        _open(blob, alice, signer)


@pytest.mark.parametrize(
    "name", ["../0.payload", "/etc/passwd", "a/../../0.payload", "..\\0.payload", "C:evil"]
)
def test_path_traversal_names(
    name: str, good: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = members(good)
    blob = zip_of([(name, payload), ("0.manifest.json", json.dumps(manifest).encode())])
    with pytest.raises(ContainerError, match=r"path traversal|unexpected member"):
        _open(blob, alice, signer)


def test_path_traversal_is_named(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    manifest, payload = members(good)
    blob = zip_of(
        [("../../etc/cron.d/x", payload), ("0.manifest.json", json.dumps(manifest).encode())]
    )
    with pytest.raises(ContainerError, match=r"unsafe member name.*path traversal"):
        _open(blob, alice, signer)


def test_duplicate_member(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    manifest, payload = members(good)
    m = json.dumps(manifest).encode()
    with pytest.warns(UserWarning, match="Duplicate name"):
        blob = zip_of([("0.payload", payload), ("0.manifest.json", m), ("0.manifest.json", m)])
    with pytest.raises(ContainerError, match="duplicate member"):
        _open(blob, alice, signer)


def test_compressed_payload_is_refused_as_input(
    good: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = members(good)
    blob = zip_of(
        [("0.payload", payload), ("0.manifest.json", json.dumps(manifest).encode())],
        zipfile.ZIP_DEFLATED,
    )
    with pytest.raises(ContainerError, match=r"0\.payload' must be stored"):
        _open(blob, alice, signer)


def test_labelled_object_rezipped_by_another_writer_is_refused(
    good: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    # A labelled object is cix-written; rewritten by another ZIP writer (here with a
    # deflated manifest) its version-made-by and attributes, which nothing repeats, are not
    # the cix writer's: refused, so that no header byte of a labelled object goes unchecked.
    manifest, payload = members(good)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("0.payload", payload, zipfile.ZIP_STORED)
        z.writestr("0.manifest.json", json.dumps(manifest), zipfile.ZIP_DEFLATED)
    audit = Audit()
    with pytest.raises(ObjectRefused):
        open_bytes(out.getvalue(), alice, [signer.public], audit)
    assert audit.only is RefusalReason.MALFORMED_OBJECT
    assert "not cix's" in audit.reasons[0].detail
    assert envelope.inspect(out.getvalue())["labelled"]  # inspect still reads it


def test_manifest_not_json(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    _, payload = members(good)
    with pytest.raises(ManifestError, match="not valid JSON"):
        _open(rezip(b"{not json", payload), alice, signer)


def test_manifest_duplicate_keys(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    manifest, payload = members(good)
    text = json.dumps(manifest)
    doubled = text[:-1] + ', "payload": ' + json.dumps(manifest["payload"]) + "}"
    with pytest.raises(ManifestError, match="duplicate key 'payload'"):
        _open(rezip(doubled.encode(), payload), alice, signer)


def _edit(good: bytes, change: Any) -> bytes:
    manifest, payload = members(good)
    change(manifest)
    return rezip(manifest, payload)


def test_manifest_not_schema_valid(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    def drop(m: dict[str, Any]) -> None:
        del m["encryptionInformation"]["integrityInformation"]["segments"]

    with pytest.raises(ManifestError, match=r"schema.*segments"):
        _open(_edit(good, drop), alice, signer)


def test_manifest_wrong_type_in_schema(
    good: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    def retype(m: dict[str, Any]) -> None:
        m["encryptionInformation"]["keyAccess"][0]["type"] = "remote-ish"

    with pytest.raises(ManifestError, match="keyAccess/0/type"):
        _open(_edit(good, retype), alice, signer)


@pytest.mark.parametrize(
    ("path", "value", "pattern"),
    [
        (("encryptionInformation", "method", "algorithm"), "AES-128-CBC", "AES-128-CBC"),
        (("encryptionInformation", "integrityInformation", "segmentHashAlg"), "SHA256", "SHA256"),
        (
            ("encryptionInformation", "integrityInformation", "rootSignature", "alg"),
            "RS256",
            "RS256",
        ),
    ],
)
def test_unknown_algorithm(
    path: tuple[str, ...],
    value: str,
    pattern: str,
    good: bytes,
    alice: KemPrivateKey,
    signer: SigningKey,
) -> None:
    def set_(m: dict[str, Any]) -> None:
        target = m
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value

    with pytest.raises(UnknownAlgorithm, match=pattern):
        _open(_edit(good, set_), alice, signer)


def test_bad_base64_is_named(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    def spoil(m: dict[str, Any]) -> None:
        m["encryptionInformation"]["keyAccess"][0]["wrappedKey"] = "***"

    with pytest.raises(ManifestError, match="keyAccess/0/wrappedKey is not valid base64"):
        _open(_edit(good, spoil), alice, signer)


def test_segment_size_arithmetic_checked(
    good: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    def spoil(m: dict[str, Any]) -> None:
        m["encryptionInformation"]["integrityInformation"]["segments"][0]["segmentSize"] += 1

    with pytest.raises(ManifestError, match="segmentSize \\+ 28"):
        _open(_edit(good, spoil), alice, signer)


def test_unlabelled_object_needs_unsafe_permission_and_warns(
    alice: KemPrivateKey, signer: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    # An OpenTDF object written by otdf-python for an RSA key: no cix label anywhere.
    from otdf_python.config import KASInfo, TDFConfig
    from otdf_python.tdf import TDF

    rsa = generate_kem(KemAlgorithm.RSA_2048)
    cfg = TDFConfig(
        autoconfigure=False,
        default_segment_size=64,
        kas_info_list=[
            KASInfo(
                url="https://kas.example", public_key=rsa.public.public_pem().decode(), kid="r1"
            )
        ],
    )
    _, _, out = TDF().create_tdf(b"opentdf payload " * 10, cfg)
    blob = out.getvalue()
    with pytest.raises(UnlabelledObject, match="no cix label"):
        open_bytes(blob, rsa, [signer.public])
    with caplog.at_level(logging.WARNING, logger="cix.envelope"):
        plain, opened = open_bytes(blob, rsa, [], unsafe_allow_unlabelled=True)
    assert plain == b"opentdf payload " * 10
    assert opened.label_json is None
    # Issue 11 #6: the bypass is named for what it is and says so when used.
    assert any(
        "unlabelled" in r.getMessage() and "unsafe" in r.getMessage() for r in caplog.records
    )


def test_seal_rejects_bad_arguments(alice: KemPrivateKey, signer: SigningKey) -> None:
    with pytest.raises(InputError, match="at least one recipient"):
        seal_bytes(b"x", [], signer)
    with pytest.raises(InputError, match="twice"):
        seal_bytes(b"x", [alice.public, alice.public], signer)
    with pytest.raises(InputError, match="segment size"):
        seal_bytes(b"x", [alice.public], signer, segment_size=0)
    with pytest.raises(InputError, match="not UTF-8"):
        seal_bytes(b"x", [alice.public], signer, label_xml=b"\xff\xfe")
    with pytest.raises(InputError, match="canonical JSON"):
        seal_bytes(b"x", [alice.public], signer, label_json={"x": 1.5})


def test_non_seekable_source_is_named(alice: KemPrivateKey, signer: SigningKey) -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def seek(self, offset: int, whence: int = 0) -> int:
            raise OSError("not seekable")

    with pytest.raises(InputError, match="seekable"):
        envelope.open(
            cast(BinaryIO, Pipe()),
            io.BytesIO(),
            private_key=alice,
            trusted_signers={"KOR": [signer.public]},
        )


def test_policy_not_json(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    def spoil(m: dict[str, Any]) -> None:
        m["encryptionInformation"]["policy"] = base64.b64encode(b"{nope").decode()

    with pytest.raises(ManifestError, match="the policy: not valid JSON"):
        _open(_edit(good, spoil), alice, signer)


def test_regression_end_record_signature_in_the_last_bytes(
    good: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    # Found by test_fuzz: an end-of-central-directory signature fewer than 22 bytes before
    # the end made the record search read past the buffer (struct.error, a traceback).
    with pytest.raises(ContainerError, match="not a ZIP"):
        _open(b"\x00" * 40 + b"PK\x05\x06" + b"\x00" * 10, alice, signer)
    with pytest.raises(ContainerError):
        _open(good[:-1], alice, signer)


def test_opentdf_key_split_is_named(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    def split(m: dict[str, Any]) -> None:
        first = m["encryptionInformation"]["keyAccess"][0]
        first["sid"] = "split-1"
        m["encryptionInformation"]["keyAccess"].append(first | {"sid": "split-2"})

    with pytest.raises(UnknownAlgorithm, match="key splits are not supported"):
        _open(_edit(good, split), alice, signer)


def test_float_in_manifest_is_named(good: bytes, alice: KemPrivateKey, signer: SigningKey) -> None:
    manifest, payload = members(good)
    manifest["x-note"] = {"weight": 1.5}
    with pytest.raises(ManifestError, match=r"1\.5 is not an integer"):
        _open(rezip(manifest, payload), alice, signer)


def test_seal_rejects_non_text_attributes(alice: KemPrivateKey, signer: SigningKey) -> None:
    with pytest.raises(InputError, match="attribute must be text"):
        seal_bytes(b"x", [alice.public], signer, attributes=[1.5])
