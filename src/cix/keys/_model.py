"""Key types: HPKE key-encapsulation pairs, RSA-OAEP (OpenTDF interop) and signing pairs.

Every key object is built through a `from_…`/`generate_…` function that checks it, so a
key of the wrong length or algorithm cannot exist. The `kid` of a key is derived from its
public encoding, so two parties computing it from the same public key agree.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import ClassVar

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, mlkem, padding, rsa, x25519

from cix.errors import InputError, VerificationError


class KeyFileError(InputError):
    """A key file or key encoding is malformed, of an unknown algorithm, or inconsistent."""


class UnwrapFailed(VerificationError):
    """A wrapped key did not decrypt under this private key (wrong key or tampered input)."""

    reason: ClassVar[str] = "key-unwrap-failed"


class SignatureInvalid(VerificationError):
    """A signature did not verify under the given public key."""

    reason: ClassVar[str] = "signature-invalid"


class KemAlgorithm(enum.StrEnum):
    """Key-encapsulation algorithms for wrapping payload keys to a recipient."""

    X25519 = "x25519"
    MLKEM768_X25519 = "mlkem768-x25519"
    RSA_2048 = "rsa-2048"


class SignatureAlgorithm(enum.StrEnum):
    """Signature algorithms for the originator's label binding."""

    ED25519 = "ed25519"
    ML_DSA_65 = "ml-dsa-65"


#: The JOSE `alg` of each signature algorithm (RFC 8037; draft-ietf-cose-dilithium).
JOSE_ALG: dict[SignatureAlgorithm, str] = {
    SignatureAlgorithm.ED25519: "EdDSA",
    SignatureAlgorithm.ML_DSA_65: "ML-DSA-65",
}

_HPKE_KEM: dict[KemAlgorithm, hpke.KEM] = {
    KemAlgorithm.X25519: hpke.KEM.X25519,
    KemAlgorithm.MLKEM768_X25519: hpke.KEM.MLKEM768_X25519,
}
_X25519_LEN = 32
_MLKEM768_PUBLIC_LEN = 1184
_MLKEM768_SEED_LEN = 64
_RSA_BITS = 2048
_PAYLOAD_KEY_LEN = 32

_HpkePublic = x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey
_HpkePrivate = x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey


