"""The label assertion and its JWS binding (OpenTDF assertion, signed by the originator),
and the alternative-label assertions (each signed by the receiving party that added it).

The binding is a compact JWS (RFC 7515) whose header is `{"alg", "kid", "typ": "JWT"}` and
whose claims are OpenTDF's `assertionHash` and `assertionSig` plus `cixManifestHash`, the
hash of the whole manifest except what a rewrap may change and the alternative labels. So a
label moved to another object, or any signed manifest field changed, no longer matches the
signature; an alternative label is bound the same way, and must also carry this object's
originator label.
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
    ALTERNATIVE_LABEL_PREFIX,
    LABEL_ASSERTION_ID,
    LABEL_SCHEMA,
    Manifest,
    alternative_json,
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


def alternative_assertion(
    party: str, label_xml: str, label_json: Mapping[str, Any]
) -> dict[str, Any]:
    """`party`'s alternative-label assertion without its binding: the 4774 XML as for the
    label, and the alternative label JSON in the statement's `cix` object."""
    return {
        "id": ALTERNATIVE_LABEL_PREFIX + party,
        "type": "handling",
        "scope": "tdo",
        "appliesToState": "unencrypted",
        "statement": {
            "schema": LABEL_SCHEMA,
            "format": "xml-structured",
            "value": label_xml,
            "cix": {"version": 1, "label": dict(label_json)},
        },
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
class VerifiedAlternativeLabel:
    """An alternative label that verified: signed by a key trusted for `party`, bound to
    the object, and of the object's originator label (`label_json["label"]`)."""

    party: str
    """The receiving party that added it, whose equivalent marking it is."""
    label_json: Mapping[str, Any]
    """The alternative label JSON (`cix.labels.alternative_to_json`)."""
    label_xml: bytes
    """Its STANAG 4774 XML (an alternativeConfidentialityLabel), as signed."""
    signer_kid: str


@dataclass(frozen=True)
class VerifiedLabel:
    """A label assertion whose signature and binding verified: the XML and the signer, and
    the object's alternative labels, each verified."""

    label_xml: bytes
    signer: VerifyKey
    alternatives: tuple[VerifiedAlternativeLabel, ...] = ()


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


def _verify_jws(
    manifest: Manifest,
    assertion: Mapping[str, Any],
    trusted: TrustedSigners,
    party: str | None,
    what: str,
) -> VerifyKey:
    """Verify `assertion`'s JWS binding: by a key trusted for `party`, over this manifest.
    Returns the signer's key; `what` names the assertion in the refusal's detail."""
    binding = assertion.get("binding")
    if not isinstance(binding, dict) or binding.get("method") != "jws":
        raise ObjectRefused(
            RefusalReason.ASSERTION_SIGNATURE_INVALID, f"the {what} assertion has no JWS binding"
        )
    jws = binding.get("signature")
    if not isinstance(jws, str) or jws.count(".") != 2:
        raise ObjectRefused(
            RefusalReason.ASSERTION_SIGNATURE_INVALID, f"the {what} binding is not a compact JWS"
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
            RefusalReason.UNKNOWN_SIGNER, f"the {what} is signed by a key that is not trusted"
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
            RefusalReason.ASSERTION_SIGNATURE_INVALID, f"the {what} signature does not verify"
        ) from None
    if party is None or all(k.kid != signer.kid for k in trusted.get(party, ())):
        raise ObjectRefused(
            RefusalReason.SIGNER_NOT_ORIGINATOR,
            f"the {what} of {party or 'no party'} is signed by another party's key",
        )
    tags = [s.tag for s in manifest.segments]
    expected = _claims(manifest.doc, assertion, tags)
    if set(claims) != set(expected) or not all(
        isinstance(claims[k], str) and hmac.compare_digest(claims[k], v)
        for k, v in expected.items()
    ):
        raise ObjectRefused(
            RefusalReason.ASSERTION_BINDING_MISMATCH,
            f"the signed {what} does not belong to this object",
        )
    return signer


def _statement_xml(assertion: Mapping[str, Any], what: str) -> bytes:
    statement = assertion.get("statement")
    value = statement.get("value") if isinstance(statement, dict) else None
    if not isinstance(value, str):
        raise ObjectRefused(
            RefusalReason.ASSERTION_BINDING_MISMATCH, f"the {what} assertion carries no XML text"
        )
    return value.encode("utf-8")


def verify_binding(manifest: Manifest, trusted: TrustedSigners) -> VerifiedLabel:
    """Verify the label assertion's JWS against `trusted` signers and this manifest.

    Raises `ObjectRefused` (unknown-signer, assertion-signature-invalid,
    signer-not-originator, assertion-binding-mismatch).
    """
    assertion = manifest.label_assertion
    assert assertion is not None
    party = signing_party(manifest.label_json)
    signer = _verify_jws(manifest, assertion, trusted, party, "label")
    return VerifiedLabel(_statement_xml(assertion, "label"), signer)


def verify_alternatives(
    manifest: Manifest, trusted: TrustedSigners
) -> tuple[VerifiedAlternativeLabel, ...]:
    """Verify every alternative-label assertion (after the label verified): each signed by a
    key trusted for the party it names, bound to this manifest as the label is, and
    carrying this object's originator label. Raises `ObjectRefused` (the reasons of
    `verify_binding`; assertion-binding-mismatch for another label inside)."""
    found = []
    for assertion in manifest.alternative_assertions:
        label_json = alternative_json(assertion)
        party = signing_party(label_json)
        what = f"alternative label of {party}"
        signer = _verify_jws(manifest, assertion, trusted, party, "alternative label")
        try:
            inner = canonical(dict(label_json["label"]))
        except (TypeError, ValueError):
            inner = b""
        if manifest.label_canonical is None or not hmac.compare_digest(
            inner, manifest.label_canonical
        ):
            raise ObjectRefused(
                RefusalReason.ASSERTION_BINDING_MISMATCH,
                f"the {what} is not of this object's originator label",
            )
        if party is None or party == (manifest.label_json or {}).get("originator"):
            raise ObjectRefused(
                RefusalReason.ASSERTION_BINDING_MISMATCH,
                f"the {what} is the originator's own: an alternative is a receiver's",
            )
        xml = _statement_xml(assertion, what)
        found.append(VerifiedAlternativeLabel(party, label_json, xml, signer.kid))
    return tuple(found)


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
