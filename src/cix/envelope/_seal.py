"""Sealing: stream a payload into AES-256-GCM segments inside a ZIP, then write the manifest.

Memory does not grow with the payload: one input buffer and a few output buffers of a
segment each, reused; the manifest keeps 16 bytes and two integers per segment. A file mapped
with `mapped_input` is read without copying, and each sealed window of the mapping is
released from the process (`MADV_DONTNEED`: the pages stay in the page cache), so that its
resident set does not grow with the file either. A large payload bound for a regular file
is written by a second thread while the next segment is encrypted (see `_fileio`).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cix.envelope._assertion import label_assertion, sign_binding
from cix.envelope._fileio import MappedWindows, Output, output_for
from cix.envelope._manifest import (
    GCM_IV,
    GCM_TAG,
    KEY_ACCESS_SCHEMA_VERSION,
    MAX_SEGMENT,
    SEGMENT_OVERHEAD,
    b64,
    build_manifest,
    canonical,
    check_canonical,
    kao_info,
    policy_binding,
    root_signature,
)
from cix.envelope._zip import ZipStreamWriter
from cix.envelope.errors import ManifestError
from cix.errors import InputError
from cix.keys import KemAlgorithm, KemPublicKey, SigningKey

DEFAULT_SEGMENT_SIZE = 2 << 20
MANIFEST_NAME = "0.manifest.json"
PAYLOAD_NAME = "0.payload"
_ZIP32_LIMIT = 0xFFFFFFFF - (1 << 20)

#: A test hook that wraps the payload key for a recipient: (recipient, key, info) -> bytes.
WrapHook = Callable[[KemPublicKey, bytes, bytes], bytes]
Progress = Callable[[int], None]
#: An in-memory input: sliced without copying.
Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class SealResult:
    """What `seal` wrote: sizes, segment count, the recipients' kids and the policy uuid."""

    plaintext_size: int
    sealed_size: int
    segments: int
    kids: tuple[str, ...]
    policy_uuid: str


def recipient_url(key: KemPublicKey) -> str:
    """The `url` of a key access object cix writes for `key` (names no network service)."""
    return f"urn:cix:recipient:{key.kid}"


def make_key_access(
    recipient: KemPublicKey, payload_key: bytes, policy_b64: str, wrap: WrapHook | None = None
) -> dict[str, Any]:
    """A key access object wrapping `payload_key` to `recipient`, bound to `policy_b64`."""
    head: dict[str, Any] = {
        "type": "wrapped",
        "url": recipient_url(recipient),
        "protocol": "kas",
        "kid": recipient.kid,
        "schemaVersion": KEY_ACCESS_SCHEMA_VERSION,
    }
    info = kao_info(head)
    wrapped = (wrap or _default_wrap)(recipient, payload_key, info)
    return head | {
        "wrappedKey": b64(wrapped),
        "policyBinding": {"alg": "HS256", "hash": policy_binding(payload_key, policy_b64)},
    }


def _default_wrap(recipient: KemPublicKey, key: bytes, info: bytes) -> bytes:
    return recipient.wrap(key, info)


def _remaining(src: BinaryIO) -> int | None:
    try:
        if not src.seekable():
            return None
        here = src.tell()
        end = src.seek(0, os.SEEK_END)
        src.seek(here)
    except (OSError, ValueError, AttributeError):
        return None
    return end - here


def _fill(src: BinaryIO, view: memoryview) -> int:
    """Read until `view` is full or the input ends; return the bytes read."""
    readinto = getattr(src, "readinto", None)
    got = 0
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            chunk = src.read(len(view) - got)
            n = len(chunk)
            view[got : got + n] = chunk
        if not n:
            break
        got += n
    return got


def _mapped_chunks(mapping: mmap.mmap, size: int) -> Generator[memoryview, None, None]:
    windows = MappedWindows(mapping)
    try:
        for at in range(0, len(mapping), size):
            yield windows.window(at, at + size)
            # Sealed (the caller released the view): drop it from this process.
            windows.release_before(at + size)
    finally:
        windows.close()