def _suite(algorithm: KemAlgorithm) -> hpke.Suite:
    # One suite per KEM: HKDF-SHA256 and AES-256-GCM (RFC 9180 ids 0x0001, 0x0002).
    return hpke.Suite(_HPKE_KEM[algorithm], hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def _oaep() -> padding.OAEP:
    # OpenTDF's key access servers use RSA-OAEP with SHA-1 for both hashes and no label.
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303


def derive_kid(algorithm: str, public_bytes: bytes) -> str:
    """The key id: the algorithm name and the first 16 bytes of a domain-separated SHA-256."""
    digest = hashlib.sha256(b"cix-kid-v1\x00" + algorithm.encode() + b"\x00" + public_bytes)
    return f"{algorithm}:{digest.digest()[:16].hex()}"


def fingerprint(public_bytes: bytes) -> str:
    """The SHA-256 fingerprint of a public encoding, lower-case hex (for people to compare)."""
    return hashlib.sha256(public_bytes).hexdigest()


@dataclass(frozen=True, eq=False)
class KemPublicKey:
    """A recipient's public key-encapsulation key: algorithm, canonical encoding and kid."""

    algorithm: KemAlgorithm
    public_bytes: bytes
    kid: str
    _key: _HpkePublic | rsa.RSAPublicKey = field(repr=False)

    def wrap(self, payload_key: bytes, info: bytes) -> bytes:
        """Encrypt `payload_key` to this key; `info` binds the context (HPKE only).

        HPKE output is `enc || ciphertext` (RFC 9180 single-shot, mode base). RSA-OAEP has no
        context input, so `info` is not bound for RSA-2048 (OpenTDF interop only).
        """
        if self.algorithm is KemAlgorithm.RSA_2048:
            assert isinstance(self._key, rsa.RSAPublicKey)
            return self._key.encrypt(payload_key, _oaep())
        assert not isinstance(self._key, rsa.RSAPublicKey)
        return _suite(self.algorithm).encrypt(payload_key, self._key, info=info)

    def public_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM, for RSA and X25519 (what OpenTDF tools read)."""
        if isinstance(self._key, rsa.RSAPublicKey | x25519.X25519PublicKey):
            return self._key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        raise KeyFileError(f"a {self.algorithm} public key has no standard PEM form")


@dataclass(frozen=True, eq=False)
class KemPrivateKey:
    """A node's private key-encapsulation key (never printed: repr hides the key)."""

    algorithm: KemAlgorithm
    public: KemPublicKey
    _key: _HpkePrivate | rsa.RSAPrivateKey = field(repr=False)
    _parts: tuple[object, ...] = field(repr=False, default=())

    @property
    def kid(self) -> str:
        """The kid of the public half."""
        return self.public.kid

    def unwrap(self, wrapped: bytes, info: bytes) -> bytes:
        """Decrypt a wrapped 32-byte payload key; raises `UnwrapFailed` on any failure."""
        try:
            if isinstance(self._key, rsa.RSAPrivateKey):
                key = self._key.decrypt(wrapped, _oaep())
            else:
                key = _suite(self.algorithm).decrypt(wrapped, self._key, info=info)
        except (InvalidTag, ValueError) as exc:
            raise UnwrapFailed("the wrapped key did not decrypt under this private key") from exc
        if len(key) != _PAYLOAD_KEY_LEN:
            raise UnwrapFailed("the unwrapped key is not 32 bytes")
        return key

    def private_pems(self, passphrase: bytes) -> list[bytes]:
        """Encrypted PKCS#8 PEM of each component (hybrid: ML-KEM-768 then X25519)."""
        enc = serialization.BestAvailableEncryption(passphrase)
        parts = self._parts or (self._key,)
        out = []
        for part in parts:
            assert isinstance(
                part, x25519.X25519PrivateKey | mlkem.MLKEM768PrivateKey | rsa.RSAPrivateKey
            )
            out.append(
                part.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
                )
            )
        return out

    def unencrypted_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM of an RSA key, for handing to OpenTDF tools in tests."""
        if not isinstance(self._key, rsa.RSAPrivateKey):
            raise KeyFileError("only an rsa-2048 key is exported unencrypted (OpenTDF interop)")
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


_VerifyKey = ed25519.Ed25519PublicKey | mldsa.MLDSA65PublicKey
_SignKey = ed25519.Ed25519PrivateKey | mldsa.MLDSA65PrivateKey


@dataclass(frozen=True, eq=False)
class VerifyKey:
    """A signer's public key: algorithm, canonical raw encoding and kid."""

    algorithm: SignatureAlgorithm
    public_bytes: bytes
    kid: str
    _key: _VerifyKey = field(repr=False)

    @property
    def jose_alg(self) -> str:
        """The JOSE `alg` header value for this key's signatures."""
        return JOSE_ALG[self.algorithm]

    def verify(self, signature: bytes, data: bytes) -> None:
        """Return if `signature` is valid over `data`; raise `SignatureInvalid` otherwise."""
        try:
            self._key.verify(signature, data)
        except InvalidSignature as exc:
            raise SignatureInvalid("the signature does not verify") from exc


@dataclass(frozen=True, eq=False)
class SigningKey:
    """An originator's private signing key (repr hides the key)."""

    algorithm: SignatureAlgorithm
    public: VerifyKey
    _key: _SignKey = field(repr=False)

    @property
    def kid(self) -> str:
        """The kid of the public half."""
        return self.public.kid

    def sign(self, data: bytes) -> bytes:
        """Sign `data` (Ed25519 is deterministic: same key and input, same signature)."""
        return self._key.sign(data)

    def private_pems(self, passphrase: bytes) -> list[bytes]:
        """Encrypted PKCS#8 PEM of the key."""
        return [
            self._key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(passphrase),
            )
        ]


# --- construction -----------------------------------------------------------------------


