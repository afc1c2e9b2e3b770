"""Opaque listing cursors: a document id enciphered as one AES block under a node secret.

A listing that spends its budget ends with a cursor to continue from: the id of the last
row it walked, which may be a document its reader may not read. Ids sort by creation time,
so a bare id would tell the reader that such a document exists and when it was made. The
cursor is therefore the id (16 bytes) enciphered with AES-256 as a single block — AES used as
the pseudorandom permutation it is, on exactly one block, so no mode, padding or nonce is
involved — under a key that never leaves the node's data directory and that every worker
process of the node reads. A cursor is 32 hex digits, like an id, and tells nothing; one
that was not made by the node deciphers to some position in the register, which only
chooses where a listing of what the caller may read resumes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cix.errors import InputError

_KEY_BYTES = 32


class CursorCipher:
    """Enciphers and deciphers listing cursors under one node's key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ValueError("a cursor key is 32 bytes")
        # ECB over exactly one block is the bare block cipher (a PRP), not a mode of use.
        self._cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305

    @classmethod
    def at(cls, path: Path) -> CursorCipher:
        """The cipher of the key file `path`, created (0600, 32 random bytes) if missing.
        The key is written whole to a temporary file first and linked into place, so a
        process that loses the race to create it, or one that starts after a crash
        mid-write, reads a complete key or none at all."""
        if not path.exists():
            fd, tmp = tempfile.mkstemp(prefix=".cursor-", dir=path.parent)
            try:
                os.write(fd, secrets.token_bytes(_KEY_BYTES))
                os.fsync(fd)
                os.close(fd)
                with contextlib.suppress(FileExistsError):  # another process was first
                    os.link(tmp, path)
            finally:
                os.unlink(tmp)
        return cls(path.read_bytes())

    def seal(self, doc_id: str) -> str:
        """The cursor of position `doc_id` (32 hex digits)."""
        enc = self._cipher.encryptor()
        return (enc.update(bytes.fromhex(doc_id)) + enc.finalize()).hex()

    def open(self, cursor: str) -> str:
        """The position a cursor names; InputError if it is not 32 hex digits."""
        try:
            block = bytes.fromhex(cursor)
        except ValueError:
            raise InputError("cursor: not a cursor this node gave") from None
        if len(block) != 16:
            raise InputError("cursor: not a cursor this node gave")
        dec = self._cipher.decryptor()
        return (dec.update(block) + dec.finalize()).hex()
