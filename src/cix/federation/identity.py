"""A node's public identity: the signed document one nation hands the other out of band.

It names the node (party, node id, federation URL, the agreements it holds) and carries its
public keys: the signing key (labels, messages, receipts), the KEM key (data keys are
rewrapped to it), the audit log's note key (its checkpoints) and, where TLS is configured,
the SHA-256 fingerprint of its certificate. The document is signed by its own signing key;
that proves possession, not who holds it, which is why the operators compare
`fingerprint(...)` over a second channel before pinning it (docs/federation.md).

A node may countersign a peer's identity (a voucher) to introduce it to a third node that
has no peering with it: the consented-release chain of rule 2.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from cix.audit import Verifier, verifier_from_vkey
from cix.errors import InputError
from cix.federation.canonical import b64url, canonical_json, unb64url
from cix.federation.errors import IdentityInvalid
from cix.federation.jws import JwsInvalid, sign_compact, verify_compact
from cix.keys import (
    KemAlgorithm,
    KemPublicKey,
    SignatureAlgorithm,
    SigningKey,
    VerifyKey,
    kem_public_from_bytes,
    verify_key_from_bytes,
)

IDENTITY_TYPE = "cix-node-identity/v1"
_IDENTITY_TYP = "cix-identity+jws"
_VOUCHER_TYP = "cix-voucher+jws"
_PARTY = re.compile(r"[A-Z]{3}\Z")
_NODE_ID = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}\Z")
_AGREEMENT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
_URL = re.compile(r"https?://[!-~]{1,500}\Z")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}\Z")
MAX_DOCUMENT = 64 * 1024


@dataclass(frozen=True, eq=False)
class NodeIdentity:
    """One node's public identity (see the module docstring)."""

    party: str
    node_id: str
    url: str
    agreements: tuple[str, ...]
    signing_key: VerifyKey
    kem_key: KemPublicKey
    audit_key: Verifier
    tls_fingerprint: str | None

    def to_json(self) -> dict[str, Any]:
        """The identity as the JSON object that is signed."""
        return {
            "type": IDENTITY_TYPE,
            "party": self.party,
            "node_id": self.node_id,
            "url": self.url,
            "agreements": sorted(self.agreements),
            "signing_key": {
                "alg": self.signing_key.algorithm.value,
                "kid": self.signing_key.kid,
                "public": b64url(self.signing_key.public_bytes),
            },
            "kem_key": {
                "alg": self.kem_key.algorithm.value,
                "kid": self.kem_key.kid,
                "public": b64url(self.kem_key.public_bytes),
            },
            "audit_key": self.audit_key.vkey(),
            "tls_fingerprint": self.tls_fingerprint,
        }

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the identity's canonical JSON, for operators to compare by phone."""
        return hashlib.sha256(canonical_json(self.to_json())).hexdigest()


@dataclass(frozen=True, eq=False)
class SignedIdentity:
    """An identity with its self-signature verified, and the vouchers it came with
    (`node id → compact JWS`, unverified until `check_voucher`)."""

    identity: NodeIdentity
    document: str
    vouchers: dict[str, str]


