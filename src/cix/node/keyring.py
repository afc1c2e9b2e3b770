"""The node's own keys: its KEM key pair (documents are sealed to it), its signing key (labels
and federation messages) and its audit log signer, all encrypted at rest under the passphrase.

Files under `<data dir>/keys/`: `kem.key`/`kem.pub`, `sign.key`/`sign.pub` (cix.keys) and
`audit.key`/`audit.key.pub` (cix.audit). The passphrase comes from the settings (for
`cix serve`: `CIX_PASSPHRASE` or `CIX_PASSPHRASE_FILE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cix.audit import Signer, generate_signer, load_signer, save_signer
from cix.keys import (
    KEM_PRIVATE,
    SIGN_PRIVATE,
    KemAlgorithm,
    KemPrivateKey,
    KemPublicKey,
    SigningKey,
    VerifyKey,
    generate_kem,
    generate_signing,
    load_kem_private,
    load_signing_key,
    write_key_pair,
)

KEYS_DIR = Path("keys")
#: The key of the node's opaque listing cursors (cix.keys.cursor), in KEYS_DIR.
CURSOR_KEY = "cursor.key"
AUDIT_KEY = "audit.key"


@dataclass(frozen=True)
class NodeKeys:
    """The node's unlocked private keys (never printed: the key classes hide themselves)."""

    kem: KemPrivateKey
    signing: SigningKey
    audit_signer: Signer

    @property
    def kem_public(self) -> KemPublicKey:
        """The public half of the KEM key: what documents are sealed to."""
        return self.kem.public

    @property
    def verify_key(self) -> VerifyKey:
        """The public half of the signing key."""
        return self.signing.public


def audit_origin(node_id: str) -> str:
    """The name of the node's audit log in its signed checkpoints."""
    return f"{node_id}/audit"


def create_node_keys(
    data_dir: Path, passphrase: bytes, *, kem_algorithm: str, node_id: str
) -> None:
    """Generate every node key into `data_dir/keys` (refusing to overwrite one)."""
    directory = data_dir / KEYS_DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_key_pair(
        directory, generate_kem(KemAlgorithm(kem_algorithm)), generate_signing(), passphrase
    )
    save_signer(directory / AUDIT_KEY, generate_signer(audit_origin(node_id)), passphrase)


def has_node_keys(data_dir: Path) -> bool:
    """Whether the node's keys exist."""
    directory = data_dir / KEYS_DIR
    return all((directory / n).exists() for n in (KEM_PRIVATE, SIGN_PRIVATE, AUDIT_KEY))


def load_node_keys(data_dir: Path, passphrase: bytes) -> NodeKeys:
    """Unlock the node's private keys; a wrong passphrase raises the keys' InputError."""
    directory = data_dir / KEYS_DIR
    return NodeKeys(
        kem=load_kem_private(directory / KEM_PRIVATE, passphrase),
        signing=load_signing_key(directory / SIGN_PRIVATE, passphrase),
        audit_signer=load_signer(directory / AUDIT_KEY, passphrase),
    )