def _chunks(src: BinaryIO | Buffer | mmap.mmap, size: int) -> Generator[memoryview, None, None]:
    """The plaintext in `size`-byte views; at least one (empty) view for an empty input.

    A bytes-like source is sliced in place (no copy), a mapped file too, each window
    released after use; a stream is read into one reused buffer, so each view is valid
    only until the next one is taken.
    """
    if isinstance(src, mmap.mmap):
        yield from _mapped_chunks(src, size)
        return
    if isinstance(src, bytes | bytearray | memoryview):
        view = memoryview(src).cast("B")
        for at in range(0, max(len(view), 1), size):
            yield view[at : at + size]
        return
    buf = memoryview(bytearray(size))
    first = True
    while True:
        n = _fill(src, buf)
        if n == 0 and not first:
            return
        first = False
        yield buf[:n]
        if n < size:
            return


def _encrypt_segments(
    chunks: Generator[memoryview, None, None],
    aes: AESGCM,
    next_iv: Callable[[], bytes],
    out: Output,
    writer: ZipStreamWriter,
    progress: Progress | None,
) -> tuple[list[bytes], list[dict[str, Any]], int]:
    """Encrypt each chunk into a buffer of `out` and write it as `IV || C || T`; return the
    tags, the manifest's segment entries and the plaintext size."""
    tags: list[bytes] = []
    segments: list[dict[str, Any]] = []
    total = 0
    # Closed on any exit: a mapped source's views must all be released before it is unmapped.
    with contextlib.closing(chunks):
        for chunk in chunks:
            try:
                n = len(chunk)
                iv = next_iv()
                if len(iv) != GCM_IV:
                    raise InputError("an injected IV must be 12 bytes")
                buf = out.take()
                buf[:GCM_IV] = iv
                aes.encrypt_into(iv, chunk, None, buf[GCM_IV : GCM_IV + n + GCM_TAG])
            finally:
                chunk.release()
            tag = bytes(buf[GCM_IV + n : GCM_IV + n + GCM_TAG])
            writer.write(buf[: n + SEGMENT_OVERHEAD])  # hands `buf` to `out`: not touched again
            tags.append(tag)
            segments.append(
                {"hash": b64(tag), "segmentSize": n, "encryptedSegmentSize": n + SEGMENT_OVERHEAD}
            )
            total += n
            if progress is not None:
                progress(total)
    return tags, segments, total


def _check_inputs(
    label_xml: bytes,
    label_json: Mapping[str, Any],
    recipients: Sequence[KemPublicKey],
    segment_size: int,
) -> str:
    if not recipients:
        raise InputError("seal needs at least one recipient public key")
    kids = [r.kid for r in recipients]
    if len(set(kids)) != len(kids):
        raise InputError("the same recipient is given twice")
    if not 1 <= segment_size <= MAX_SEGMENT:
        raise InputError(f"segment size must be between 1 and {MAX_SEGMENT} bytes")
    return check_label(label_xml, label_json)


def check_label(label_xml: bytes, label_json: Mapping[str, Any]) -> str:
    """The label XML as text, if `label_xml` is non-empty UTF-8 and `label_json` a JSON
    object in canonical form; else an `InputError` naming which is not."""
    if not isinstance(label_json, Mapping):
        raise InputError("label_json must be a JSON object")
    try:
        check_canonical(dict(label_json))
        canonical(dict(label_json))
    except (TypeError, ValueError, ManifestError) as exc:
        raise InputError(f"label_json is not canonical JSON: {exc}") from None
    try:
        text = label_xml.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("label_xml is not UTF-8") from None
    if not text.strip():
        raise InputError("label_xml is empty")
    return text


