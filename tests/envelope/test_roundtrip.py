"""Seal then open returns the same bytes and the same label, for every size and key type."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from cix import envelope
from cix.keys import KemPrivateKey, SignatureAlgorithm, SigningKey, generate_signing
from tests.envelope.helpers import LABEL_JSON, LABEL_XML, members, open_bytes, seal_bytes


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 100, 1000])
def test_round_trip_small_segments(size: int, alice: KemPrivateKey, signer: SigningKey) -> None:
    data = os.urandom(size)
    blob = seal_bytes(data, [alice.public], signer, segment_size=16)
    plain, opened = open_bytes(blob, alice, [signer.public])
    assert plain == data
    assert opened.label_json == LABEL_JSON
    assert opened.label_xml == LABEL_XML
    assert opened.signer_kid == signer.kid
    assert opened.written == size == opened.plaintext_size


def test_zero_length_payload_is_one_empty_segment(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(b"", [alice.public], signer)
    manifest, payload = members(blob)
    segments = manifest["encryptionInformation"]["integrityInformation"]["segments"]
    assert [(s["segmentSize"], s["encryptedSegmentSize"]) for s in segments] == [(0, 28)]
    assert len(payload) == 28
    assert open_bytes(blob, alice, [signer.public])[0] == b""


def test_every_recipient_opens(
    alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey
) -> None:
    data = os.urandom(5000)
    blob = seal_bytes(data, [alice.public, bob.public], signer, segment_size=1024)
    assert open_bytes(blob, alice, [signer.public])[0] == data
    plain, opened = open_bytes(blob, bob, [signer.public])
    assert plain == data
    assert opened.recipient_kid == bob.kid


def test_ml_dsa_signer(alice: KemPrivateKey) -> None:
    pq = generate_signing(SignatureAlgorithm.ML_DSA_65)
    data = b"post-quantum signed label"
    blob = seal_bytes(data, [alice.public], pq)
    manifest, _ = members(blob)
    jws = manifest["assertions"][0]["binding"]["signature"]
    assert jws.count(".") == 2
    assert open_bytes(blob, alice, [pq.public])[1].signer_kid == pq.kid


def test_output_is_a_standard_zip(alice: KemPrivateKey, signer: SigningKey) -> None:
    data = os.urandom(3000)
    blob = seal_bytes(data, [alice.public], signer, segment_size=1000)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        assert z.testzip() is None
        assert [i.filename for i in z.infolist()] == ["0.payload", "0.manifest.json"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())


def test_zip64_when_size_unknown(alice: KemPrivateKey, signer: SigningKey) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._src = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: memoryview) -> int:  # type: ignore[override]
            return self._src.readinto(b)

    data = os.urandom(777)
    out = io.BytesIO()
    envelope.seal(
        cast(BinaryIO, Pipe(data)),
        out,
        label_xml=LABEL_XML,
        label_json=LABEL_JSON,
        recipients=[alice.public],
        signer=signer,
        segment_size=100,
    )
    blob = out.getvalue()
    # The payload's local header carries a ZIP64 extra field (id 1) since no size was known.
    assert blob[30 + len("0.payload") : 30 + len("0.payload") + 2] == b"\x01\x00"
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        assert z.testzip() is None
    assert open_bytes(blob, alice, [signer.public])[0] == data


def test_file_to_file(tmp_path: Path, alice: KemPrivateKey, signer: SigningKey) -> None:
    data = os.urandom(300_000)
    (tmp_path / "in").write_bytes(data)
    with (tmp_path / "in").open("rb") as src, (tmp_path / "sealed").open("wb") as dst:
        result = envelope.seal(
            src,
            dst,
            label_xml=LABEL_XML,
            label_json=LABEL_JSON,
            recipients=[alice.public],
            signer=signer,
            segment_size=65536,
        )
    assert result.segments == 5
    assert result.sealed_size == (tmp_path / "sealed").stat().st_size
    with (tmp_path / "sealed").open("rb") as src, (tmp_path / "out").open("wb") as dst:
        envelope.open(src, dst, private_key=alice, trusted_signers={"KOR": [signer.public]})
    assert (tmp_path / "out").read_bytes() == data


def test_progress_reports_bytes(alice: KemPrivateKey, signer: SigningKey) -> None:
    seen: list[int] = []
    seal_bytes(os.urandom(250), [alice.public], signer, segment_size=100, progress=seen.append)
    assert seen == [100, 200, 250]


def test_inspect_needs_no_key(alice: KemPrivateKey, signer: SigningKey) -> None:
    blob = seal_bytes(
        b"x" * 50,
        [alice.public],
        signer,
        segment_size=16,
        attributes=["https://example.com/attr/a/value/b"],
    )
    summary = envelope.inspect(io.BytesIO(blob))
    assert summary["verified"] is False
    assert summary["label"] == LABEL_JSON
    assert summary["labelXml"] == LABEL_XML.decode()
    assert summary["plaintextSize"] == 50
    assert summary["segments"] == 4
    assert summary["signerKid"] == signer.kid
    assert [k["kid"] for k in summary["keyAccess"]] == [alice.kid]
    assert summary["dataAttributes"] == [{"attribute": "https://example.com/attr/a/value/b"}]


def test_two_seals_of_the_same_data_differ(alice: KemPrivateKey, signer: SigningKey) -> None:
    a = seal_bytes(b"same", [alice.public], signer)
    b = seal_bytes(b"same", [alice.public], signer)
    assert members(a)[1] != members(b)[1]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_in_memory_sources_are_read_in_place(
    kind: type, alice: KemPrivateKey, signer: SigningKey
) -> None:
    data = os.urandom(1000)
    out = io.BytesIO()
    envelope.seal(
        kind(data),
        out,
        label_xml=LABEL_XML,
        label_json=LABEL_JSON,
        recipients=[alice.public],
        signer=signer,
        segment_size=64,
    )
    blob = out.getvalue()
    assert blob[:4] == b"PK\x03\x04"
    # No ZIP64 field: the size of an in-memory source is known.
    assert blob[28:30] == b"\x00\x00"
    plain = io.BytesIO()
    envelope.open(kind(blob), plain, private_key=alice, trusted_signers={"KOR": [signer.public]})
    assert plain.getvalue() == data
    part = io.BytesIO()
    envelope.open_range(
        kind(blob),
        part,
        start=100,
        length=200,
        private_key=alice,
        trusted_signers={"KOR": [signer.public]},
    )
    assert part.getvalue() == data[100:300]
    assert envelope.inspect(kind(blob))["plaintextSize"] == 1000


def test_in_memory_truncated_payload_is_refused(alice: KemPrivateKey, signer: SigningKey) -> None:
    from cix.envelope import RefusalReason
    from cix.errors import Refused
    from tests.envelope.helpers import Audit, rezip

    blob = seal_bytes(os.urandom(100), [alice.public], signer, segment_size=16)
    manifest, payload = members(blob)
    audit = Audit()
    with pytest.raises(Refused):
        envelope.open(
            rezip(manifest, payload[:-3]),
            io.BytesIO(),
            private_key=alice,
            trusted_signers={"KOR": [signer.public]},
            audit_hook=audit,
        )
    assert audit.only is RefusalReason.PAYLOAD_LENGTH_MISMATCH


@pytest.mark.parametrize("size", [0, 1, 65536, 300_000])
def test_mapped_file_seals_as_the_stream_does(
    size: int, tmp_path: Path, alice: KemPrivateKey, signer: SigningKey
) -> None:
    # Same key, IVs and policy uuid: the mapped input must give the very same bytes.
    data = os.urandom(size)
    (tmp_path / "in").write_bytes(data)
    sealed = []
    for mapped in (False, True):
        ivs = iter(bytes([i % 256]) * 12 for i in range(1000))
        out = io.BytesIO()
        with (tmp_path / "in").open("rb") as handle, envelope.mapped_input(handle) as source:
            assert (source is handle) == (size == 0)
            envelope.seal(
                handle if not mapped else source,
                out,
                label_xml=LABEL_XML,
                label_json=LABEL_JSON,
                recipients=[alice.public],
                signer=signer,
                segment_size=65536,
                _key=b"k" * 32,
                _ivs=ivs,
                _policy_uuid="00000000-0000-4000-8000-000000000000",
                _wrap=lambda public, key, info: b"wrapped",
            )
        sealed.append(out.getvalue())
    assert sealed[0] == sealed[1]


def test_mapped_input_of_a_pipe_is_the_stream_itself(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, "rb") as handle, envelope.mapped_input(handle) as source:
            assert source is handle
    finally:
        os.close(write_end)
