"""Signed checkpoints (tree heads) in the transparency-log signed-note format.

A checkpoint (C2SP tlog-checkpoint) is the note text

    <origin>\\n<tree size>\\n<base64 root hash>\\n

followed by a blank line and one signature line per signer (C2SP signed-note):

    — <key name> <base64(key id[4] || Ed25519 signature[64])>\\n

where key id = SHA-256(key name || 0x0A || 0x01 || public key)[:4] and the signature covers
the text including its final newline. Verifier keys travel as `<name>+<hex key id>+<base64(0x01
|| public key)>` (the Go `note` vkey form). A witness cosigns by adding a tlog-cosignature/v1
line (`cix.audit.cosignature`), not a plain signature of this form.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cix.audit.errors import (
    AuditInputError,
    CheckpointReplayed,
    CheckpointSignatureInvalid,
    MalformedCheckpoint,
    WrongKey,
)

_ALG_ED25519: Final = b"\x01"
_NAME_RE: Final = re.compile(r"[!-*,-~][!-*,-~]*\Z")  # printable, no space, no '+'
_SIG_PREFIX: Final = "\u2014 "
_MAX_NOTE: Final = 64 * 1024
_MAX_SIGNATURES: Final = 100


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ALG_ED25519 + public).digest()[:4]


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > 256:
        raise AuditInputError(
            f"key name {name!r}: expected 1 to 256 printable characters, no spaces or '+'"
        )
    return name


@dataclass(frozen=True, slots=True)
class Verifier:
    """A named Ed25519 public key that checks note signatures (a log's or a witness's)."""

    name: str
    public: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public) != 32:
            raise AuditInputError("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id that prefixes this key's signatures."""
        return _key_id(self.name, self.public)

    def vkey(self) -> str:
        """The verifier key text: `<name>+<hex key id>+<base64(0x01 || public key)>`."""
        encoded = base64.b64encode(_ALG_ED25519 + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def check(self, text: bytes, signature: bytes) -> None:
        """Raise `CheckpointSignatureInvalid` unless `signature` is this key's signature of
        `text`."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, text)
        except InvalidSignature as exc:
            raise CheckpointSignatureInvalid(f"signature by {self.name!r} does not verify") from exc


def verifier_from_vkey(text: str) -> Verifier:
    """Parse a verifier key `<name>+<hex key id>+<base64(0x01 || key)>`; check its key id."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise AuditInputError("verifier key: expected <name>+<key id>+<base64 key>")
    name, hexid, b64 = parts
    try:
        raw = base64.b64decode(b64, validate=True)
        key_id = bytes.fromhex(hexid)
    except (binascii.Error, ValueError) as exc:
        raise AuditInputError(f"verifier key: {exc}") from exc
    if len(raw) != 33 or raw[:1] != _ALG_ED25519:
        raise AuditInputError("verifier key: not an Ed25519 key (algorithm byte 0x01)")
    verifier = Verifier(_check_name(name), raw[1:])
    if verifier.key_id != key_id:
        raise AuditInputError("verifier key: key id does not match the name and key")
    return verifier


class Signer:
    """A named Ed25519 private key that signs notes. Never printed, never logged."""

    __slots__ = ("_key", "verifier")

    def __init__(self, name: str, key: Ed25519PrivateKey) -> None:
        public = key.public_key().public_bytes_raw()
        self._key = key
        self.verifier = Verifier(_check_name(name), public)
        """The matching public verifier."""

    @property
    def name(self) -> str:
        """The key name written on signature lines."""
        return self.verifier.name

    def __repr__(self) -> str:
        return f"Signer({self.name!r})"

    def sign_line(self, text: bytes) -> str:
        """The signature line (with newline) for note text `text`."""
        sig = self.verifier.key_id + self._key.sign(text)
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(sig).decode()}\n"

    def sign_raw(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `message` (for a cosignature's own message)."""
        return self._key.sign(message)

    def private_bytes(self) -> bytes:
        """The raw 32-byte private seed, for the key file writer only."""
        return self._key.private_bytes_raw()


def generate_signer(name: str) -> Signer:
    """A new random Ed25519 signer named `name` (for a log: its origin)."""
    return Signer(name, Ed25519PrivateKey.generate())


def signer_from_seed(name: str, seed: bytes) -> Signer:
    """The signer for a stored 32-byte Ed25519 seed."""
    if len(seed) != 32:
        raise AuditInputError("an Ed25519 private key seed is 32 bytes")
    return Signer(name, Ed25519PrivateKey.from_private_bytes(seed))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log named `origin` had `size` entries with root hash `root`."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        if not self.origin or any(c in self.origin for c in "\n\r") or len(self.origin) > 256:
            raise AuditInputError("checkpoint origin: expected one line of 1 to 256 characters")
        if not isinstance(self.size, int) or self.size < 0:
            raise AuditInputError("checkpoint size: expected a non-negative integer")
        if len(self.root) != 32:
            raise AuditInputError("checkpoint root: expected 32 bytes")

    def text(self) -> bytes:
        """The note text that signers sign."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n".encode()


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint with its signature lines, exactly as received (`note`)."""

    checkpoint: Checkpoint
    note: str

    def verify_signed_by(self, verifier: Verifier) -> None:
        """Raise unless a signature line names `verifier`'s key and verifies (a plain note
        signature; a witness's cosignature is checked by `cosignature.verify_cosigned`):
        `WrongKey` when none names it, `CheckpointSignatureInvalid` when its signature fails,
        `MalformedCheckpoint` when the note is not a signed note."""
        _check_signature(self.note, verifier)


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> SignedCheckpoint:
    """Sign a checkpoint: the note with one signature line."""
    text = checkpoint.text()
    return SignedCheckpoint(checkpoint, text.decode() + "\n" + signer.sign_line(text))


def add_signature(signed: SignedCheckpoint, signer: Signer) -> SignedCheckpoint:
    """Add a plain note signature line by `signer` to an already signed checkpoint (a second
    signer; a witness adds a tlog-cosignature/v1 line instead: `add_cosignature`)."""
    return SignedCheckpoint(
        signed.checkpoint, signed.note + signer.sign_line(signed.checkpoint.text())
    )


def split_note(note: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Split a signed note into its text (with final newline) and its signature lines as
    (key name, raw signature bytes); `MalformedCheckpoint` when it is not a signed note."""
    if len(note) > _MAX_NOTE:
        raise MalformedCheckpoint("note: larger than 64 KiB")
    if re.search(r"[\x00-\x09\x0b-\x1f]", note) or not note.endswith("\n"):
        raise MalformedCheckpoint("note: control characters or no final newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise MalformedCheckpoint("note: no blank line before the signatures")
    text = note[: cut + 1]
    lines = note[cut + 2 : -1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise MalformedCheckpoint("note: too many signature lines")
    sigs: list[tuple[str, bytes]] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX) or line.count(" ") != 2:
            raise MalformedCheckpoint("note: malformed signature line")
        _, name, b64 = line.split(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error as exc:
            raise MalformedCheckpoint("note: signature is not base64") from exc
        if len(raw) < 5:
            raise MalformedCheckpoint("note: signature too short")
        sigs.append((name, raw))
    return text.encode(), sigs


def _check_signature(note: str, verifier: Verifier) -> bytes:
    text, sigs = split_note(note)
    key_id = verifier.key_id
    for name, raw in sigs:
        if name == verifier.name and raw[:4] == key_id:
            verifier.check(text, raw[4:])
            return text
    raise WrongKey(f"checkpoint is not signed by the key {verifier.name!r}")


def parse_checkpoint(text: bytes) -> Checkpoint:
    """Parse checkpoint note text (origin, size, base64 root, optional extension lines)."""
    lines = text.decode().split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise MalformedCheckpoint("checkpoint: expected origin, size and root lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isascii() or not size_text.isdigit() or size_text != str(int(size_text)):
        raise MalformedCheckpoint("checkpoint: size is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise MalformedCheckpoint("checkpoint: root is not base64") from exc
    try:
        return Checkpoint(origin, int(size_text), root)
    except AuditInputError as exc:
        raise MalformedCheckpoint(str(exc)) from exc


def open_checkpoint(
    note: str, verifier: Verifier, *, not_before: Checkpoint | None = None
) -> SignedCheckpoint:
    """Verify a signed checkpoint against the log's key; return it.

    Raises `WrongKey` when no signature line is by `verifier`, `CheckpointSignatureInvalid`
    when it is but does not verify, `MalformedCheckpoint` for bad text, and
    `CheckpointReplayed` when `not_before` (the newest checkpoint the caller has already
    seen) is larger.
    """
    text = _check_signature(note, verifier)
    checkpoint = parse_checkpoint(text)
    if checkpoint.origin != verifier.name:
        raise WrongKey(f"checkpoint origin {checkpoint.origin!r} is not the key's log")
    if not_before is not None and checkpoint.size < not_before.size:
        raise CheckpointReplayed(
            f"checkpoint of size {checkpoint.size} is older than the size {not_before.size} seen"
        )
    return SignedCheckpoint(checkpoint, note)