def _field(doc: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
        raise IdentityInvalid(f"node identity: `{name}` is missing or malformed")
    return value


def identity_from_json(doc: Any) -> NodeIdentity:
    """Parse the identity JSON object, checking every field; raises `IdentityInvalid`."""
    if not isinstance(doc, dict):
        raise IdentityInvalid("node identity: expected a JSON object")
    if doc.get("type") != IDENTITY_TYPE:
        raise IdentityInvalid(f"node identity: `type` must be {IDENTITY_TYPE!r}")
    known = {"type", "party", "node_id", "url", "agreements", "signing_key", "kem_key"}
    known |= {"audit_key", "tls_fingerprint"}
    if set(doc) != known:
        raise IdentityInvalid(f"node identity: expected exactly the fields {sorted(known)}")
    agreements = doc["agreements"]
    if not isinstance(agreements, list) or not all(
        isinstance(a, str) and _AGREEMENT.match(a) for a in agreements
    ):
        raise IdentityInvalid("node identity: `agreements` must be a list of agreement ids")
    tls = doc["tls_fingerprint"]
    if tls is not None and not (isinstance(tls, str) and _FINGERPRINT.match(tls)):
        raise IdentityInvalid("node identity: `tls_fingerprint` must be 64 hex digits or null")
    try:
        signing = _key(doc, "signing_key")
        signing_key = verify_key_from_bytes(SignatureAlgorithm(signing[0]), signing[2])
        kem = _key(doc, "kem_key")
        kem_key = kem_public_from_bytes(KemAlgorithm(kem[0]), kem[2])
        audit_key = verifier_from_vkey(_field(doc, "audit_key"))
    except (InputError, ValueError) as exc:
        raise IdentityInvalid(f"node identity: a public key is malformed: {exc}") from None
    if signing_key.kid != signing[1] or kem_key.kid != kem[1]:
        raise IdentityInvalid("node identity: a key's `kid` does not match the key")
    return NodeIdentity(
        party=_field(doc, "party", _PARTY),
        node_id=_field(doc, "node_id", _NODE_ID),
        url=_field(doc, "url", _URL),
        agreements=tuple(sorted(agreements)),
        signing_key=signing_key,
        kem_key=kem_key,
        audit_key=audit_key,
        tls_fingerprint=tls,
    )


def _key(doc: dict[str, Any], name: str) -> tuple[str, str, bytes]:
    value = doc.get(name)
    if not isinstance(value, dict) or set(value) != {"alg", "kid", "public"}:
        raise IdentityInvalid(f"node identity: `{name}` must have exactly alg, kid, public")
    alg, kid, public = value["alg"], value["kid"], value["public"]
    if not all(isinstance(v, str) for v in (alg, kid, public)):
        raise IdentityInvalid(f"node identity: `{name}` fields must be strings")
    try:
        raw = unb64url(public)
    except ValueError:
        raise IdentityInvalid(f"node identity: `{name}.public` is not base64url") from None
    return alg, kid, raw


def sign_identity(identity: NodeIdentity, signer: SigningKey) -> str:
    """The signed identity document (JSON text), signed by the node's own signing key."""
    if signer.kid != identity.signing_key.kid:
        raise InputError("an identity is signed by its own signing key")
    doc = {
        "identity": identity.to_json(),
        "signature": sign_compact(identity.to_json(), signer, _IDENTITY_TYP),
        "vouchers": {},
    }
    return canonical_json(doc).decode("utf-8") + "\n"


def read_identity(text: str | bytes) -> SignedIdentity:
    """Parse a signed identity document and verify its self-signature.

    Raises `IdentityInvalid` naming what is wrong: not JSON, a malformed field, or a
    signature that does not verify or does not cover exactly the identity given.
    """
    if len(text) > MAX_DOCUMENT:
        raise IdentityInvalid(f"node identity: larger than {MAX_DOCUMENT} bytes")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise IdentityInvalid(f"node identity: not JSON ({exc})") from None
    if not isinstance(doc, dict) or set(doc) != {"identity", "signature", "vouchers"}:
        raise IdentityInvalid("node identity: expected identity, signature and vouchers")
    identity = identity_from_json(doc["identity"])
    try:
        signed = verify_compact(doc["signature"], identity.signing_key, _IDENTITY_TYP)
    except JwsInvalid as exc:
        raise IdentityInvalid(f"node identity: the self-signature fails: {exc}") from None
    if signed != identity.to_json():
        raise IdentityInvalid("node identity: the signature covers another identity")
    vouchers = doc["vouchers"]
    if not isinstance(vouchers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in vouchers.items()
    ):
        raise IdentityInvalid("node identity: `vouchers` must map node ids to JWS strings")
    canonical = canonical_json(doc).decode("utf-8") + "\n"
    return SignedIdentity(identity, canonical, dict(vouchers))


def add_voucher(signed: SignedIdentity, voucher_node: str, signer: SigningKey) -> SignedIdentity:
    """`signed` countersigned by `voucher_node` (this node): "I have pinned this identity"."""
    token = sign_compact(
        {"identity": signed.identity.to_json(), "vouched_by": voucher_node}, signer, _VOUCHER_TYP
    )
    doc = json.loads(signed.document)
    doc["vouchers"][voucher_node] = token
    return SignedIdentity(
        signed.identity, canonical_json(doc).decode("utf-8") + "\n", doc["vouchers"]
    )


def check_voucher(signed: SignedIdentity, voucher_node: str, voucher_key: VerifyKey) -> None:
    """Raise `IdentityInvalid` unless `voucher_node`, with `voucher_key`, vouched for exactly
    this identity."""
    token = signed.vouchers.get(voucher_node)
    if token is None:
        raise IdentityInvalid(f"node identity: no voucher by {voucher_node}")
    try:
        payload = verify_compact(token, voucher_key, _VOUCHER_TYP)
    except JwsInvalid as exc:
        raise IdentityInvalid(
            f"node identity: the voucher of {voucher_node} fails: {exc}"
        ) from None
    if payload != {"identity": signed.identity.to_json(), "vouched_by": voucher_node}:
        raise IdentityInvalid(f"node identity: the voucher of {voucher_node} is for another")
