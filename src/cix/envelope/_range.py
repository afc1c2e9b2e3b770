"""Byte-range reads of sealed objects: verify as a whole open does, decrypt only the segments
the range touches (their plaintext offsets are the running sums of the segment sizes)."""

from __future__ import annotations

import bisect
import mmap
from collections.abc import Mapping
from typing import Any, BinaryIO

from cix.envelope._assertion import TrustedSigners
from cix.envelope._open import (
    AuditHook,
    Opened,
    _decrypt_segments,
    _opened,
    _Reading,
    _refusing,
    _verify,
)
from cix.envelope._seal import Buffer
from cix.errors import InputError
from cix.keys import KemPrivateKey


def open_range(
    src: BinaryIO | Buffer | mmap.mmap,
    dst: BinaryIO,
    *,
    start: int,
    length: int,
    private_key: KemPrivateKey,
    trusted_signers: TrustedSigners,
    audit_hook: AuditHook | None = None,
    unsafe_allow_unlabelled: bool = False,
    expected_label: Mapping[str, Any] | None = None,
    expected_policy_uuid: str | None = None,
) -> Opened:
    """Verify the object and write plaintext bytes [start, start+length) decrypting only the
    segments they touch. A range running past the end is cut at the end. `expected_label`
    and `expected_policy_uuid` as for `open`."""
    if start < 0 or length < 0:
        raise InputError("a byte range needs a non-negative start and length")
    with _Reading(src) as stream, _refusing(audit_hook):
        v = _verify(
            stream,
            private_key,
            trusted_signers,
            allow_unlabelled=unsafe_allow_unlabelled,
            expected_label=expected_label,
            expected_policy_uuid=expected_policy_uuid,
        )
        size = v.manifest.plaintext_size
        if start > size:
            raise InputError(f"the range starts at {start}, past the payload's {size} bytes")
        end = min(size, start + length)
        written = 0
        if end > start:
            starts = [0]
            for s in v.manifest.segments:
                starts.append(starts[-1] + s.size)
            first = bisect.bisect_right(starts, start) - 1
            last = bisect.bisect_left(starts, end)
            written = _decrypt_segments(
                stream, dst, v, first, last, skip=start - starts[first], limit=end - start
            )
    return _opened(v, written)
