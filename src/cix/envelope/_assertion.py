"""The label assertion and its JWS binding (OpenTDF assertion, signed by the originator).

The binding is a compact JWS (RFC 7515) whose header is `{"alg", "kid", "typ": "JWT"}` and
whose claims are OpenTDF's `assertionHash` and `assertionSig` plus `cixManifestHash`, the
hash of the whole manifest except what a rewrap may change. So a label moved to another
object, or any signed manifest field changed, no longer matches the signature.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cix.envelope._manifest import (
    LABEL_ASSERTION_ID,
    LABEL_SCHEMA,
    Manifest,
    assertion_hash,
    b64,
    canonical,
    manifest_hash,
)
from cix.envelope.errors import ObjectRefused, RefusalReason
from cix.keys import SignatureInvalid, SigningKey, VerifyKey

#: The keys trusted to sign labels, by party (e.g. "KOR"): a label is accepted only when a
#: key of the party that made it signed it (see `signing_party`).
TrustedSigners = Mapping[str, Sequence[VerifyKey]]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    if "=" in text:
        raise ObjectRefused(
            RefusalReason.ASSERTION_SIGNATURE_INVALID, "the JWS uses padded base64url"
        )
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ObjectRefused(
            RefusalReason.ASSERTION_SIGNATURE_INVALID, "the JWS is not base64url"
        ) from None
    if _b64url(data) != text:
        raise ObjectRefused(
            RefusalReason.ASSERTION_SIGNATURE_INVALID, "the JWS is not canonical base64url"
        )
    return data


def label_assertion(label_xml: str) -> dict[str, Any]:
    """The label assertion without its binding: STANAG 4774 XML as a handling statement."""
    return {
        "id": LABEL_ASSERTION_ID,
        "type": "handling",
        "scope": "tdo",
        "appliesToState": "unencrypted",
        "statement": {"schema": LABEL_SCHEMA, "format": "xml-structured", "value": label_xml},
    }


def _claims(
    doc: Mapping[str, Any], assertion: Mapping[str, Any], tags: Sequence[bytes]
) -> dict[str, str]:
    digest = assertion_hash(assertion)
    return {
        "assertionHash": digest.hex(),
        "assertionSig": b64(b"".join(tags) + digest),
        "cixManifestHash": manifest_hash(doc),
    }


def sign_binding(
    doc: Mapping[str, Any], assertion: Mapping[str, Any], tags: Sequence[bytes], signer: SigningKey
) -> dict[str, str]:
    """The `binding` object for `assertion` inside manifest `doc` (whose other parts are final)."""
    header = {"alg": signer.public.jose_alg, "kid": signer.kid, "typ": "JWT"}
    signing_input = (
        _b64url(canonical(header)) + "." + _b64url(canonical(_claims(doc, assertion, tags)))
    )
    signature = signer.sign(signing_input.encode("ascii"))
    return {"method": "jws", "signature": signing_input + "." + _b64url(signature)}


@dataclass(frozen=True)
class VerifiedLabel:
    """A label assertion whose signature and binding verified: the XML and the signer."""

    label_xml: bytes
    signer: VerifyKey


def signing_party(label_json: Mapping[str, Any] | None) -> str | None:
    """The party whose key must sign a label: its originator, or for an alternative label
    (`{"label": <the originator's label>, "party": P, ...}`) the party P that added it."""
    if label_json is None:
        return None
    if "label" in label_json and "party" in label_json:
        party = label_json.get("party")
    else:
        party = label_json.get("originator")
    return party if isinstance(party, str) else None


def verify_binding(manifest: Manifest, trusted: TrustedSigners) -> VerifiedLabel:
    """Verify the label assertion's JWS against `trusted` signers and this manifest.

    Raises `ObjectRefused` (unknown-signer, assertion-signature-invalid,
    signer-not-originator, assertion-binding-mismatch).
    """
    assertion = manifest.label_assertion
    assert assertion is not None
    binding = assertion.get("binding")
    if not isinstance(binding, dict) or binding.get("method") != "jws":
        raise ObjectRefused(
            RefusalReason.ASSERTION_SIGNATURE_INVALID, "the label assertion has no JWS binding"
        )
    jws = binding.get("signature")
    if not isinstance(jws, str) or jws.count(".") != 2:
        raise ObjectRefused(
            RefusalReason.ASSERTION_SIGNATURE_INVALID, "the label binding is not a compact JWS"
        )
    h64, p64, s64 = jws.split(".")
    try:
        header = json.loads(_unb64url(h64))
        claims = json.loads(_unb64url(p64))
    except ValueError:
        raise ObjectRefused(
            RefusalReason.ASSERTION_SIGNATURE_INVALID, "the JWS header or claims are not JSON"
        ) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ObjectRefused(
            RefusalReason.ASSERTION_SIGNATURE_INVALID, "the JWS header or claims are not objects"
        )
    kid = header.get("kid")
    signer = next((k for keys in trusted.values() for k in keys if k.kid == kid), None)
    if signer is None:
        raise ObjectRefused(
            RefusalReason.UNKNOWN_SIGNER, "the label is signed by a key that is not trusted"
        )
    if header.get("alg") != signer.jose_alg or set(header) - {"alg", "kid", "typ"}:
        raise ObjectRefused(
            RefusalReason.ASSERTION_SIGNATURE_INVALID,
            "the JWS header does not match the signer's algorithm",
        )
    try:
        signer.verify(_unb64url(s64), f"{h64}.{p64}".encode("ascii"))
    except SignatureInvalid:
        raise ObjectRefused(
            RefusalReason.ASSERTION_SIGNATURE_INVALID, "the label signature does not verify"
        ) from None
    party = signing_party(manifest.label_json)
    if party is None or all(k.kid != signer.kid for k in trusted.get(party, ())):
        raise ObjectRefused(
            RefusalReason.SIGNER_NOT_ORIGINATOR,
            f"the label of {party or 'no party'} is signed by another party's key",
        )
    tags = [s.tag for s in manifest.segments]
    expected = _claims(manifest.doc, assertion, tags)
    if set(claims) != set(expected) or not all(
        isinstance(claims[k], str) and hmac.compare_digest(claims[k], v)
        for k, v in expected.items()
    ):
        raise ObjectRefused(
            RefusalReason.ASSERTION_BINDING_MISMATCH,
            "the signed label does not belong to this object",
        )
    statement = assertion.get("statement")
    value = statement.get("value") if isinstance(statement, dict) else None
    if not isinstance(value, str):
        raise ObjectRefused(
            RefusalReason.ASSERTION_BINDING_MISMATCH, "the label assertion carries no XML text"
        )
    return VerifiedLabel(value.encode("utf-8"), signer)


def unverified_signer_kid(assertion: Mapping[str, Any]) -> str | None:
    """The kid named in a label binding's JWS header, unverified (for `inspect`)."""
    binding = assertion.get("binding")
    jws = binding.get("signature") if isinstance(binding, dict) else None
    if not isinstance(jws, str) or jws.count(".") != 2:
        return None
    try:
        header = json.loads(_unb64url(jws.split(".")[0]))
    except (ValueError, ObjectRefused):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None
