"""Key files: a small JSON wrapper around standard encodings, private parts as encrypted PKCS#8.

Public file: `{"cix_key": "public", "version": 1, "use": "kem"|"sign", "algorithm", "kid",
"public": base64}`. Private file: the same with `"cix_key": "private"` and `"pkcs8": [PEM…]`
(encrypted with `BestAvailableEncryption` under the passphrase; the hybrid KEM has two parts,
ML-KEM-768 then X25519). A plain RSA `PUBLIC KEY` PEM is also accepted as a KEM public key
(what an OpenTDF key access server publishes).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from cix.keys._model import (
    KemAlgorithm,
    KemPrivateKey,
    KemPublicKey,
    KeyFileError,
    SignatureAlgorithm,
    SigningKey,
    VerifyKey,
    kem_private_from_pems,
    kem_public_from_bytes,
    rsa_public_from_pem,
    signing_from_pems,
    verify_key_from_bytes,
)

KEM_PRIVATE = "kem.key"
KEM_PUBLIC = "kem.pub"
SIGN_PRIVATE = "sign.key"
SIGN_PUBLIC = "sign.pub"
_MAX_KEY_FILE = 1 << 20
_E = TypeVar("_E", KemAlgorithm, SignatureAlgorithm)


def passphrase_from_environment(
    environ: Mapping[str, str], prompt: Callable[[], str] | None = None
) -> bytes:
    """The key passphrase: `CIX_PASSPHRASE`, else the file `CIX_PASSPHRASE_FILE`, else `prompt`.

    A passphrase file's single trailing newline is dropped. An empty passphrase is refused.
    """
    value: str | None = environ.get("CIX_PASSPHRASE")
    if value is None and (name := environ.get("CIX_PASSPHRASE_FILE")):
        try:
            value = Path(name).read_text(encoding="utf-8").removesuffix("\n")
        except OSError as exc:
            raise KeyFileError(f"CIX_PASSPHRASE_FILE {name}: {exc.strerror}") from None
    if value is None and prompt is not None:
        value = prompt()
    if not value:
        raise KeyFileError("no passphrase: set CIX_PASSPHRASE or CIX_PASSPHRASE_FILE, or enter one")
    return value.encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _document(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            raw = f.read(_MAX_KEY_FILE + 1)
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror}") from None
    if len(raw) > _MAX_KEY_FILE:
        raise KeyFileError(f"{path}: larger than a key file can be")
    if raw.lstrip().startswith(b"-----BEGIN PUBLIC KEY-----"):
        return {"pem": raw}
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(f"{path}: not a cix key file (not JSON, not a PEM public key)") from None
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise KeyFileError(f"{path}: not a cix key file of version 1")
    return doc


def _field(doc: Mapping[str, Any], name: str, path: Path) -> str:
    value = doc.get(name)
    if not isinstance(value, str):
        raise KeyFileError(f"{path}: field {name!r} is missing or not a string")
    return value


def _public_bytes(doc: Mapping[str, Any], path: Path) -> bytes:
    try:
        return base64.b64decode(_field(doc, "public", path), validate=True)
    except binascii.Error:
        raise KeyFileError(f"{path}: field 'public' is not base64") from None


def _check_kid(doc: Mapping[str, Any], kid: str, path: Path) -> None:
    if _field(doc, "kid", path) != kid:
        raise KeyFileError(f"{path}: field 'kid' does not match the key it holds")


def _algorithm(kind: type[_E], doc: Mapping[str, Any], path: Path) -> _E:
    name = _field(doc, "algorithm", path)
    try:
        return kind(name)
    except ValueError:
        known = ", ".join(a.value for a in kind)
        raise KeyFileError(f"{path}: unknown algorithm {name!r} (known: {known})") from None


def _expect(doc: Mapping[str, Any], kind: str, use: str, path: Path) -> None:
    if doc.get("cix_key") != kind or doc.get("use") != use:
        raise KeyFileError(f"{path}: not a {kind} {use} key file")


def load_kem_public(path: Path) -> KemPublicKey:
    """Load a recipient's KEM public key from a cix `.pub` file or an RSA PEM."""
    doc = _document(path)
    if "pem" in doc:
        return rsa_public_from_pem(doc["pem"])
    if doc.get("cix_key") == "private":
        raise KeyFileError(f"{path}: is a private key file; give the .pub file")
    _expect(doc, "public", "kem", path)
    key = kem_public_from_bytes(_algorithm(KemAlgorithm, doc, path), _public_bytes(doc, path))
    _check_kid(doc, key.kid, path)
    return key


