"""Single-byte changes at every offset of a small sealed object.

Manifest (which holds the key access objects, the policy and the label assertion) and
payload: every change is detected. ZIP bookkeeping: every change is either detected or
changes nothing that is read; the test names each such field and why it is harmless.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections import Counter
from collections.abc import Iterator

import pytest

from cix.envelope import EnvelopeVerificationError
from cix.errors import InputError, Refused
from cix.keys import KemPrivateKey, SigningKey
from tests.envelope.helpers import (
    LABEL_JSON,
    Audit,
    manifest_bytes,
    open_bytes,
    payload_bytes,
    rezip,
    seal_bytes,
)

DATA = bytes(range(50))


@pytest.fixture(scope="module")
def blob(alice: KemPrivateKey, signer: SigningKey) -> bytes:
    return seal_bytes(DATA, [alice.public], signer, segment_size=16)


def _outcome(
    candidate: bytes, alice: KemPrivateKey, signer: SigningKey
) -> tuple[str, type[Exception] | None]:
    """'refused' with the audit reason, 'input' with the InputError type, or 'opened'."""
    audit = Audit()
    try:
        plain, opened = open_bytes(candidate, alice, [signer.public], audit)
    except Refused:
        return "refused", audit.only
    except InputError as exc:
        assert not audit.reasons
        return "input", type(exc)
    assert plain == DATA
    assert opened.label_json == LABEL_JSON
    return "opened", None


def _regions(manifest: bytes) -> dict[str, range]:
    """Byte ranges of the key access objects, policy and assertion inside the manifest."""
    doc = json.loads(manifest)
    text = manifest.decode()

    def span(fragment: str) -> range:
        start = text.index(fragment)
        return range(start, start + len(fragment))

    def dumped(obj: object) -> str:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    enc = doc["encryptionInformation"]
    return {
        "keyAccess": span(dumped(enc["keyAccess"])),
        "policy": span(dumped(enc["policy"])),
        "assertion": span(dumped(doc["assertions"])),
        "segments": span(dumped(enc["integrityInformation"]["segments"])),
    }


def test_every_manifest_byte_change_is_detected(
    blob: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = manifest_bytes(blob), payload_bytes(blob)
    regions = _regions(manifest)
    seen: dict[str, Counter[str]] = {name: Counter() for name in regions}
    outcomes: Counter[str] = Counter()
    for i in range(len(manifest)):
        changed = bytearray(manifest)
        changed[i] ^= 0x01
        kind, reason = _outcome(rezip(bytes(changed), payload), alice, signer)
        assert kind != "opened", f"a change at manifest offset {i} went unnoticed"
        outcomes[kind] += 1
        for name, where in regions.items():
            if i in where and reason is not None:
                seen[name][reason.__name__] += 1
    # Most changes keep the JSON well-formed and reach the cryptographic checks.
    assert outcomes["refused"] > outcomes["input"]
    # Each region is guarded by the check that covers it.
    assert "KeyUnwrapFailed" in seen["keyAccess"]
    assert "PolicyBindingMismatch" in seen["keyAccess"]
    assert "PolicyBindingMismatch" in seen["policy"]
    assert set(seen["assertion"]) & {"AssertionBindingMismatch", "AssertionSignatureInvalid"}
    assert "RootSignatureMismatch" in seen["segments"]


def test_every_payload_byte_change_is_detected(
    blob: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    manifest, payload = manifest_bytes(blob), payload_bytes(blob)
    reasons: Counter[str] = Counter()
    for i in range(len(payload)):
        changed = bytearray(payload)
        changed[i] ^= 0x01
        kind, reason = _outcome(rezip(manifest, bytes(changed)), alice, signer)
        assert kind == "refused", f"payload offset {i}: {kind}"
        assert reason is not None
        assert issubclass(reason, EnvelopeVerificationError)
        reasons[reason.__name__] += 1
    # 4 segments: 16-byte tags are compared with the manifest; IV and ciphertext fail GCM.
    assert reasons == Counter(SegmentHashMismatch=4 * 16, SegmentDecryptFailed=len(payload) - 64)


# --- ZIP bookkeeping ---------------------------------------------------------------------

#: The fields whose change may leave the object readable, and why nothing read changes.
HARMLESS = {
    "local.version": "the version needed to extract is not used by the reader",
    "local.flags": "local flags are not used; the central directory's are checked",
    "local.method": "the central directory's compression method is the one used",
    "local.time": "modification times are not used",
    "local.date": "modification dates are not used",
    "local.crc": "local CRC and sizes are not used: the central directory gives them",
    "local.csize": "local sizes are not used: the central directory gives them",
    "local.usize": "local sizes are not used: the central directory gives them",
    "descriptor": "the data descriptor repeats the central directory and is not read",
    "central.made_by": "the version made by is not used",
    "central.version": "the version needed to extract is not used",
    "central.flags": "only the encryption bit matters; a flip of another bit changes nothing",
    "central.time": "modification times are not used",
    "central.date": "modification dates are not used",
    "central.crc[0.payload]": "the payload's CRC is not checked: AES-GCM tags authenticate it",
    "central.disk": "the member's start disk is not used (single-disk archives only)",
    "central.internal_attr": "file attributes are not used",
    "central.external_attr": "file attributes are not used",
}


def _fields(blob: bytes) -> Iterator[tuple[range, str]]:
    """Name every bookkeeping byte range of the archive (everything but member data)."""
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        infos = z.infolist()
    local = [
        ("sig", 0, 4),
        ("version", 4, 6),
        ("flags", 6, 8),
        ("method", 8, 10),
        ("time", 10, 12),
        ("date", 12, 14),
        ("crc", 14, 18),
        ("csize", 18, 22),
        ("usize", 22, 26),
        ("name_len", 26, 28),
        ("extra_len", 28, 30),
    ]
    central = [
        ("sig", 0, 4),
        ("made_by", 4, 6),
        ("version", 6, 8),
        ("flags", 8, 10),
        ("method", 10, 12),
        ("time", 12, 14),
        ("date", 14, 16),
        ("crc", 16, 20),
        ("csize", 20, 24),
        ("usize", 24, 28),
        ("name_len", 28, 30),
        ("extra_len", 30, 32),
        ("comment_len", 32, 34),
        ("disk", 34, 36),
        ("internal_attr", 36, 38),
        ("external_attr", 38, 42),
        ("offset", 42, 46),
    ]
    for info in infos:
        at = info.header_offset
        n, x = struct.unpack_from("<HH", blob, at + 26)
        for name, a, b in local:
            yield range(at + a, at + b), f"local.{name}"
        yield range(at + 30, at + 30 + n), "local.name"
        yield range(at + 30 + n, at + 30 + n + x), "local.extra"
        end = at + 30 + n + x + info.compress_size
        if info.flag_bits & 0x08:
            yield range(end, end + 16), "descriptor"
    cd = blob.rindex(b"PK\x05\x06")
    cd_start = struct.unpack_from("<I", blob, cd + 16)[0]
    at = cd_start
    while at < cd:
        n, x, c = struct.unpack_from("<HHH", blob, at + 28)
        name = blob[at + 46 : at + 46 + n].decode()
        for field, a, b in central:
            label = f"central.{field}[{name}]" if field == "crc" else f"central.{field}"
            yield range(at + a, at + b), label
        yield range(at + 46, at + 46 + n + x + c), "central.name"
        at += 46 + n + x + c
    eocd = [
        ("sig", 0, 4),
        ("disk", 4, 6),
        ("cd_disk", 6, 8),
        ("n_disk", 8, 10),
        ("count", 10, 12),
        ("cd_size", 12, 16),
        ("cd_offset", 16, 20),
        ("comment_len", 20, 22),
    ]
    for field, a, b in eocd:
        yield range(cd + a, cd + b), f"eocd.{field}"


def test_zip_bookkeeping_changes_are_detected_or_harmless(
    blob: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    fields = list(_fields(blob))
    covered = {i for r, _ in fields for i in r}
    data_bytes = len(manifest_bytes(blob)) + len(payload_bytes(blob))
    assert len(covered) + data_bytes == len(blob)  # every byte is data or a named field
    harmless_seen: set[str] = set()
    detected = 0
    for where, field in fields:
        for i in where:
            changed = bytearray(blob)
            changed[i] ^= 0x01
            kind, _ = _outcome(bytes(changed), alice, signer)
            if kind == "opened":
                assert field in HARMLESS, f"offset {i} ({field}) changed and was not detected"
                harmless_seen.add(field)
            else:
                detected += 1
    assert detected > 0
    # The list is exact: every field named harmless was exercised and left the object intact.
    assert harmless_seen == set(HARMLESS)
