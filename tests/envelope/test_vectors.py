"""Known-answer vectors: the stored sealed objects open to the stored plaintext and label, and
sealing again with the stored key, IVs, policy uuid and HPKE outputs gives the same bytes."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from cix import envelope
from cix.keys import (
    KemAlgorithm,
    KemPublicKey,
    SignatureAlgorithm,
    kem_private_from_raw,
    signing_from_raw,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "envelope"
NAMES = sorted(p.stem for p in VECTORS.glob("*.json"))


#: "memory": from and to BytesIO. "file": from a mapped file (`mapped_input`, as the CLI
#: reads) to a file (written behind by a second thread when there are several segments).
WAYS = ["memory", "file"]


@contextlib.contextmanager
def _through(way: str, data: bytes, tmp: Path) -> Iterator[tuple[Any, BinaryIO, Path | None]]:
    """A source holding `data`, a sink, and the sink's path for "file" (None for memory)."""
    if way == "memory":
        yield io.BytesIO(data), io.BytesIO(), None
        return
    (tmp / "in").write_bytes(data)
    with (
        (tmp / "in").open("rb") as handle,
        envelope.mapped_input(handle) as source,
        (tmp / "out").open("wb") as sink,
    ):
        yield source, sink, tmp / "out"


def _written(sink: BinaryIO, path: Path | None) -> bytes:
    if path is None:
        assert isinstance(sink, io.BytesIO)
        return sink.getvalue()
    sink.close()
    return path.read_bytes()


def test_there_are_vectors() -> None:
    assert len(NAMES) >= 3


def _load(name: str) -> tuple[dict[str, Any], bytes]:
    doc: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    sealed = (VECTORS / doc["sealed_file"]).read_bytes()
    assert hashlib.sha256(sealed).hexdigest() == doc["sealed_sha256"]
    return doc, sealed


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("name", NAMES)
def test_vector_opens_for_every_recipient(name: str, way: str, tmp_path: Path) -> None:
    doc, sealed = _load(name)
    signer = signing_from_raw(
        SignatureAlgorithm.ED25519, bytes.fromhex(doc["signer"]["private_raw"])
    )
    assert signer.kid == doc["signer"]["kid"]
    for r in doc["recipients"]:
        key = kem_private_from_raw(KemAlgorithm(r["algorithm"]), bytes.fromhex(r["private_raw"]))
        assert key.kid == r["kid"]
        with _through(way, sealed, tmp_path) as (src, out, path):
            opened = envelope.open(
                src, out, private_key=key, trusted_signers={"KOR": [signer.public]}
            )
            assert _written(out, path) == bytes.fromhex(doc["plaintext"])
        assert opened.label_json == doc["label_json"]
        assert opened.label_xml == doc["label_xml"].encode()


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("name", NAMES)
def test_vector_is_reproduced_byte_for_byte(name: str, way: str, tmp_path: Path) -> None:
    doc, sealed = _load(name)
    signer = signing_from_raw(
        SignatureAlgorithm.ED25519, bytes.fromhex(doc["signer"]["private_raw"])
    )
    keys = [
        kem_private_from_raw(KemAlgorithm(r["algorithm"]), bytes.fromhex(r["private_raw"]))
        for r in doc["recipients"]
    ]
    stored = iter(base64.b64decode(w) for w in doc["wrapped_keys"])
    payload_key = bytes.fromhex(doc["payload_key"])

    def replay(recipient: KemPublicKey, key: bytes, info: bytes) -> bytes:
        wrapped = next(stored)
        private = next(k for k in keys if k.kid == recipient.kid)
        assert private.unwrap(wrapped, info) == key == payload_key  # a genuine encapsulation
        return wrapped

    with _through(way, bytes.fromhex(doc["plaintext"]), tmp_path) as (src, out, path):
        envelope.seal(
            src,
            out,
            label_xml=doc["label_xml"].encode(),
            label_json=doc["label_json"],
            recipients=[k.public for k in keys],
            signer=signer,
            segment_size=doc["segment_size"],
            _key=payload_key,
            _ivs=iter(bytes.fromhex(iv) for iv in doc["ivs"]),
            _policy_uuid=doc["policy_uuid"],
            _wrap=replay,
        )
        assert _written(out, path) == sealed
