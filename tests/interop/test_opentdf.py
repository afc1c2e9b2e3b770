"""Interoperability with OpenTDF, both directions, through the otdf-python SDK (offline).

- A cix sealed object whose key access object is wrapped with RSA-2048 (OpenTDF's key
  access server key type) opens in otdf-python with the private key PEM, to the same bytes,
  also when HPKE key access objects for cix nodes stand beside the RSA one.
- A TDF written by otdf-python's `create_tdf` for an RSA key opens with `cix.envelope.open`
  and `cix open`; it carries no cix label, so both refuse it unless told to allow that.
- cix verifies what otdf-python does not (segment hashes, root signature, policy binding) on
  the TDFs otdf-python writes.

Payloads: 0 bytes, 1 byte, one segment, and many segments. The facts behind the format are
in the notes `opentdf-compat.md` of the interop helper and in docs/format.md.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from otdf_python.config import KASInfo, TDFConfig
from otdf_python.tdf import TDF, TDFReaderConfig

from cix import envelope
from cix.envelope import (
    ObjectRefused,
    RefusalReason,
    UnlabelledObject,
    add_alternative_label,
    rewrap,
    seal,
)
from cix.errors import Refused
from cix.keys import (
    KemAlgorithm,
    KemPrivateKey,
    SigningKey,
    generate_kem,
    generate_signing,
    write_key_pair,
)

KAS_URL = "https://kas.example.org"
LABEL_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b"<originatorConfidentialityLabel"
    b' xmlns="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0">'
    b"<ConfidentialityInformation><PolicyIdentifier>kor-can</PolicyIdentifier>"
    b"<Classification>CONFIDENTIAL</Classification></ConfidentialityInformation>"
    b"</originatorConfidentialityLabel>"
)
LABEL_JSON: dict[str, Any] = {
    "policy": "kor-can",
    "originator": "CAN",
    "classification": "C",
    "releasable_to": ["CAN", "KOR"],
}
# Small segments keep "many segments" cheap for otdf-python, which holds all of it in memory.
SEGMENT = 4096
SIZES = {
    "empty": 0,
    "one-byte": 1,
    "one-segment": SEGMENT,
    "many-segments": 7 * SEGMENT + 123,
}


@pytest.fixture(scope="module")
def rsa_key() -> KemPrivateKey:
    """An OpenTDF key access server's RSA-2048 key pair (cix's RSA-OAEP interop key type)."""
    return generate_kem(KemAlgorithm.RSA_2048)


@pytest.fixture(scope="module")
def signer() -> SigningKey:
    """The originator's label-signing key."""
    return generate_signing()


def _payload(size: int) -> bytes:
    return os.urandom(size)


def _seal_for(
    data: bytes, recipients: list[Any], signer: SigningKey, segment_size: int = SEGMENT
) -> bytes:
    out = io.BytesIO()
    seal(
        io.BytesIO(data),
        out,
        label_xml=LABEL_XML,
        label_json=LABEL_JSON,
        recipients=recipients,
        signer=signer,
        segment_size=segment_size,
    )
    return out.getvalue()


def _otdf_create(data: bytes, rsa_key: KemPrivateKey, segment_size: int = SEGMENT) -> bytes:
    config = TDFConfig(
        autoconfigure=False,
        default_segment_size=segment_size,
        kas_info_list=[
            KASInfo(url=KAS_URL, public_key=rsa_key.public.public_pem().decode(), kid="r1")
        ],
    )
    _manifest, _size, out = TDF().create_tdf(data, config)
    assert isinstance(out, io.BytesIO)
    return out.getvalue()


def _otdf_load(tdf: bytes, rsa_key: KemPrivateKey) -> bytes:
    reader = TDF().load_tdf(
        tdf, TDFReaderConfig(kas_private_key=rsa_key.unencrypted_pem().decode())
    )
    payload = reader.payload
    assert isinstance(payload, bytes)
    return payload


def _manifest(tdf: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(tdf)) as z:
        doc = json.loads(z.read("0.manifest.json"))
    assert isinstance(doc, dict)
    return doc


def _segment_count(tdf: bytes) -> int:
    return len(_manifest(tdf)["encryptionInformation"]["integrityInformation"]["segments"])


def _rezip(tdf: bytes, change: Callable[[dict[str, Any], bytearray], None]) -> bytes:
    """The same TDF with its manifest and payload changed by `change` (a fresh, valid ZIP)."""
    with zipfile.ZipFile(io.BytesIO(tdf)) as z:
        manifest = json.loads(z.read("0.manifest.json"))
        payload = bytearray(z.read("0.payload"))
    change(manifest, payload)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("0.payload", bytes(payload))
        z.writestr("0.manifest.json", json.dumps(manifest))
    return out.getvalue()


