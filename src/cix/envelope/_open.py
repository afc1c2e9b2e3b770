"""Opening sealed objects (byte ranges: `_range`; rewrap: `_rewrap`; inspection: `_inspect`).

Every check that does not need the payload runs before the first plaintext byte is written:
key unwrap, policy binding, root signature, payload length, the label signature and
binding, and the caller's expectations of what the object is (`expected_label`: the label
JSON the verified label must equal, else label-mismatch; `expected_policy_uuid`: the
policy's `uuid`, else policy-uuid-mismatch), so a reader that knows which object it meant
to open (a node: the document row's label and id) refuses another one swapped in its
place before any plaintext is released. Segments are then checked one by one (GMAC tag
against the manifest, then GCM). On a refusal, whatever was written to `dst` must be
discarded (the CLI writes to a temporary file and renames it only on success).

A `ManifestCache` lets a server that opens the same objects again skip re-parsing and
re-verifying their manifests: parsing (schema and form checks) and the signatures and
bindings of the label assertion and of every alternative label are pure functions of the
manifest's exact bytes and the trusted signers, so their verified result is kept under
the SHA-256 of those bytes and the signers' public keys. Everything that involves the key
or the payload (the key unwrap, the policy binding, the root signature, the payload length,
each segment's tag and GCM authentication) runs on every open.

The fast path of an open, piece by piece (each says what it saves and which benchmark shows
it): `ManifestCache` (the parse and the label's signature check of a manifest seen before),
`Known` (the ZIP directory parse of an object read before), in-place views of an in-memory
or mapped source (`_Reading`, `_sealed_segments`: no copy of the sealed bytes), and the
output sinks of `_fileio.output_for` (a reused buffer, a write-behind thread for files).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import mmap
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cix.envelope._assertion import (
    TrustedSigners,
    VerifiedAlternativeLabel,
    VerifiedLabel,
    verify_alternatives,
    verify_binding,
)
from cix.envelope._fileio import output_for
from cix.envelope._manifest import (
    GCM_IV,
    MAX_MANIFEST,
    Manifest,
    Segment,
    canonical,
    parse_manifest,
    policy_binding,
    root_signature,
)
from cix.envelope._seal import MANIFEST_NAME, PAYLOAD_NAME, Buffer, Progress
from cix.envelope._zip import Member, read_members, read_small_member
from cix.envelope._zip import ViewReader as _ViewReader
from cix.envelope.errors import (
    ContainerError,
    ManifestError,
    ObjectRefused,
    RefusalReason,
    UnknownAlgorithm,
    UnlabelledObject,
)
from cix.keys import KemAlgorithm, KemPrivateKey, UnwrapFailed
from cix.lru import LruCache

#: Receives the refusal (its `reason` and `detail`) before the caller sees it raised.
AuditHook = Callable[[ObjectRefused], None]
_log = logging.getLogger(__name__)
_MEMBERS = frozenset({MANIFEST_NAME, PAYLOAD_NAME})
_HPKE_PREFIXES = tuple(f"{a.value}:" for a in KemAlgorithm if a is not KemAlgorithm.RSA_2048)


@dataclass(frozen=True)
class Opened:
    """What an open verified: the label (None if unlabelled), its signer, the recipient kid,
    and the alternative labels."""

    label_json: Mapping[str, Any] | None
    label_xml: bytes | None
    signer_kid: str | None
    recipient_kid: str
    plaintext_size: int
    written: int
    policy: Mapping[str, Any]
    known: Known
    """What this open learnt of the object's container (see `Known`)."""
    alternative_labels: tuple[VerifiedAlternativeLabel, ...] = ()
    """The receiving parties' alternative labels, each verified (docs/format.md §7a)."""


@dataclass(frozen=True)
class Known:
    # Fast path: saves the strict ZIP directory parse (end record, central directory, both
    # local headers and the data descriptor) on every repeated open of a content-addressed
    # blob, for one SHA-256 over the few KB outside the payload. Shown by `python -m bench
    # node` (opens per second of small documents; the node keeps these in `VerifiedBlobs`).
    """What an open learnt of an object's bytes: their size, the SHA-256 of every byte that is
    not the payload member's data, the manifest's SHA-256 and where the two members lie.

    Given back to `open` (`known=`) by a reader that knows it reads the same object again
    (a content-addressed store: the name fixes the bytes), the ZIP directory is not parsed
    again. The object must have this size and its bytes before and after the payload data
    (ZIP headers, manifest, central directory, end record) this SHA-256, else
    object-digest-mismatch; the payload data authenticates segment by segment as always,
    against the tags of the manifest those bytes pin. So every byte is checked: what is
    released is that object's plaintext or nothing.
    """

    manifest_sha256: bytes
    """The SHA-256 of the manifest's bytes (its `ManifestCache` key)."""
    manifest: Member
    payload: Member
    size: int
    """The object's size in bytes."""
    outside_payload_sha256: bytes
    """The SHA-256 of bytes [0, payload data) then [end of payload data, size)."""


