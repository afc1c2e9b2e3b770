"""The audit signing key file: a name line and an encrypted PKCS#8 PEM Ed25519 key.

    cix-audit-key: <key name>
    -----BEGIN ENCRYPTED PRIVATE KEY-----
    ...

The PEM is encrypted under a passphrase with `cryptography`'s best available PKCS#8
encryption (PBES2). The public half is published as a verifier key (`<path>.pub`, one line,
the `<name>+<key id>+<base64>` form). Node keys in general live in `cix.keys`; this is the
minimal local format the log and witness need.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cix.audit.checkpoint import Signer, Verifier, verifier_from_vkey
from cix.audit.errors import AuditInputError

_HEADER: Final = "cix-audit-key: "


def save_signer(path: Path, signer: Signer, passphrase: bytes) -> None:
    """Write `signer` to `path` (mode 0600, refusing to overwrite) and its `.pub` beside it."""
    if not passphrase:
        raise AuditInputError("a passphrase is required to encrypt the key file")
    key = Ed25519PrivateKey.from_private_bytes(signer.private_bytes())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise AuditInputError(f"{path}: already exists; refusing to overwrite a key") from exc
    except OSError as exc:
        raise AuditInputError(f"{path}: cannot create: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(f"{_HEADER}{signer.name}\n".encode() + pem)
    public_path(path).write_text(signer.verifier.vkey() + "\n")


def public_path(path: Path) -> Path:
    """Where the verifier key of the key file `path` is published."""
    return path.with_name(path.name + ".pub")


def load_signer(path: Path, passphrase: bytes) -> Signer:
    """Read and decrypt a key file written by `save_signer`."""
    from cix.audit.checkpoint import Signer as _Signer

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AuditInputError(f"{path}: cannot read key file: {exc.strerror}") from exc
    first, _, pem = data.partition(b"\n")
    if not first.startswith(_HEADER.encode()):
        raise AuditInputError(f"{path}: not a cix audit key file (no '{_HEADER.strip()}' line)")
    name = first[len(_HEADER) :].decode("utf-8", "replace")
    try:
        key = serialization.load_pem_private_key(pem, passphrase or None)
    except (ValueError, TypeError) as exc:
        raise AuditInputError(f"{path}: cannot decrypt the key (wrong passphrase?)") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditInputError(f"{path}: not an Ed25519 key")
    return _Signer(name, key)


def load_verifier(path_or_vkey: str) -> Verifier:
    """A verifier key from a `.pub` file, or given inline as `<name>+<id>+<base64>`."""
    candidate = Path(path_or_vkey)
    if "+" in path_or_vkey and not candidate.exists():
        return verifier_from_vkey(path_or_vkey)
    try:
        return verifier_from_vkey(candidate.read_text())
    except OSError as exc:
        raise AuditInputError(f"{path_or_vkey}: cannot read verifier key: {exc.strerror}") from exc
