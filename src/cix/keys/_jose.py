"""The node's Ed25519 keys as joserfc keys, for the JWS of federation messages (RFC 7515,
alg `Ed25519` of RFC 9864, which replaces the deprecated polymorphic `EdDSA`)."""

from __future__ import annotations

from joserfc.jwk import OKPKey

from cix.keys._model import KeyFileError, SignatureAlgorithm, SigningKey, VerifyKey

#: The JWS `alg` of federation messages (RFC 9864: fully specified Ed25519).
JWS_ALG = "Ed25519"


def _ed25519_only(algorithm: SignatureAlgorithm) -> None:
    if algorithm is not SignatureAlgorithm.ED25519:
        # joserfc has no ML-DSA; federation messages are Ed25519 (the agreement's choice).
        raise KeyFileError(f"federation messages are signed with Ed25519, not {algorithm}")


def jose_signing_key(key: SigningKey) -> OKPKey:
    """The private signing key as a joserfc OKP key (Ed25519 only)."""
    _ed25519_only(key.algorithm)
    return OKPKey.import_key(key._key)  # type: ignore[arg-type]


def jose_verify_key(key: VerifyKey) -> OKPKey:
    """The public key as a joserfc OKP key (Ed25519 only)."""
    _ed25519_only(key.algorithm)
    return OKPKey.import_key(key._key)  # type: ignore[arg-type]
