"""The verified-manifest cache: same bytes and same trusted signers give the same verified
manifest; everything keyed or payload-bound is still checked on every open."""

from __future__ import annotations

import io
import os

import pytest

from cix import envelope
from cix.envelope import ManifestCache, seal
from cix.errors import Refused
from cix.keys import KemPrivateKey, SigningKey, generate_kem, generate_signing


def _sealed(kem: KemPrivateKey, signer: SigningKey, body: bytes) -> bytes:
    out = io.BytesIO()
    seal(
        io.BytesIO(body),
        out,
        label_xml=b"<label/>",
        label_json={"classification": "S", "originator": "KOR"},
        recipients=[kem.public],
        signer=signer,
    )
    return out.getvalue()


def _open(data: bytes, kem: KemPrivateKey, signer: SigningKey, cache: ManifestCache) -> bytes:
    out = io.BytesIO()
    envelope.open(
        data, out, private_key=kem, trusted_signers={"KOR": [signer.public]}, manifest_cache=cache
    )
    return out.getvalue()


def test_cached_open_gives_the_same_plaintext() -> None:
    kem, signer = generate_kem(), generate_signing()
    body = os.urandom(70_000)
    data = _sealed(kem, signer, body)
    cache = ManifestCache(4)
    assert _open(data, kem, signer, cache) == body
    assert len(cache) == 1
    assert _open(data, kem, signer, cache) == body
    assert len(cache) == 1


def test_tampered_payload_is_refused_even_when_manifest_cached() -> None:
    kem, signer = generate_kem(), generate_signing()
    data = bytearray(_sealed(kem, signer, os.urandom(70_000)))
    cache = ManifestCache(4)
    _open(bytes(data), kem, signer, cache)
    data[len(data) // 3] ^= 1  # a payload byte; the manifest bytes are unchanged
    with pytest.raises(Refused):
        _open(bytes(data), kem, signer, cache)


def test_wrong_key_is_refused_even_when_manifest_cached() -> None:
    kem, signer = generate_kem(), generate_signing()
    data = _sealed(kem, signer, b"secret")
    cache = ManifestCache(4)
    _open(data, kem, signer, cache)
    with pytest.raises(Refused):
        _open(data, generate_kem(), signer, cache)


def test_untrusted_signer_is_refused_even_when_manifest_cached_for_another() -> None:
    kem, signer = generate_kem(), generate_signing()
    data = _sealed(kem, signer, b"secret")
    cache = ManifestCache(4)
    _open(data, kem, signer, cache)
    with pytest.raises(Refused):
        _open(data, kem, generate_signing(), cache)


def test_cache_is_bounded() -> None:
    kem, signer = generate_kem(), generate_signing()
    cache = ManifestCache(2)
    for _ in range(5):
        _open(_sealed(kem, signer, os.urandom(100)), kem, signer, cache)
    assert len(cache) == 2