def _size(src: BinaryIO) -> int:
    if isinstance(src, _ViewReader):
        return len(src.view)
    return src.seek(0, 2)


def _outside_payload_sha256(src: BinaryIO, payload: Member, size: int) -> bytes:
    """The SHA-256 of every byte of `src` (`size` bytes) outside `payload`'s data, in file
    order. The split is fixed by `payload` and `size`, which a known open checks too."""
    digest = hashlib.sha256()
    spans = ((0, payload.data_offset), (payload.data_offset + payload.size, size))
    if isinstance(src, _ViewReader):
        for start, stop in spans:
            digest.update(src.view[start:stop])
        return digest.digest()
    for start, stop in spans:
        src.seek(start)
        while start < stop:
            chunk = src.read(min(stop - start, 1 << 16))
            if not chunk:
                raise ContainerError("not a valid ZIP: cut short outside the payload")
            digest.update(chunk)
            start += len(chunk)
    return digest.digest()


def _check_known(src: BinaryIO, known: Known) -> None:
    """Refuse (object-digest-mismatch) unless `src` has the known size and the known bytes
    outside the payload data."""
    size = _size(src)
    if size != known.size:
        raise ObjectRefused(
            RefusalReason.OBJECT_DIGEST_MISMATCH,
            f"the object has {size} bytes, not the known {known.size} (appended or cut)",
        )
    found = _outside_payload_sha256(src, known.payload, size)
    if not hmac.compare_digest(found, known.outside_payload_sha256):
        raise ObjectRefused(
            RefusalReason.OBJECT_DIGEST_MISMATCH,
            "the object's bytes outside its payload are not the known ones",
        )


@contextlib.contextmanager
def _refusing(audit_hook: AuditHook | None) -> Iterator[None]:
    try:
        yield
    except ObjectRefused as exc:
        if audit_hook is not None:
            audit_hook(exc)
        raise
    except (ContainerError, ManifestError, UnknownAlgorithm) as exc:
        # The object does not parse: a defect of the object, refused like any other (the
        # message, which names the defect, is the audit record's detail).
        refusal = ObjectRefused(RefusalReason.MALFORMED_OBJECT, str(exc))
        if audit_hook is not None:
            audit_hook(refusal)
        raise refusal from None


@dataclass(frozen=True)
class _Verified:
    manifest: Manifest
    payload: Member
    key: bytes
    recipient_kid: str
    label: VerifiedLabel | None
    known: Known


_CacheKey = tuple[bytes, tuple[tuple[str, bytes], ...]]


class ManifestCache(LruCache[_CacheKey, tuple[Manifest, VerifiedLabel | None]]):
    # Fast path: saves the manifest's JSON parse, its schema and form checks and the label's
    # JWS verification, about half of a small open (2 KB object: ~375 us without, ~190 us
    # with, X25519, this VM). Shown by `python -m bench node` (opens per second).
    """Verified manifests (at most `size`, least recently used out) by the SHA-256 of their
    exact bytes and the trusted signers' public keys (see the module docstring). `get`
    gives the parsed manifest and its verified label (None: not verified); `clear` forgets
    every manifest, their wrapped keys with them."""

    def __init__(self, size: int = 1024) -> None:
        super().__init__(size)

    @staticmethod
    def key(raw: bytes, trusted: TrustedSigners, digest: bytes | None = None) -> _CacheKey:
        """The key of manifest bytes `raw` verified against `trusted` (`digest`: their
        SHA-256, when the caller has it already)."""
        signers = tuple(
            (f"{party}:{k.algorithm}", k.public_bytes)
            for party, keys in sorted(trusted.items())
            for k in keys
        )
        return digest or hashlib.sha256(raw).digest(), signers


