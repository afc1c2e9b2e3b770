"""Compact JWS (RFC 7515) over canonical JSON, signed and checked with joserfc.

Every signature between nodes goes through here: identities, vouchers, messages, receipts.
The protected header is exactly `{"alg": "Ed25519", "kid": ..., "typ": ...}`; anything else
in it, another algorithm, or a payload that is not the canonical form of its own JSON is
refused, so one set of bytes has one meaning.
"""

from __future__ import annotations

import json
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

from cix.federation.canonical import canonical_json, unb64url
from cix.keys import JWS_ALG, SigningKey, VerifyKey, jose_signing_key, jose_verify_key

#: Largest compact JWS accepted (the payload of a document travels beside it, not in it).
MAX_TOKEN = 1 << 20


class JwsInvalid(ValueError):
    """The token is not a well-formed compact JWS of ours, or its signature fails."""


def sign_compact(payload: dict[str, Any], signer: SigningKey, typ: str) -> str:
    """A compact JWS of the canonical JSON of `payload`, signed by `signer`."""
    header = {"alg": JWS_ALG, "kid": signer.kid, "typ": typ}
    token = jws.serialize_compact(
        header, canonical_json(payload), jose_signing_key(signer), algorithms=[JWS_ALG]
    )
    return str(token)


def unverified_header(token: str) -> dict[str, Any]:
    """The protected header, unverified: only to find which key should verify the token."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN or token.count(".") != 2:
        raise JwsInvalid("not a compact JWS")
    try:
        header = json.loads(unb64url(token.split(".", 1)[0]))
    except ValueError:
        raise JwsInvalid("the JWS header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise JwsInvalid("the JWS header is not an object")
    return header


def verify_compact(token: str, key: VerifyKey, typ: str) -> dict[str, Any]:
    """The payload of `token` once its signature by `key` verifies; raises `JwsInvalid`."""
    header = unverified_header(token)
    if header != {"alg": JWS_ALG, "kid": key.kid, "typ": typ}:
        raise JwsInvalid("the JWS header is not the one expected for this key and type")
    try:
        obj = jws.deserialize_compact(token, jose_verify_key(key), algorithms=[JWS_ALG])
    except (JoseError, ValueError):
        raise JwsInvalid("the JWS signature does not verify") from None
    try:
        payload = json.loads(obj.payload)
    except ValueError:
        raise JwsInvalid("the JWS payload is not JSON") from None
    if not isinstance(payload, dict):
        raise JwsInvalid("the JWS payload is not an object")
    try:
        canonical = canonical_json(payload)
    except TypeError:
        raise JwsInvalid("the JWS payload carries a number that is not an integer") from None
    if canonical != obj.payload:
        raise JwsInvalid("the JWS payload is not in canonical form (RFC 8785)")
    return payload
