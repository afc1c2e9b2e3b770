"""Node keys: generation, encrypted storage, derived kids, wrap/unwrap, passphrase sources."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cix.keys import (
    KEM_PRIVATE,
    KEM_PUBLIC,
    SIGN_PRIVATE,
    SIGN_PUBLIC,
    KemAlgorithm,
    KeyFileError,
    SignatureAlgorithm,
    SignatureInvalid,
    UnwrapFailed,
    derive_kid,
    generate_kem,
    generate_signing,
    kem_private_from_raw,
    load_kem_private,
    load_kem_public,
    load_signing_key,
    load_verify_key,
    passphrase_from_environment,
    write_key_pair,
)

PASS = b"correct horse battery staple"


@pytest.mark.parametrize("kem", list(KemAlgorithm))
@pytest.mark.parametrize("sign", list(SignatureAlgorithm))
def test_key_files_round_trip(tmp_path: Path, kem: KemAlgorithm, sign: SignatureAlgorithm) -> None:
    k, s = generate_kem(kem), generate_signing(sign)
    write_key_pair(tmp_path, k, s, PASS)
    k2 = load_kem_private(tmp_path / KEM_PRIVATE, PASS)
    s2 = load_signing_key(tmp_path / SIGN_PRIVATE, PASS)
    assert k2.kid == k.kid == load_kem_public(tmp_path / KEM_PUBLIC).kid
    assert s2.kid == s.kid == load_verify_key(tmp_path / SIGN_PUBLIC).kid
    payload_key = bytes(range(32))
    assert k2.unwrap(k.public.wrap(payload_key, b"ctx"), b"ctx") == payload_key
    load_verify_key(tmp_path / SIGN_PUBLIC).verify(s2.sign(b"m"), b"m")


def test_private_keys_are_encrypted_at_rest(tmp_path: Path) -> None:
    write_key_pair(tmp_path, generate_kem(), generate_signing(), PASS)
    for name in (KEM_PRIVATE, SIGN_PRIVATE):
        text = (tmp_path / name).read_text()
        assert "BEGIN ENCRYPTED PRIVATE KEY" in text
        assert "BEGIN PRIVATE KEY" not in text
        assert (tmp_path / name).stat().st_mode & 0o077 == 0
    for name in (KEM_PUBLIC, SIGN_PUBLIC):
        assert "PRIVATE" not in (tmp_path / name).read_text()


def test_wrong_passphrase_is_named(tmp_path: Path) -> None:
    write_key_pair(tmp_path, generate_kem(KemAlgorithm.X25519), generate_signing(), PASS)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_kem_private(tmp_path / KEM_PRIVATE, b"wrong")


def test_existing_keys_are_not_overwritten(tmp_path: Path) -> None:
    write_key_pair(tmp_path, generate_kem(KemAlgorithm.X25519), generate_signing(), PASS)
    before = (tmp_path / KEM_PRIVATE).read_bytes()
    with pytest.raises(KeyFileError, match="not overwriting"):
        write_key_pair(tmp_path, generate_kem(KemAlgorithm.X25519), generate_signing(), PASS)
    assert (tmp_path / KEM_PRIVATE).read_bytes() == before


def test_kid_is_derived_from_the_public_key() -> None:
    k = generate_kem(KemAlgorithm.X25519)
    assert k.kid == derive_kid("x25519", k.public.public_bytes)
    assert k.kid.startswith("x25519:")
    assert len(k.kid) == len("x25519:") + 32
    assert generate_kem(KemAlgorithm.X25519).kid != k.kid


def test_public_file_with_a_swapped_key_is_rejected(tmp_path: Path) -> None:
    write_key_pair(tmp_path, generate_kem(KemAlgorithm.X25519), generate_signing(), PASS)
    doc = json.loads((tmp_path / KEM_PUBLIC).read_text())
    doc["public"] = base64.b64encode(generate_kem(KemAlgorithm.X25519).public.public_bytes).decode()
    (tmp_path / "swapped.pub").write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="kid"):
        load_kem_public(tmp_path / "swapped.pub")


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"\xff\x00garbage", "not a cix key file"),
        (b'{"version": 2}', "version 1"),
        (
            b'{"version": 1, "cix_key": "public", "use": "kem", "algorithm": "p256"}',
            "unknown algorithm 'p256'",
        ),
    ],
)
def test_bad_key_files_are_named(tmp_path: Path, content: bytes, pattern: str) -> None:
    (tmp_path / "k.pub").write_bytes(content)
    with pytest.raises(KeyFileError, match=pattern):
        load_kem_public(tmp_path / "k.pub")


def test_private_file_given_as_public_is_named(tmp_path: Path) -> None:
    write_key_pair(tmp_path, generate_kem(KemAlgorithm.X25519), generate_signing(), PASS)
    with pytest.raises(KeyFileError, match="private key file"):
        load_kem_public(tmp_path / KEM_PRIVATE)


def test_unwrap_binds_the_context() -> None:
    k = generate_kem()
    wrapped = k.public.wrap(bytes(32), b"context A")
    with pytest.raises(UnwrapFailed):
        k.unwrap(wrapped, b"context B")
    with pytest.raises(UnwrapFailed):
        generate_kem().unwrap(wrapped, b"context A")


def test_signature_over_other_data_fails() -> None:
    s = generate_signing()
    with pytest.raises(SignatureInvalid):
        s.public.verify(s.sign(b"a"), b"b")


def test_raw_hybrid_key_is_deterministic() -> None:
    raw = bytes(range(96))
    a = kem_private_from_raw(KemAlgorithm.MLKEM768_X25519, raw)
    b = kem_private_from_raw(KemAlgorithm.MLKEM768_X25519, raw)
    assert a.kid == b.kid
    assert len(a.public.public_bytes) == 1184 + 32


def test_repr_hides_private_material() -> None:
    k = generate_kem(KemAlgorithm.X25519)
    assert "_key" not in repr(k)


def test_passphrase_sources_in_order(tmp_path: Path) -> None:
    (tmp_path / "pp").write_text("from-file\n")
    env = {"CIX_PASSPHRASE": "from-env", "CIX_PASSPHRASE_FILE": str(tmp_path / "pp")}
    assert passphrase_from_environment(env, lambda: "prompted") == b"from-env"
    del env["CIX_PASSPHRASE"]
    assert passphrase_from_environment(env, lambda: "prompted") == b"from-file"
    assert passphrase_from_environment({}, lambda: "prompted") == b"prompted"
    with pytest.raises(KeyFileError, match="no passphrase"):
        passphrase_from_environment({})
    with pytest.raises(KeyFileError, match="CIX_PASSPHRASE_FILE"):
        passphrase_from_environment({"CIX_PASSPHRASE_FILE": str(tmp_path / "missing")})


def test_new_node_key_is_not_quantum_vulnerable_by_default(tmp_path: Path) -> None:
    # Issue 10 #17: docs said ML-KEM-768+X25519 by default while `cix init` made X25519,
    # a key a future quantum adversary breaks for every document recorded today.
    from cix.node.keyring import create_node_keys, load_node_keys
    from cix.settings import load_settings

    (tmp_path / "cix.toml").write_text('party = "CAN"\n', encoding="utf-8")
    settings = load_settings(tmp_path, environ={})
    assert settings.kem_algorithm == KemAlgorithm.MLKEM768_X25519.value
    create_node_keys(tmp_path, b"pw", kem_algorithm=settings.kem_algorithm, node_id="n")
    assert load_node_keys(tmp_path, b"pw").kem.algorithm is KemAlgorithm.MLKEM768_X25519


@pytest.mark.parametrize("algorithm", ["x25519", "rsa-2048"])
def test_node_key_algorithm_stays_selectable(tmp_path: Path, algorithm: str) -> None:
    from cix.settings import load_settings

    (tmp_path / "cix.toml").write_text(
        f'party = "CAN"\nkem_algorithm = "{algorithm}"\n', encoding="utf-8"
    )
    assert load_settings(tmp_path, environ={}).kem_algorithm == algorithm