def load_verify_key(path: Path) -> VerifyKey:
    """Load a signer's public key from a cix `.pub` file."""
    doc = _document(path)
    _expect(doc, "public", "sign", path)
    key = verify_key_from_bytes(_algorithm(SignatureAlgorithm, doc, path), _public_bytes(doc, path))
    _check_kid(doc, key.kid, path)
    return key


def _pems(doc: Mapping[str, Any], path: Path) -> list[bytes]:
    pems = doc.get("pkcs8")
    if not isinstance(pems, list) or not all(isinstance(p, str) for p in pems):
        raise KeyFileError(f"{path}: field 'pkcs8' must be a list of PEM strings")
    return [p.encode("ascii", "replace") for p in pems]


def load_kem_private(path: Path, passphrase: bytes) -> KemPrivateKey:
    """Load and decrypt a private KEM key file; checks it matches its recorded kid."""
    doc = _document(path)
    _expect(doc, "private", "kem", path)
    key = kem_private_from_pems(_algorithm(KemAlgorithm, doc, path), _pems(doc, path), passphrase)
    _check_kid(doc, key.kid, path)
    return key


def load_signing_key(path: Path, passphrase: bytes) -> SigningKey:
    """Load and decrypt a private signing key file; checks it matches its recorded kid."""
    doc = _document(path)
    _expect(doc, "private", "sign", path)
    key = signing_from_pems(_algorithm(SignatureAlgorithm, doc, path), _pems(doc, path), passphrase)
    _check_kid(doc, key.kid, path)
    return key


def _public_doc(use: str, algorithm: str, kid: str, public: bytes) -> dict[str, Any]:
    return {
        "cix_key": "public",
        "version": 1,
        "use": use,
        "algorithm": algorithm,
        "kid": kid,
        "public": _b64(public),
    }


def kem_public_document(key: KemPublicKey) -> dict[str, Any]:
    """The JSON document of a KEM public key file."""
    return _public_doc("kem", key.algorithm.value, key.kid, key.public_bytes)


def verify_key_document(key: VerifyKey) -> dict[str, Any]:
    """The JSON document of a signer's public key file."""
    return _public_doc("sign", key.algorithm.value, key.kid, key.public_bytes)


def _private_doc(public: dict[str, Any], pems: list[bytes]) -> dict[str, Any]:
    return public | {"cix_key": "private", "pkcs8": [p.decode("ascii") for p in pems]}


def _write_new(path: Path, doc: Mapping[str, Any], mode: int) -> None:
    data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; not overwriting a key") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_key_pair(
    directory: Path, kem: KemPrivateKey, signing: SigningKey, passphrase: bytes
) -> None:
    """Write kem.key/kem.pub/sign.key/sign.pub into `directory` (never overwriting a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    names = (KEM_PRIVATE, KEM_PUBLIC, SIGN_PRIVATE, SIGN_PUBLIC)
    if existing := [n for n in names if (directory / n).exists()]:
        raise KeyFileError(
            f"{directory}: already holds {', '.join(existing)}; not overwriting keys"
        )
    kem_pub = kem_public_document(kem.public)
    sign_pub = verify_key_document(signing.public)
    _write_new(directory / KEM_PRIVATE, _private_doc(kem_pub, kem.private_pems(passphrase)), 0o600)
    _write_new(directory / KEM_PUBLIC, kem_pub, 0o644)
    _write_new(
        directory / SIGN_PRIVATE, _private_doc(sign_pub, signing.private_pems(passphrase)), 0o600
    )
    _write_new(directory / SIGN_PUBLIC, sign_pub, 0o644)


def write_signing_key(
    private_path: Path, public_path: Path, signing: SigningKey, passphrase: bytes
) -> None:
    """Write one signing key: private (encrypted, 0600) and public file (never overwriting)."""
    if existing := [str(p) for p in (private_path, public_path) if p.exists()]:
        raise KeyFileError(f"{', '.join(existing)}: already exists; not overwriting keys")
    public = verify_key_document(signing.public)
    _write_new(private_path, _private_doc(public, signing.private_pems(passphrase)), 0o600)
    _write_new(public_path, public, 0o644)