def kem_public_from_bytes(algorithm: KemAlgorithm, data: bytes) -> KemPublicKey:
    """Build a KEM public key from its canonical encoding, checking length and form.

    Encodings: x25519 raw 32 bytes; mlkem768-x25519 the ML-KEM-768 encapsulation key (1184
    bytes) followed by the X25519 key (32 bytes); rsa-2048 DER SubjectPublicKeyInfo.
    """
    key: _HpkePublic | rsa.RSAPublicKey
    try:
        if algorithm is KemAlgorithm.X25519:
            if len(data) != _X25519_LEN:
                raise KeyFileError(f"an x25519 public key is 32 bytes, not {len(data)}")
            key = x25519.X25519PublicKey.from_public_bytes(data)
        elif algorithm is KemAlgorithm.MLKEM768_X25519:
            if len(data) != _MLKEM768_PUBLIC_LEN + _X25519_LEN:
                raise KeyFileError(f"an mlkem768-x25519 public key is 1216 bytes, not {len(data)}")
            key = hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(data[:_MLKEM768_PUBLIC_LEN]),
                x25519.X25519PublicKey.from_public_bytes(data[_MLKEM768_PUBLIC_LEN:]),
            )
        else:
            loaded = serialization.load_der_public_key(data)
            if not isinstance(loaded, rsa.RSAPublicKey) or loaded.key_size != _RSA_BITS:
                raise KeyFileError("an rsa-2048 public key must be a 2048-bit RSA key")
            key = loaded
    except ValueError as exc:
        if isinstance(exc, KeyFileError):
            raise
        raise KeyFileError(f"not a valid {algorithm} public key") from None
    return KemPublicKey(algorithm, bytes(data), derive_kid(algorithm, bytes(data)), key)


def _kem_private(
    algorithm: KemAlgorithm, key: _HpkePrivate | rsa.RSAPrivateKey, parts: tuple[object, ...]
) -> KemPrivateKey:
    if isinstance(key, x25519.X25519PrivateKey):
        pub = key.public_key().public_bytes_raw()
    elif isinstance(key, rsa.RSAPrivateKey):
        pub = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        mk, xk = parts
        assert isinstance(mk, mlkem.MLKEM768PrivateKey)
        assert isinstance(xk, x25519.X25519PrivateKey)
        pub = mk.public_key().public_bytes_raw() + xk.public_key().public_bytes_raw()
    return KemPrivateKey(algorithm, kem_public_from_bytes(algorithm, pub), key, parts)


def generate_kem(algorithm: KemAlgorithm = KemAlgorithm.MLKEM768_X25519) -> KemPrivateKey:
    """Generate a fresh key-encapsulation pair (default: the hybrid ML-KEM-768+X25519)."""
    if algorithm is KemAlgorithm.X25519:
        return _kem_private(algorithm, x25519.X25519PrivateKey.generate(), ())
    if algorithm is KemAlgorithm.RSA_2048:
        return _kem_private(algorithm, rsa.generate_private_key(65537, _RSA_BITS), ())
    mk, xk = mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate()
    return _kem_private(algorithm, hpke.MLKEM768X25519PrivateKey(mk, xk), (mk, xk))


def kem_private_from_raw(algorithm: KemAlgorithm, data: bytes) -> KemPrivateKey:
    """Build an HPKE private key from raw bytes (for test vectors).

    x25519: the 32-byte scalar; mlkem768-x25519: the 64-byte ML-KEM seed then the 32-byte
    X25519 scalar. RSA keys have no raw form here.
    """
    if algorithm is KemAlgorithm.X25519 and len(data) == _X25519_LEN:
        return _kem_private(algorithm, x25519.X25519PrivateKey.from_private_bytes(data), ())
    if algorithm is KemAlgorithm.MLKEM768_X25519 and len(data) == _MLKEM768_SEED_LEN + 32:
        mk = mlkem.MLKEM768PrivateKey.from_seed_bytes(data[:_MLKEM768_SEED_LEN])
        xk = x25519.X25519PrivateKey.from_private_bytes(data[_MLKEM768_SEED_LEN:])
        return _kem_private(algorithm, hpke.MLKEM768X25519PrivateKey(mk, xk), (mk, xk))
    raise KeyFileError(f"no raw private form of {len(data)} bytes for {algorithm}")


