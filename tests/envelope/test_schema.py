"""Every manifest cix writes validates against the OpenTDF manifest schema (shared copy)."""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cix import envelope
from cix.keys import KemAlgorithm, KemPrivateKey, SigningKey, generate_kem
from tests.envelope.helpers import members, seal_bytes


def _schema(shared_dir: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (shared_dir / "reference" / "opentdf-manifest.schema.json").read_text()
    )
    return schema


def _violations(schema: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [e.message for e in validator.iter_errors(manifest)]


def test_bundled_schema_is_the_shared_one(shared_dir: Path) -> None:
    bundled = resources.files("cix.envelope").joinpath("opentdf-manifest.schema.json")
    assert json.loads(bundled.read_text()) == _schema(shared_dir)


@pytest.mark.parametrize("size", [0, 1, 100, 5000])
def test_native_manifests_validate(
    size: int, shared_dir: Path, alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey
) -> None:
    blob = seal_bytes(b"\x00" * size, [alice.public, bob.public], signer, segment_size=1024)
    assert _violations(_schema(shared_dir), members(blob)[0]) == []


def test_rewrapped_manifest_validates(
    shared_dir: Path, alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey
) -> None:
    out = io.BytesIO()
    envelope.rewrap(
        io.BytesIO(seal_bytes(b"x", [alice.public], signer)),
        out,
        private_key=alice,
        to=[bob.public],
        trusted_signers={"KOR": [signer.public]},
    )
    assert _violations(_schema(shared_dir), members(out.getvalue())[0]) == []


def test_rsa_interop_manifest_differs_only_by_payload_spec_version(
    shared_dir: Path, alice: KemPrivateKey, signer: SigningKey
) -> None:
    # otdf-python 0.11 raises TypeError on payload.tdf_spec_version, which the 4.3.0 schema
    # requires: objects with an RSA (OpenTDF) recipient omit it, and nothing else may differ.
    rsa = generate_kem(KemAlgorithm.RSA_2048)
    manifest = members(seal_bytes(b"x", [alice.public, rsa.public], signer))[0]
    assert _violations(_schema(shared_dir), manifest) == [
        "'tdf_spec_version' is a required property"
    ]
    manifest["payload"]["tdf_spec_version"] = manifest["schemaVersion"]
    assert _violations(_schema(shared_dir), manifest) == []