def _cix_open(
    tdf: bytes, key: KemPrivateKey, signer: SigningKey | None, *, unsafe_allow_unlabelled: bool
) -> tuple[bytes, list[ObjectRefused]]:
    reasons: list[ObjectRefused] = []
    out = io.BytesIO()
    envelope.open(
        io.BytesIO(tdf),
        out,
        private_key=key,
        trusted_signers={"CAN": [signer.public]} if signer is not None else {},
        audit_hook=reasons.append,
        unsafe_allow_unlabelled=unsafe_allow_unlabelled,
    )
    return out.getvalue(), reasons


# --- cix -> otdf-python -----------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_cix_object_wrapped_for_rsa_opens_in_otdf_python(
    size: int, rsa_key: KemPrivateKey, signer: SigningKey
) -> None:
    data = _payload(size)
    sealed = _seal_for(data, [rsa_key.public], signer)

    assert _segment_count(sealed) == max(1, -(-size // SEGMENT))  # cix: >= 1 segment
    assert _otdf_load(sealed, rsa_key) == data


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_cix_object_with_hpke_recipients_beside_rsa_opens_in_otdf_python(
    size: int, rsa_key: KemPrivateKey, signer: SigningKey
) -> None:
    # cix nodes' HPKE key access objects come first: otdf-python must skip them.
    hybrid = generate_kem(KemAlgorithm.MLKEM768_X25519)
    classical = generate_kem(KemAlgorithm.X25519)
    data = _payload(size)
    sealed = _seal_for(data, [hybrid.public, classical.public, rsa_key.public], signer)

    assert _otdf_load(sealed, rsa_key) == data
    # and every cix recipient still opens it, with the label verified
    for key in (hybrid, classical, rsa_key):
        opened, reasons = _cix_open(sealed, key, signer, unsafe_allow_unlabelled=False)
        assert opened == data
        assert reasons == []


def test_cix_object_rewrapped_to_an_rsa_key_opens_in_otdf_python(
    rsa_key: KemPrivateKey, signer: SigningKey
) -> None:
    # A node forwards a document to an OpenTDF key access server: rewrap, payload untouched.
    node = generate_kem(KemAlgorithm.MLKEM768_X25519)
    data = _payload(3 * SEGMENT + 7)
    sealed = _seal_for(data, [node.public], signer)
    forwarded = io.BytesIO()

    rewrap(
        io.BytesIO(sealed),
        forwarded,
        private_key=node,
        to=[rsa_key.public],
        trusted_signers={"CAN": [signer.public]},
    )

    assert _otdf_load(forwarded.getvalue(), rsa_key) == data
    opened, reasons = _cix_open(
        forwarded.getvalue(), rsa_key, signer, unsafe_allow_unlabelled=False
    )
    assert opened == data
    assert reasons == []


def test_cix_object_with_an_alternative_label_opens_in_otdf_python(
    rsa_key: KemPrivateKey, signer: SigningKey
) -> None:
    # The receiving node (Korea) adds its marking of Canada's label; otdf-python, which
    # ignores assertions it does not know, still opens the object to the same bytes.
    korea = generate_signing()
    data = _payload(3 * SEGMENT + 7)
    sealed = _seal_for(data, [rsa_key.public], signer)
    marked = io.BytesIO()
    trusted = {"CAN": [signer.public], "KOR": [korea.public]}

    add_alternative_label(
        io.BytesIO(sealed),
        marked,
        private_key=rsa_key,
        trusted_signers=trusted,
        label_xml=b"<alternativeConfidentialityLabel/>",
        label_json={"classification": "KOR-III", "label": LABEL_JSON, "party": "KOR"},
        signer=korea,
    )

    assert [a["id"] for a in _manifest(marked.getvalue())["assertions"]] == [
        "cix-label",
        "cix-alternative-label-KOR",
    ]
    assert _otdf_load(marked.getvalue(), rsa_key) == data
    opened = envelope.open(
        marked.getvalue(), io.BytesIO(), private_key=rsa_key, trusted_signers=trusted
    )
    assert [a.party for a in opened.alternative_labels] == ["KOR"]


def test_cix_object_in_default_segments_opens_in_otdf_python(
    rsa_key: KemPrivateKey, signer: SigningKey
) -> None:
    # cix's own default segment size, two and a half segments of it
    from cix.envelope import DEFAULT_SEGMENT_SIZE

    data = _payload(2 * DEFAULT_SEGMENT_SIZE + DEFAULT_SEGMENT_SIZE // 2)
    sealed = _seal_for(data, [rsa_key.public], signer, segment_size=DEFAULT_SEGMENT_SIZE)

    assert _otdf_load(sealed, rsa_key) == data


def test_cix_manifest_follows_opentdf_encodings(rsa_key: KemPrivateKey, signer: SigningKey) -> None:
    """The manifest fields mean what they mean in OpenTDF (checked independently of cix)."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data = _payload(3 * SEGMENT + 5)
    sealed = _seal_for(data, [rsa_key.public], signer)
    manifest = _manifest(sealed)
    info = manifest["encryptionInformation"]
    (rsa_kao,) = [k for k in info["keyAccess"] if k.get("kid") == rsa_key.kid]
    key = rsa_key.unwrap(base64.b64decode(rsa_kao["wrappedKey"]), b"")
    with zipfile.ZipFile(io.BytesIO(sealed)) as z:
        payload = z.read("0.payload")
        assert [i.compress_type for i in z.infolist()] == [zipfile.ZIP_STORED] * 2

    assert manifest["schemaVersion"] == "4.3.0"
    assert info["method"]["algorithm"] == "AES-256-GCM"
    integrity = info["integrityInformation"]
    assert integrity["segmentHashAlg"] == "GMAC"
    assert integrity["rootSignature"]["alg"] == "HS256"
    # each segment: IV(12) || ciphertext || tag(16); its hash: base64 of the raw tag
    tags, offset, plain = b"", 0, b""
    for segment in integrity["segments"]:
        chunk = payload[offset : offset + segment["encryptedSegmentSize"]]
        offset += len(chunk)
        assert base64.b64decode(segment["hash"]) == chunk[-16:]
        plain += AESGCM(key).decrypt(chunk[:12], chunk[12:], None)
        tags += chunk[-16:]
    assert offset == len(payload)
    assert plain == data
    # root signature: base64(HMAC-SHA256(key, tag_0 || tag_1 || ...))
    root = hmac.new(key, tags, hashlib.sha256).digest()
    assert base64.b64decode(integrity["rootSignature"]["sig"]) == root
    # policy binding: base64(hex(HMAC-SHA256(key, policy as base64 text)))
    expected = hmac.new(key, info["policy"].encode(), hashlib.sha256).hexdigest()
    assert rsa_kao["policyBinding"]["alg"] == "HS256"
    assert base64.b64decode(rsa_kao["policyBinding"]["hash"]).decode() == expected
    policy = json.loads(base64.b64decode(info["policy"]))
    assert set(policy) >= {"uuid", "body"}


# --- otdf-python -> cix -----------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_otdf_python_tdf_opens_in_cix_when_unlabelled_is_allowed(
    size: int, rsa_key: KemPrivateKey
) -> None:
    data = _payload(size)
    tdf = _otdf_create(data, rsa_key)
    assert _segment_count(tdf) == -(-size // SEGMENT)  # otdf-python: no segment when empty

    opened, reasons = _cix_open(tdf, rsa_key, None, unsafe_allow_unlabelled=True)

    assert opened == data
    assert reasons == []


def test_otdf_python_tdf_in_its_default_segments_opens_in_cix(rsa_key: KemPrivateKey) -> None:
    data = _payload(5 * (1 << 20) + 17)  # otdf-python's default: 2 MiB segments
    tdf = _otdf_create(data, rsa_key, segment_size=TDFConfig().default_segment_size)

    opened, _ = _cix_open(tdf, rsa_key, None, unsafe_allow_unlabelled=True)

    assert opened == data


def test_otdf_python_tdf_is_refused_as_unlabelled_by_default(rsa_key: KemPrivateKey) -> None:
    tdf = _otdf_create(b"no cix label here", rsa_key)

    with pytest.raises(UnlabelledObject, match="label"):
        _cix_open(tdf, rsa_key, None, unsafe_allow_unlabelled=False)


def test_otdf_python_tdf_with_data_attributes_opens_in_cix_with_its_policy(
    rsa_key: KemPrivateKey,
) -> None:
    attribute = "https://example.org/attr/classification/value/secret"
    config = TDFConfig(
        autoconfigure=False,
        default_segment_size=SEGMENT,
        attributes=[attribute],
        mime_type="text/plain",
        kas_info_list=[
            KASInfo(url=KAS_URL, public_key=rsa_key.public.public_pem().decode(), kid="r1")
        ],
    )
    _manifest_obj, _size, out = TDF().create_tdf(b"attribute-bearing", config)
    assert isinstance(out, io.BytesIO)
    opened = io.BytesIO()

    result = envelope.open(
        io.BytesIO(out.getvalue()),
        opened,
        private_key=rsa_key,
        trusted_signers={},
        unsafe_allow_unlabelled=True,
    )

    assert opened.getvalue() == b"attribute-bearing"
    assert [a["attribute"] for a in result.policy["body"]["dataAttributes"]] == [attribute]


def test_otdf_python_tdf_for_two_key_access_servers_opens_with_either_key(
    rsa_key: KemPrivateKey,
) -> None:
    # Two KAS, no split id: two alternative key access objects wrapping the same key.
    other = generate_kem(KemAlgorithm.RSA_2048)
    config = TDFConfig(
        autoconfigure=False,
        default_segment_size=SEGMENT,
        kas_info_list=[
            KASInfo(url=KAS_URL, public_key=rsa_key.public.public_pem().decode(), kid="r1"),
            KASInfo(
                url="https://kas2.example.org",
                public_key=other.public.public_pem().decode(),
                kid="r2",
            ),
        ],
    )
    data = _payload(2 * SEGMENT + 3)
    _manifest_obj, _size, out = TDF().create_tdf(data, config)
    assert isinstance(out, io.BytesIO)

    for key in (rsa_key, other):
        opened, reasons = _cix_open(out.getvalue(), key, None, unsafe_allow_unlabelled=True)
        assert opened == data
        assert reasons == []


def _flip_ciphertext_byte(manifest: dict[str, Any], payload: bytearray) -> None:
    payload[12 + 100] ^= 0x01  # inside the first segment's ciphertext, past its IV


def _flip_segment_hash(manifest: dict[str, Any], payload: bytearray) -> None:
    segments = manifest["encryptionInformation"]["integrityInformation"]["segments"]
    raw = bytearray(base64.b64decode(segments[1]["hash"]))
    raw[0] ^= 0x01
    segments[1]["hash"] = base64.b64encode(bytes(raw)).decode()


def _swap_segments(manifest: dict[str, Any], payload: bytearray) -> None:
    # swap the first two (full-size) segments and their manifest entries consistently:
    # every GCM tag and segment hash still matches, only the root signature can tell
    size = manifest["encryptionInformation"]["integrityInformation"]["segments"][0][
        "encryptedSegmentSize"
    ]
    first, second = payload[:size], payload[size : 2 * size]
    payload[: 2 * size] = second + first
    segments = manifest["encryptionInformation"]["integrityInformation"]["segments"]
    segments[0], segments[1] = segments[1], segments[0]


def _change_policy(manifest: dict[str, Any], payload: bytearray) -> None:
    info = manifest["encryptionInformation"]
    policy = json.loads(base64.b64decode(info["policy"]))
    policy["body"]["dataAttributes"] = [{"attribute": "https://example.org/attr/x/value/y"}]
    info["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        (_flip_ciphertext_byte, RefusalReason.SEGMENT_DECRYPT_FAILED),
        (_flip_segment_hash, RefusalReason.ROOT_SIGNATURE_MISMATCH),
        (_swap_segments, RefusalReason.ROOT_SIGNATURE_MISMATCH),
        (_change_policy, RefusalReason.POLICY_BINDING_MISMATCH),
    ],
    ids=["ciphertext-byte", "segment-hash", "segment-swap", "policy-change"],
)
def test_tampered_otdf_python_tdf_is_refused_by_cix(
    attack: Callable[[dict[str, Any], bytearray], None],
    reason: RefusalReason,
    rsa_key: KemPrivateKey,
) -> None:
    tdf = _rezip(_otdf_create(_payload(4 * SEGMENT), rsa_key), attack)
    reasons: list[ObjectRefused] = []

    with pytest.raises(Refused):
        envelope.open(
            io.BytesIO(tdf),
            io.BytesIO(),
            private_key=rsa_key,
            trusted_signers={},
            audit_hook=reasons.append,
            unsafe_allow_unlabelled=True,
        )

    assert len(reasons) == 1
    assert reasons[0].reason is reason


# --- the CLI ----------------------------------------------------------------------------


def _cix(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cix_open_cli_requires_allow_unlabelled_for_an_otdf_python_tdf(
    tmp_path: Path, rsa_key: KemPrivateKey
) -> None:
    passphrase = "interop test passphrase"
    write_key_pair(tmp_path / "keys", rsa_key, generate_signing(), passphrase.encode())
    data = _payload(3 * SEGMENT + 1)
    tdf_path = tmp_path / "from-otdf.tdf"
    tdf_path.write_bytes(_otdf_create(data, rsa_key))
    out = tmp_path / "out.bin"
    env = {**os.environ, "CIX_PASSPHRASE": passphrase}
    key = str(tmp_path / "keys" / "kem.key")

    refused = _cix("open", str(tdf_path), "-o", str(out), "--key", key, env=env)

    assert refused.returncode == 2, refused.stderr
    assert "label" in refused.stderr
    assert "--unsafe-allow-unlabelled" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not out.exists()

    allowed = _cix(
        "open", str(tdf_path), "-o", str(out), "--key", key, "--unsafe-allow-unlabelled", env=env
    )

    assert allowed.returncode == 0, allowed.stderr
    assert "no cix label" in allowed.stderr
    assert out.read_bytes() == data