def kem_private_from_pems(
    algorithm: KemAlgorithm, pems: list[bytes], passphrase: bytes | None
) -> KemPrivateKey:
    """Load a private KEM key from its PKCS#8 PEM component(s), decrypting with `passphrase`."""
    try:
        loaded = [serialization.load_pem_private_key(p, passphrase) for p in pems]
    except (ValueError, TypeError):
        raise KeyFileError(
            "the private key did not load: wrong passphrase or damaged key file"
        ) from None
    if algorithm is KemAlgorithm.MLKEM768_X25519:
        if len(loaded) != 2:
            raise KeyFileError("an mlkem768-x25519 private key has two PKCS#8 parts")
        mk, xk = loaded
        if not isinstance(mk, mlkem.MLKEM768PrivateKey) or not isinstance(
            xk, x25519.X25519PrivateKey
        ):
            raise KeyFileError("an mlkem768-x25519 private key is ML-KEM-768 then X25519")
        return _kem_private(algorithm, hpke.MLKEM768X25519PrivateKey(mk, xk), (mk, xk))
    if len(loaded) != 1:
        raise KeyFileError(f"a {algorithm} private key has one PKCS#8 part")
    (key,) = loaded
    if algorithm is KemAlgorithm.X25519 and isinstance(key, x25519.X25519PrivateKey):
        return _kem_private(algorithm, key, ())
    if (
        algorithm is KemAlgorithm.RSA_2048
        and isinstance(key, rsa.RSAPrivateKey)
        and key.key_size == _RSA_BITS
    ):
        return _kem_private(algorithm, key, ())
    raise KeyFileError(f"the private key is not a {algorithm} key")


def rsa_private_from_pem(pem: bytes) -> KemPrivateKey:
    """Load an unencrypted RSA-2048 private key PEM (an OpenTDF key access server's key)."""
    return kem_private_from_pems(KemAlgorithm.RSA_2048, [pem], None)


def rsa_public_from_pem(pem: bytes) -> KemPublicKey:
    """Load an RSA-2048 public key PEM (an OpenTDF key access server's public key)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise KeyFileError("not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFileError("the PEM public key is not RSA")
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return kem_public_from_bytes(KemAlgorithm.RSA_2048, der)


def verify_key_from_bytes(algorithm: SignatureAlgorithm, data: bytes) -> VerifyKey:
    """Build a verification key from its raw encoding (Ed25519 32 bytes, ML-DSA-65 1952)."""
    key: _VerifyKey
    try:
        if algorithm is SignatureAlgorithm.ED25519:
            key = ed25519.Ed25519PublicKey.from_public_bytes(data)
        else:
            key = mldsa.MLDSA65PublicKey.from_public_bytes(data)
    except ValueError:
        raise KeyFileError(f"not a valid {algorithm} public key ({len(data)} bytes)") from None
    return VerifyKey(algorithm, bytes(data), derive_kid(algorithm, bytes(data)), key)


def _signing(algorithm: SignatureAlgorithm, key: _SignKey) -> SigningKey:
    pub = key.public_key().public_bytes_raw()
    return SigningKey(algorithm, verify_key_from_bytes(algorithm, pub), key)


def generate_signing(algorithm: SignatureAlgorithm = SignatureAlgorithm.ED25519) -> SigningKey:
    """Generate a fresh signing pair (default Ed25519; ML-DSA-65 as an option)."""
    if algorithm is SignatureAlgorithm.ED25519:
        return _signing(algorithm, ed25519.Ed25519PrivateKey.generate())
    return _signing(algorithm, mldsa.MLDSA65PrivateKey.generate())


def signing_from_raw(algorithm: SignatureAlgorithm, data: bytes) -> SigningKey:
    """Build a signing key from its raw seed (Ed25519 32 bytes; ML-DSA-65 32-byte seed)."""
    try:
        if algorithm is SignatureAlgorithm.ED25519:
            return _signing(algorithm, ed25519.Ed25519PrivateKey.from_private_bytes(data))
        return _signing(algorithm, mldsa.MLDSA65PrivateKey.from_seed_bytes(data))
    except ValueError:
        raise KeyFileError(f"not a valid {algorithm} private seed") from None


def signing_from_pems(
    algorithm: SignatureAlgorithm, pems: list[bytes], passphrase: bytes
) -> SigningKey:
    """Load a private signing key from its encrypted PKCS#8 PEM."""
    if len(pems) != 1:
        raise KeyFileError(f"a {algorithm} private key has one PKCS#8 part")
    try:
        key = serialization.load_pem_private_key(pems[0], passphrase)
    except (ValueError, TypeError):
        raise KeyFileError(
            "the private key did not load: wrong passphrase or damaged key file"
        ) from None
    if algorithm is SignatureAlgorithm.ED25519 and isinstance(key, ed25519.Ed25519PrivateKey):
        return _signing(algorithm, key)
    if algorithm is SignatureAlgorithm.ML_DSA_65 and isinstance(key, mldsa.MLDSA65PrivateKey):
        return _signing(algorithm, key)
    raise KeyFileError(f"the private key is not a {algorithm} key")