def _load_cached(
    src: BinaryIO,
    cache: ManifestCache | None,
    trusted: TrustedSigners,
    known: Known | None = None,
) -> tuple[Manifest, Member, tuple[_CacheKey, VerifiedLabel | None] | None, Known]:
    if known is None:
        members = read_members(src, _MEMBERS)
        payload = members[PAYLOAD_NAME]
        if payload.method != 0:
            raise ContainerError(f"member {PAYLOAD_NAME!r} must be stored, not compressed")
        raw = read_small_member(src, members[MANIFEST_NAME], MAX_MANIFEST)
        size = _size(src)
        found = Known(
            hashlib.sha256(raw).digest(),
            members[MANIFEST_NAME],
            payload,
            size,
            _outside_payload_sha256(src, payload, size),
        )
    else:
        found = known
        _check_known(src, known)
        # The manifest lies outside the payload: the same bytes as the known open's, so the
        # same digest (and CRC-32, not checked again).
        raw = read_small_member(src, known.manifest, MAX_MANIFEST, check_crc=False)
    digest = found.manifest_sha256
    payload = found.payload
    if cache is None:
        return parse_manifest(raw), payload, None, found
    key = ManifestCache.key(raw, trusted, digest)
    entry = cache.get(key)
    if entry is None:
        return parse_manifest(raw), payload, (key, None), found
    label = None if entry[1] is None else (key, entry[1])
    return entry[0], payload, label, found


def _unwrap(manifest: Manifest, private_key: KemPrivateKey) -> tuple[bytes, str]:
    mine = [k for k in manifest.key_access if k.kid == private_key.kid]
    if not mine and private_key.algorithm is KemAlgorithm.RSA_2048:
        # OpenTDF writers name their KAS key with an arbitrary kid: try every non-HPKE one.
        mine = [k for k in manifest.key_access if not (k.kid or "").startswith(_HPKE_PREFIXES)]
    if not mine:
        raise ObjectRefused(
            RefusalReason.NO_KEY_FOR_RECIPIENT, "no key access object is addressed to this key"
        )
    for kao in mine:
        try:
            key = private_key.unwrap(kao.wrapped, kao.info)
        except UnwrapFailed:
            continue
        expected = policy_binding(key, manifest.policy_b64)
        if not hmac.compare_digest(expected.encode(), kao.binding.encode("utf-8", "replace")):
            raise ObjectRefused(
                RefusalReason.POLICY_BINDING_MISMATCH,
                "the policy binding does not match the policy",
            )
        return key, private_key.kid
    raise ObjectRefused(
        RefusalReason.KEY_UNWRAP_FAILED, "the key access object did not unwrap under this key"
    )


def _verify(
    src: BinaryIO,
    private_key: KemPrivateKey,
    trusted_signers: TrustedSigners,
    *,
    allow_unlabelled: bool,
    cache: ManifestCache | None = None,
    expected_label: Mapping[str, Any] | None = None,
    expected_policy_uuid: str | None = None,
    known: Known | None = None,
) -> _Verified:
    manifest, payload, cached, layout = _load_cached(src, cache, trusted_signers, known)
    key, kid = _unwrap(manifest, private_key)
    tags = [s.tag for s in manifest.segments]
    if not hmac.compare_digest(root_signature(key, tags), manifest.root_signature):
        raise ObjectRefused(
            RefusalReason.ROOT_SIGNATURE_MISMATCH,
            "the root signature does not match the segment hashes",
        )
    if payload.size != manifest.encrypted_size:
        raise ObjectRefused(
            RefusalReason.PAYLOAD_LENGTH_MISMATCH,
            "the payload's length differs from the sum of its segments (truncated or appended)",
        )
    labelled = manifest.label_assertion is not None or manifest.label_json is not None
    if labelled and not (payload.cix_profile and layout.manifest.cix_profile):
        # A labelled object is cix-written: its ZIP fields that nothing else repeats
        # (version made by, attributes) are the cix writer's, so a change to one is refused.
        raise ContainerError("not a valid ZIP: a labelled object's headers are not cix's")
    label: VerifiedLabel | None = None
    if manifest.label_assertion is not None:
        if manifest.label_json is None:
            raise ManifestError("0.manifest.json: a label assertion but no label in the policy")
        if cached is not None and cached[1] is not None:
            label = cached[1]  # its alternatives verified with it, for these same signers
        else:
            label = verify_binding(manifest, trusted_signers)
            if manifest.alternative_assertions:
                label = replace(label, alternatives=verify_alternatives(manifest, trusted_signers))
    elif manifest.label_json is not None or manifest.alternative_assertions:
        raise ObjectRefused(
            RefusalReason.ASSERTION_MISSING,
            "the object carries a label but its signed label assertion is missing",
        )
    elif not allow_unlabelled:
        raise UnlabelledObject(
            "the object carries no cix label (an OpenTDF object?); opening it needs "
            "unsafe_allow_unlabelled (CLI: --unsafe-allow-unlabelled)"
        )
    else:
        _log.warning("opening an unlabelled object: no label was verified (unsafe)")
    if cache is not None and cached is not None and cached[1] is None:
        # Parsed here (and its label verified, if it has one): remember it.
        cache.put(cached[0], (manifest, label))
    if expected_label is not None:
        _check_label(manifest, label, expected_label)
    if expected_policy_uuid is not None:
        found = manifest.policy.get("uuid")
        if not isinstance(found, str) or not hmac.compare_digest(
            found.encode(), expected_policy_uuid.encode()
        ):
            raise ObjectRefused(
                RefusalReason.POLICY_UUID_MISMATCH,
                "the object's policy uuid is not the one expected",
            )
    return _Verified(manifest, payload, key, kid, label, layout)


