"""Rewrap: a recipient passes a sealed object on to new recipients without touching its
payload, after verifying it as an open does (the label included). `write_copy` is the one
way a verified object is written again with a changed manifest (rewrap, alternative labels)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, BinaryIO

from cix.envelope._assertion import TrustedSigners
from cix.envelope._manifest import canonical
from cix.envelope._open import AuditHook, _read_into, _Reading, _refusing, _verify
from cix.envelope._seal import MANIFEST_NAME, PAYLOAD_NAME, Buffer, Progress, make_key_access
from cix.envelope._zip import Member, ZipStreamWriter
from cix.envelope.errors import NotReleasable
from cix.errors import InputError
from cix.keys import KemAlgorithm, KemPrivateKey, KemPublicKey

_ZIP32_LIMIT = 0xFFFFFFFF - (1 << 20)
_CHUNK = 4 << 20


def write_copy(
    stream: BinaryIO,
    payload: Member,
    doc: Mapping[str, Any],
    dst: BinaryIO,
    progress: Progress | None = None,
) -> None:
    """Write to `dst` a new archive of `stream`'s payload member data, byte for byte, and
    manifest `doc`. Memory is bounded: the payload is copied through one buffer of at most
    4 MiB (`progress` gets the bytes copied so far)."""
    writer = ZipStreamWriter(dst)
    writer.begin(PAYLOAD_NAME, zip64=payload.size >= _ZIP32_LIMIT)
    stream.seek(payload.data_offset)
    remaining = payload.size
    buf = memoryview(bytearray(min(remaining, _CHUNK) or 1))
    while remaining:
        view = buf[: min(remaining, len(buf))]
        n = _read_into(stream, view)
        if n != len(view):
            raise InputError("the payload ended early while copying")
        writer.write(view)
        remaining -= n
        if progress is not None:
            progress(payload.size - remaining)
    writer.end()
    writer.add(MANIFEST_NAME, canonical(doc))
    writer.close()


def rewrap(
    src: BinaryIO | Buffer,
    dst: BinaryIO,
    *,
    private_key: KemPrivateKey,
    to: Sequence[KemPublicKey],
    trusted_signers: TrustedSigners,
    drop_others: bool = False,
    recipient_parties: Collection[str] | None = None,
    unsafe_allow_unlabelled: bool = False,
    audit_hook: AuditHook | None = None,
    progress: Progress | None = None,
) -> None:
    """Write to `dst` a copy of `src` with key access objects for `to` added or replaced.

    The payload bytes are copied unchanged. The object is verified as `open` verifies it
    before a byte is written (key, policy binding, root signature, length, and the label
    and every alternative label against `trusted_signers`); their signatures stay valid
    because they do not cover key access objects. `drop_others` keeps only the new
    recipients.

    `recipient_parties` names the parties `to`'s keys belong to: each must be in the verified
    label's `releasable_to` (`NotReleasable` otherwise, nothing written). The offline tool
    always passes it; a node passes None because its decision function has decided the
    release, the originator's consent to a third party included (design.md, rules 2-4).
    """
    if not to:
        raise InputError("rewrap needs at least one recipient public key")
    with _Reading(src) as stream:
        with _refusing(audit_hook):
            v = _verify(
                stream, private_key, trusted_signers, allow_unlabelled=unsafe_allow_unlabelled
            )
        if recipient_parties is not None:
            _check_releasable(v.manifest.label_json, recipient_parties)
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
        write_copy(stream, v.payload, doc, dst, progress)


def _check_releasable(label_json: Mapping[str, Any] | None, parties: Collection[str]) -> None:
    if label_json is None:
        raise NotReleasable("the object carries no label: to whom it may go is unknown")
    releasable = sorted(label_json.get("releasable_to") or ())
    outside = sorted(set(parties) - set(releasable))
    if outside:
        raise NotReleasable(
            f"releasability: the label releases to {', '.join(releasable)}, "
            f"not to {', '.join(outside)}"
        )
