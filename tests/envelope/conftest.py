"""Keys for the envelope tests, generated once per session (X25519 for speed by default)."""

from __future__ import annotations

import pytest

from cix.keys import (
    KemAlgorithm,
    KemPrivateKey,
    SigningKey,
    generate_kem,
    generate_signing,
)


@pytest.fixture(scope="session")
def alice() -> KemPrivateKey:
    """A recipient with an X25519 HPKE key."""
    return generate_kem(KemAlgorithm.X25519)


@pytest.fixture(scope="session")
def bob() -> KemPrivateKey:
    """A second recipient with the hybrid ML-KEM-768+X25519 key."""
    return generate_kem(KemAlgorithm.MLKEM768_X25519)


@pytest.fixture(scope="session")
def carol() -> KemPrivateKey:
    """A third party who is never a recipient."""
    return generate_kem(KemAlgorithm.X25519)


@pytest.fixture(scope="session")
def signer() -> SigningKey:
    """The originator's Ed25519 signing key."""
    return generate_signing()


@pytest.fixture(scope="session")
def stranger() -> SigningKey:
    """A signing key nobody trusts."""
    return generate_signing()