def seal(
    src: BinaryIO | Buffer | mmap.mmap,
    dst: BinaryIO,
    *,
    label_xml: bytes,
    label_json: Mapping[str, Any],
    recipients: Sequence[KemPublicKey],
    signer: SigningKey,
    attributes: Sequence[str] = (),
    mime_type: str = "application/octet-stream",
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    size_hint: int | None = None,
    progress: Progress | None = None,
    policy_uuid: str | None = None,
    _key: bytes | None = None,
    _ivs: Iterator[bytes] | None = None,
    _policy_uuid: str | None = None,
    _wrap: WrapHook | None = None,
) -> SealResult:
    """Seal `src` (a stream, bytes sliced without copying, or a file from `mapped_input`)
    into `dst` for `recipients`.

    `label_xml` (STANAG 4774) and `label_json` (cix's canonical label JSON) are bound as
    given; the envelope does not interpret them. `attributes` become the policy's
    `dataAttributes`. `size_hint` (bytes still to read) decides whether the ZIP needs ZIP64
    up front; without it a seekable `src` is measured, else ZIP64 is used. `policy_uuid` is
    the policy's `uuid` (a cix node writes its document's id there, so that an open can
    check it is the object it meant, `expected_policy_uuid`); random (UUID v4) when not
    given. The `_key`,
    `_ivs`, `_policy_uuid` and `_wrap` parameters fix the randomness for known-answer vectors
    only. Raises an `InputError` subclass on bad arguments.
    """
    xml_text = _check_inputs(label_xml, label_json, recipients, segment_size)
    if not isinstance(mime_type, str) or not all(isinstance(a, str) for a in attributes):
        raise InputError("mime_type and every attribute must be text")
    key = _key if _key is not None else os.urandom(32)
    if len(key) != 32:
        raise InputError("the payload key must be 32 bytes")
    next_iv: Callable[[], bytes] = (
        (lambda: next(_ivs)) if _ivs is not None else (lambda: os.urandom(GCM_IV))
    )
    if policy_uuid is not None and (not isinstance(policy_uuid, str) or not policy_uuid):
        raise InputError("policy_uuid must be non-empty text")
    policy_uuid = policy_uuid or _policy_uuid or str(uuid.UUID(bytes=os.urandom(16), version=4))
    policy = {
        "uuid": policy_uuid,
        "body": {
            "dataAttributes": [{"attribute": a} for a in attributes],
            "dissem": [],
            "cix": {"version": 1, "label": dict(label_json)},
        },
    }
    policy_b64 = b64(canonical(policy))
    key_access = [make_key_access(r, key, policy_b64, _wrap) for r in recipients]

    if size_hint is None:
        if isinstance(src, mmap.mmap):
            size_hint = len(src)
        elif isinstance(src, Buffer):
            size_hint = len(memoryview(src).cast("B"))
        else:
            size_hint = _remaining(src)
    segments_hint = None if size_hint is None else max(1, -(-size_hint // segment_size))
    zip64 = (
        size_hint is None
        or segments_hint is None
        or size_hint + segments_hint * SEGMENT_OVERHEAD >= _ZIP32_LIMIT
    )
    large = segments_hint is None or segments_hint > 1
    with output_for(dst, segment_size + SEGMENT_OVERHEAD, large=large) as out:
        writer = ZipStreamWriter(out)
        writer.begin(PAYLOAD_NAME, zip64=zip64)
        tags, segments, total = _encrypt_segments(
            _chunks(src, segment_size), AESGCM(key), next_iv, out, writer, progress
        )
        writer.end()
        assertion = label_assertion(xml_text)
        doc = build_manifest(
            policy_b64=policy_b64,
            key_access=key_access,
            segments=segments,
            segment_size=segment_size,
            root_sig=root_signature(key, tags),
            mime_type=mime_type,
            assertions=[assertion],
            # otdf-python refuses payload.tdf_spec_version (docs/format.md, "Compatibility").
            spec_version_in_payload=not any(
                r.algorithm is KemAlgorithm.RSA_2048 for r in recipients
            ),
        )
        assertion["binding"] = sign_binding(doc, assertion, tags, signer)
        writer.add(MANIFEST_NAME, canonical(doc))
        sealed_size = writer.close()
    return SealResult(
        plaintext_size=total,
        sealed_size=sealed_size,
        segments=len(tags),
        kids=tuple(r.kid for r in recipients),
        policy_uuid=policy_uuid,
    )
