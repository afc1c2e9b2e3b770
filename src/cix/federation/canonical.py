"""Canonical JSON (RFC 8785, JCS): the bytes every federation signature covers, so that a
signer and a verifier in any language agree on them whatever the key order or spacing."""

from __future__ import annotations

import base64
from typing import Any

import rfc8785


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of `value` (objects, arrays, strings, ints, bools, null).

    Floats are refused by design: no message field is a float, and RFC 8785's number form
    is a common source of disagreement between implementations.
    """
    _refuse_floats(value)
    return rfc8785.dumps(value)


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("federation JSON carries no floats")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Decode unpadded base64url; raises ValueError on anything else."""
    if not isinstance(text, str) or not text.isascii() or "=" in text:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
