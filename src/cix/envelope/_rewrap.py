"""Rewrap: a recipient passes a sealed object on to new recipients without touching its
payload, after verifying it as an open does (the label included)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from cix.envelope._assertion import TrustedSigners
from cix.envelope._manifest import canonical
from cix.envelope._open import AuditHook, _read_into, _Reading, _refusing, _verify
from cix.envelope._seal import MANIFEST_NAME, PAYLOAD_NAME, Buffer, Progress, make_key_access
from cix.envelope._zip import ZipStreamWriter
from cix.errors import InputError
from cix.keys import KemAlgorithm, KemPrivateKey, KemPublicKey


def rewrap(
    src: BinaryIO | Buffer,
    dst: BinaryIO,
    *,
    private_key: KemPrivateKey,
    to: Sequence[KemPublicKey],
    trusted_signers: TrustedSigners,
    drop_others: bool = False,
    unsafe_allow_unlabelled: bool = False,
    audit_hook: AuditHook | None = None,
    progress: Progress | None = None,
) -> None:
    """Write to `dst` a copy of `src` with key access objects for `to` added or replaced.

    The payload bytes are copied unchanged. The object is verified as `open` verifies it
    before a byte is written (key, policy binding, root signature, length, and the label
    against `trusted_signers`); the originator's label signature stays valid because it
    does not cover key access objects. `drop_others` keeps only the new recipients.
    """
    if not to:
        raise InputError("rewrap needs at least one recipient public key")
    with _Reading(src) as stream:
        with _refusing(audit_hook):
            v = _verify(
                stream, private_key, trusted_signers, allow_unlabelled=unsafe_allow_unlabelled
            )
        doc = v.manifest.doc
        enc = doc["encryptionInformation"]
        new_kids = {k.kid for k in to}
        kept = (
            []
            if drop_others
            else [k for k in enc.get("keyAccess") or [] if k.get("kid") not in new_kids]
        )
        enc["keyAccess"] = kept + [make_key_access(r, v.key, v.manifest.policy_b64) for r in to]
        if any(r.algorithm is KemAlgorithm.RSA_2048 for r in to):
            # otdf-python refuses payload.tdf_spec_version; the signature does not cover it.
            doc["payload"].pop("tdf_spec_version", None)
        writer = ZipStreamWriter(dst)
        writer.begin(PAYLOAD_NAME, zip64=v.payload.size >= 0xFFFFFFFF - (1 << 20))
        stream.seek(v.payload.data_offset)
        remaining = v.payload.size
        buf = memoryview(bytearray(min(remaining, 4 << 20) or 1))
        while remaining:
            view = buf[: min(remaining, len(buf))]
            n = _read_into(stream, view)
            if n != len(view):
                raise InputError("the payload ended early while copying")
            writer.write(view)
            remaining -= n
            if progress is not None:
                progress(v.payload.size - remaining)
        writer.end()
        writer.add(MANIFEST_NAME, canonical(doc))
        writer.close()