def _check_label(
    manifest: Manifest, label: VerifiedLabel | None, expected: Mapping[str, Any]
) -> None:
    """Refuse unless the object's label is verified and equals `expected` (canonically)."""
    found = manifest.label_json
    if label is None or found is None:
        raise ObjectRefused(
            RefusalReason.LABEL_MISMATCH,
            "the object has no verified label to compare with the expected one",
        )
    try:
        same = manifest.label_canonical == canonical(dict(expected))
    except (TypeError, ValueError, ManifestError):
        same = False
    if not same:
        raise ObjectRefused(
            RefusalReason.LABEL_MISMATCH, "the object's verified label is not the one expected"
        )


def _decrypt_segments(
    src: BinaryIO,
    dst: BinaryIO,
    v: _Verified,
    first: int,
    last: int,
    *,
    skip: int = 0,
    limit: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Decrypt segments first..last-1; drop `skip` leading bytes, write at most `limit`."""
    segs = v.manifest.segments[first:last]
    if not segs:
        return 0
    offset = v.payload.data_offset + sum(s.encrypted_size for s in v.manifest.segments[:first])
    aes = AESGCM(v.key)
    written = 0
    done = 0
    views = _sealed_segments(src, offset, segs)
    # Closed on any exit (a refusal too): a mapped source's views must all be released
    # before it is unmapped, and a write-behind thread must stop before the caller discards
    # the output.
    try:
        with output_for(dst, max(s.size for s in segs), large=len(segs) > 1) as out:
            for seg, view in zip(segs, views, strict=True):
                try:
                    if view[-16:] != seg.tag:
                        raise ObjectRefused(
                            RefusalReason.SEGMENT_HASH_MISMATCH,
                            "a segment does not match its manifest hash",
                        )
                    buf = out.take()
                    try:
                        aes.decrypt_into(view[:GCM_IV], view[GCM_IV:], None, buf[: seg.size])
                    except InvalidTag:
                        raise ObjectRefused(
                            RefusalReason.SEGMENT_DECRYPT_FAILED, "a segment failed authentication"
                        ) from None
                finally:
                    view.release()
                plain = buf[skip : seg.size]
                skip = max(0, skip - seg.size)
                if limit is not None:
                    plain = plain[: limit - written]
                out.write(plain)  # hands `buf` to `out`: not touched again
                written += len(plain)
                done += seg.size
                if progress is not None:
                    progress(done)
    finally:
        views.close()
    return written


def _sealed_segments(
    src: BinaryIO, offset: int, segs: Sequence[Segment]
) -> Generator[memoryview, None, None]:
    # Fast path: an in-memory or mapped source is decrypted from views of its own bytes,
    # saving one copy of the whole ciphertext. Shown by `python -m bench envelope` ("cix
    # open, memoryview source" against "BytesIO source", and the file-to-file open/cp).
    """Each encrypted segment as a view: sliced in place from an in-memory or mapped source
    (the pages of a mapping released behind the segments done with), else read into one
    reused buffer (valid until the next segment is taken)."""
    if isinstance(src, _ViewReader):
        for seg in segs:
            view = src.view[offset : offset + seg.encrypted_size]
            if len(view) != seg.encrypted_size:
                view.release()
                raise ObjectRefused(
                    RefusalReason.PAYLOAD_LENGTH_MISMATCH,
                    "the payload ends inside a segment (truncated)",
                )
            offset += seg.encrypted_size
            yield view
            # Decrypted (the caller released the view): drop it from this process.
            src.release_before(offset)
        return
    src.seek(offset)
    buf = memoryview(bytearray(max(s.encrypted_size for s in segs)))
    for seg in segs:
        view = buf[: seg.encrypted_size]
        got = _read_into(src, view)
        while got and got < len(view):
            more = _read_into(src, view[got:])
            if not more:
                break
            got += more
        if got != len(view):
            raise ObjectRefused(
                RefusalReason.PAYLOAD_LENGTH_MISMATCH,
                "the payload ends inside a segment (truncated)",
            )
        yield view


_IN_PLACE = (bytes, bytearray, memoryview, mmap.mmap)


class _Reading:
    # Fast path: in-memory sources are read by slicing (`_zip._read_at`, `_size`), not by
    # seek-and-read calls through Python methods: a few us of every small open. Shown by
    # `python -m bench node`.
    """`src` as a seekable stream, as a context manager: an in-memory or mapped source is
    read in place, and its view released on leaving (so that a mapping can be closed, even
    after a refusal)."""

    def __init__(self, src: BinaryIO | Buffer | mmap.mmap) -> None:
        self._reader = _ViewReader(src) if isinstance(src, _IN_PLACE) else None
        self._stream = cast(BinaryIO, src if self._reader is None else self._reader)

    def __enter__(self) -> BinaryIO:
        return self._stream

    def __exit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.release()


def _read_into(src: BinaryIO, view: memoryview) -> int:
    readinto = getattr(src, "readinto", None)
    if readinto is not None:
        return int(readinto(view) or 0)
    chunk = src.read(len(view))
    view[: len(chunk)] = chunk
    return len(chunk)


def _opened(v: _Verified, written: int) -> Opened:
    return Opened(
        label_json=v.manifest.label_json if v.label is not None else None,
        label_xml=v.label.label_xml if v.label is not None else None,
        signer_kid=v.label.signer.kid if v.label is not None else None,
        recipient_kid=v.recipient_kid,
        plaintext_size=v.manifest.plaintext_size,
        written=written,
        policy=v.manifest.policy,
        known=v.known,
        alternative_labels=v.label.alternatives if v.label is not None else (),
    )


def open(
    src: BinaryIO | Buffer | mmap.mmap,
    dst: BinaryIO,
    *,
    private_key: KemPrivateKey,
    trusted_signers: TrustedSigners,
    audit_hook: AuditHook | None = None,
    unsafe_allow_unlabelled: bool = False,
    progress: Progress | None = None,
    manifest_cache: ManifestCache | None = None,
    expected_label: Mapping[str, Any] | None = None,
    expected_policy_uuid: str | None = None,
    known: Known | None = None,
) -> Opened:
    """Verify and decrypt a sealed object from seekable `src` into `dst`.

    Raises `ObjectRefused` on any defect of the object (given to `audit_hook` first), an
    `InputError` on the caller's own mistakes, `UnlabelledObject` for an object without a
    cix label unless `unsafe_allow_unlabelled` (which logs a warning: nothing is verified of
    what the object is). With `manifest_cache`, a manifest verified before
    (same bytes, same trusted signers) is not parsed and verified again. With
    `expected_label` (label JSON), the object's label must be verified (`trusted_signers`)
    and equal it (else label-mismatch); with `expected_policy_uuid`, the policy's `uuid`
    must equal it (policy-uuid-mismatch); with `known` (an earlier open's
    `Opened.known` of the same object), the container is not parsed again and the object
    must have the known size and bytes outside its payload (object-digest-mismatch). All
    are checked before the first plaintext byte is written.
    """
    with _Reading(src) as stream, _refusing(audit_hook):
        v = _verify(
            stream,
            private_key,
            trusted_signers,
            allow_unlabelled=unsafe_allow_unlabelled,
            cache=manifest_cache,
            expected_label=expected_label,
            expected_policy_uuid=expected_policy_uuid,
            known=known,
        )
        written = _decrypt_segments(stream, dst, v, 0, len(v.manifest.segments), progress=progress)
    return _opened(v, written)
