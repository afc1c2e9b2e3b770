"""tlog-cosignature/v1: a witness's timestamped Ed25519 statement about a checkpoint.

A cosignature (C2SP tlog-cosignature, Ed25519 type) is a signed-note signature line

    — <witness name> <base64(key id[4] || timestamp[8, big-endian] || signature[64])>

where key id = SHA-256(witness name || 0x0A || 0x04 || public key)[:4] (the algorithm byte
0x04 keeps a cosignature from ever passing for a plain note signature, 0x01, of the same key)
and the Ed25519 signature covers

    cosignature/v1\\n
    time <timestamp, decimal, no leading zeroes>\\n
    <the checkpoint's note text, final newline included, no signature lines>

It says: as of that time, this is the largest checkpoint of the log, consistent with every
one before it, that the witness has seen. The time is always a parameter here (no clock);
verification raises (`WrongKey`, `CheckpointSignatureInvalid`, `MalformedCheckpoint`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Final

from cix.audit.checkpoint import (
    SignedCheckpoint,
    Signer,
    Verifier,
    split_note,
    verifier_from_vkey,
)
from cix.audit.errors import (
    AuditInputError,
    CheckpointSignatureInvalid,
    MalformedCheckpoint,
    WrongKey,
)

COSIGNATURE_ALG: Final = b"\x04"
_NOTE_ALG: Final = b"\x01"
MAX_TIMESTAMP: Final = 2**63 - 1
_LINE_PREFIX: Final = "\u2014 "
_RAW_LENGTH: Final = 4 + 8 + 64


def cosigner_key_id(name: str, public: bytes) -> bytes:
    """The 4-byte key id of a tlog-cosignature/v1 Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_ALG + public).digest()[:4]


def _check_timestamp(timestamp: int) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise AuditInputError("cosignature time: expected an integer number of seconds")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise AuditInputError("cosignature time: expected 0 to 2^63 - 1 seconds since the Epoch")
    return timestamp


def cosignature_message(text: bytes, timestamp: int) -> bytes:
    """The bytes a tlog-cosignature/v1 signature covers for checkpoint note text `text`."""
    return b"cosignature/v1\ntime %d\n" % _check_timestamp(timestamp) + text


@dataclass(frozen=True, slots=True)
class CosignerKey:
    """A witness's named Ed25519 public key, as tlog-cosignature/v1 uses it."""

    name: str
    public: bytes

    def __post_init__(self) -> None:
        Verifier(self.name, self.public)  # same rules for the name and the key

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id that prefixes this witness's cosignatures (algorithm 0x04)."""
        return cosigner_key_id(self.name, self.public)

    def vkey(self) -> str:
        """The verifier key text `<name>+<hex key id>+<base64(0x04 || public key)>`."""
        encoded = base64.b64encode(COSIGNATURE_ALG + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify_line(self, text: bytes, line: str, *, not_after: int | None = None) -> int:
        """Check that signature line `line` is this witness's cosignature of note text
        `text`; return its timestamp.

        `WrongKey` when the line names another key (name or key id), `MalformedCheckpoint`
        when it is not a cosignature line, `CheckpointSignatureInvalid` when the signature
        does not verify or its time is after `not_after` (when given).
        """
        name, raw = parse_signature_line(line)
        return self._verify_raw(text, name, raw, not_after)

    def _verify_raw(self, text: bytes, name: str, raw: bytes, not_after: int | None) -> int:
        if name != self.name or raw[:4] != self.key_id:
            raise WrongKey(f"the cosignature is not by the witness key {self.name!r}")
        if len(raw) != _RAW_LENGTH:
            raise MalformedCheckpoint("cosignature: expected key id, timestamp and signature")
        timestamp = int.from_bytes(raw[4:12], "big")
        if timestamp > MAX_TIMESTAMP:
            raise MalformedCheckpoint("cosignature: timestamp beyond 2^63 - 1")
        if not_after is not None and timestamp > not_after:
            raise CheckpointSignatureInvalid(
                f"cosignature by {self.name!r} is dated {timestamp}, after {not_after}"
            )
        try:
            Verifier(self.name, self.public).check(cosignature_message(text, timestamp), raw[12:])
        except CheckpointSignatureInvalid:
            raise CheckpointSignatureInvalid(
                f"cosignature by {self.name!r} does not verify"
            ) from None
        return timestamp


def cosigner_of(verifier: Verifier) -> CosignerKey:
    """The same named Ed25519 key, used as a tlog-cosignature/v1 witness key."""
    return CosignerKey(verifier.name, verifier.public)


def cosigner_from_vkey(text: str) -> CosignerKey:
    """Parse a witness's verifier key: `<name>+<hex key id>+<base64(0x04 || key)>`, the
    tlog-cosignature form. A plain note key (algorithm 0x01) names the same Ed25519 key and
    is accepted as that witness's key (as the Go reference does); the key id is checked."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise AuditInputError("witness key: expected <name>+<key id>+<base64 key>")
    name, hexid, b64 = parts
    try:
        raw = base64.b64decode(b64, validate=True)
        key_id = bytes.fromhex(hexid)
    except (binascii.Error, ValueError) as exc:
        raise AuditInputError(f"witness key: {exc}") from exc
    if len(raw) == 33 and raw[:1] == _NOTE_ALG:
        return cosigner_of(verifier_from_vkey(text))
    if len(raw) != 33 or raw[:1] != COSIGNATURE_ALG:
        raise AuditInputError("witness key: not an Ed25519 cosignature key (0x04) or note key")
    key = CosignerKey(name, raw[1:])
    if key.key_id != key_id:
        raise AuditInputError("witness key: key id does not match the name and key")
    return key


def parse_signature_line(line: str) -> tuple[str, bytes]:
    """A signature line `— <name> <base64>` (final newline optional) as (name, raw bytes);
    `MalformedCheckpoint` when it is not one."""
    body = line[:-1] if line.endswith("\n") else line
    if (
        len(body) > 4096
        or not body.startswith(_LINE_PREFIX)
        or body.count(" ") != 2
        or "\n" in body
    ):
        raise MalformedCheckpoint("signature line: expected '— <key name> <base64>'")
    _, name, b64 = body.split(" ")
    try:
        raw = base64.b64decode(b64, validate=True)
    except binascii.Error as exc:
        raise MalformedCheckpoint("signature line: the signature is not base64") from exc
    if not name or len(raw) < 5:
        raise MalformedCheckpoint("signature line: no key name or a signature too short")
    return name, raw


def cosignature_line(signer: Signer, text: bytes, timestamp: int) -> str:
    """The tlog-cosignature/v1 line (with newline) of witness `signer` over note text
    `text`, dated `timestamp` (seconds since the Epoch)."""
    key = cosigner_of(signer.verifier)
    sig = signer.sign_raw(cosignature_message(text, timestamp))
    raw = key.key_id + timestamp.to_bytes(8, "big") + sig
    return f"{_LINE_PREFIX}{key.name} {base64.b64encode(raw).decode()}\n"


def add_cosignature(signed: SignedCheckpoint, signer: Signer, timestamp: int) -> SignedCheckpoint:
    """`signed` with witness `signer`'s cosignature line, dated `timestamp`, appended."""
    line = cosignature_line(signer, signed.checkpoint.text(), timestamp)
    return SignedCheckpoint(signed.checkpoint, signed.note + line)


def verify_cosigned(note: str, witness: CosignerKey, *, not_after: int | None = None) -> int:
    """Check that signed note `note` carries a valid cosignature by `witness`; return its
    timestamp (the newest, when the witness cosigned it more than once).

    Lines of other keys are ignored. `WrongKey` when no line is by `witness`,
    `CheckpointSignatureInvalid` when one is and does not verify (or is dated after
    `not_after`), `MalformedCheckpoint` when the note is not a signed note. The note's own
    log signature is the caller's to check (`open_checkpoint`).
    """
    text, sigs = split_note(note)
    key_id = witness.key_id
    times = [
        witness._verify_raw(text, name, raw, not_after)
        for name, raw in sigs
        if name == witness.name and raw[:4] == key_id
    ]
    if not times:
        raise WrongKey(f"the checkpoint carries no cosignature by {witness.name!r}")
    return max(times)
