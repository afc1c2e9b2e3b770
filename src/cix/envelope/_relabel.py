"""Classification changes (rule 3): the originator's new label on an existing object, without
re-encrypting the payload, and its installation in every copy (docs/format.md §7b).

The label lives in the policy (`body.cix.label`), which the label signature covers (through
`cixManifestHash`) and every key access object binds (the policy binding, an HMAC under the
data key). So a new label is a new policy, a new label assertion signed by the originator,
and a policy binding recomputed with the data key in each key access object; the payload,
its segment tags, the root signature and the wrapped keys stay as they are.

One signed artefact serves every copy. The originator's signature covers the manifest
without its key access objects and without alternative labels: exactly the parts in which
copies of one object differ (each holder's key access, each receiving party's marking). So
the `LabelChange` the originator makes on its own object (`relabel`) — the new policy text
and the new label assertion — binds to every copy of that object and to no other object,
and a holder installs it (`install_label`) with its own data key, without the originator
ever seeing that copy. A holder cannot make one: it has no originator signing key, and the
signature covers the policy it would change.

The policy carries a revision (`body.cix.revision`, absent before the first change): each
change raises it by one and a copy takes only a newer one, so an old change replayed after
a newer one cannot roll the label back. Alternative labels, which are of the old label, are
dropped; each receiving party adds its own again (`add_alternative_label`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from cix.envelope._assertion import (
    TrustedSigners,
    label_assertion,
    sign_binding,
    signing_party,
    verify_binding,
)
from cix.envelope._manifest import (
    LABEL_ASSERTION_ID,
    Manifest,
    b64,
    canonical,
    is_alternative,
    parse_manifest,
    policy_binding,
    strict_json,
    unb64,
)
from cix.envelope._open import AuditHook, _Reading, _refusing, _verify
from cix.envelope._rewrap import write_copy
from cix.envelope._seal import Buffer, Progress, check_label
from cix.envelope.errors import ManifestError, ObjectRefused, RefusalReason
from cix.errors import InputError
from cix.keys import KemPrivateKey, SigningKey

LABEL_CHANGE_TYPE = "cix-label-change/v1"
_FIELDS = frozenset({"type", "policy", "assertion"})


@dataclass(frozen=True)
class LabelChange:
    """The originator's signed change of one object's label: the new policy text (base64,
    as it stands in the manifest) and the new label assertion with its JWS binding. Made by
    `relabel`, installed in any copy of the same object by `install_label`; nothing in it
    is trusted before `install_label` verified it against that copy."""

    policy: str
    assertion: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The JSON object a classification-change notice carries."""
        return {"type": LABEL_CHANGE_TYPE, "policy": self.policy, "assertion": dict(self.assertion)}

    @classmethod
    def from_json(cls, doc: object) -> LabelChange:
        """Parse `to_json`'s form; `InputError` naming what is wrong (unverified)."""
        if not isinstance(doc, Mapping) or set(doc) != _FIELDS:
            raise InputError(f"label change: expected exactly the fields {sorted(_FIELDS)}")
        if doc["type"] != LABEL_CHANGE_TYPE:
            raise InputError(f"label change: `type` must be {LABEL_CHANGE_TYPE!r}")
        if not isinstance(doc["policy"], str) or not isinstance(doc["assertion"], Mapping):
            raise InputError("label change: `policy` is text and `assertion` an object")
        return cls(doc["policy"], dict(doc["assertion"]))

    def _policy(self) -> dict[str, Any]:
        try:
            policy = strict_json(unb64(self.policy, "the change's policy"), "the change's policy")
        except ManifestError as exc:
            raise ObjectRefused(RefusalReason.MALFORMED_OBJECT, str(exc)) from None
        if not isinstance(policy, dict):
            raise ObjectRefused(
                RefusalReason.MALFORMED_OBJECT, "the change's policy is not an object"
            )
        return policy

    @property
    def label_json(self) -> Mapping[str, Any]:
        """The new label JSON the policy carries (unverified until installed); raises
        `ObjectRefused` (malformed-object) if the policy carries none."""
        label = _cix(self._policy()).get("label")
        if not isinstance(label, dict):
            raise ObjectRefused(RefusalReason.MALFORMED_OBJECT, "the change carries no label")
        return label

    @property
    def revision(self) -> int:
        """The policy revision the change sets (unverified until installed)."""
        return _revision(self._policy())


def _cix(policy: Mapping[str, Any]) -> Mapping[str, Any]:
    body = policy.get("body")
    cix = body.get("cix") if isinstance(body, dict) else None
    return cix if isinstance(cix, dict) else {}


def _revision(policy: Mapping[str, Any]) -> int:
    """`body.cix.revision` (0 when absent: the label as sealed); malformed-object if it is
    not a non-negative integer."""
    value = _cix(policy).get("revision", 0)
    if type(value) is not int or value < 0:
        raise ObjectRefused(RefusalReason.MALFORMED_OBJECT, "the policy revision is malformed")
    return value


def _rebound(manifest: Manifest, key: bytes, policy_b64: str) -> dict[str, Any]:
    """The manifest document with `policy_b64` as its policy, every key access object's
    policy binding recomputed under the data key `key` (in the form it had), and every
    alternative label dropped (they are of the old label)."""
    doc = manifest.doc
    enc = doc["encryptionInformation"]
    enc["policy"] = policy_b64
    digest = policy_binding(key, policy_b64)
    for kao in enc.get("keyAccess") or []:
        if isinstance(kao.get("policyBinding"), dict):
            kao["policyBinding"] = {"alg": "HS256", "hash": digest}
        else:
            kao["policyBinding"] = digest
    doc["assertions"] = [a for a in doc.get("assertions") or [] if not is_alternative(a)]
    return doc


def _replace_label(doc: dict[str, Any], assertion: Mapping[str, Any]) -> None:
    """Put `assertion` where the label assertion stood (its place in the list is signed)."""
    assertions = doc["assertions"]
    at = next(i for i, a in enumerate(assertions) if a.get("id") == LABEL_ASSERTION_ID)
    assertions[at] = dict(assertion)


def relabel(
    src: BinaryIO | Buffer,
    dst: BinaryIO,
    *,
    private_key: KemPrivateKey,
    trusted_signers: TrustedSigners,
    label_xml: bytes,
    label_json: Mapping[str, Any],
    signer: SigningKey,
    audit_hook: AuditHook | None = None,
    progress: Progress | None = None,
) -> LabelChange:
    """Write to `dst` a copy of `src` under the originator's new label; return the change,
    which installs in every other copy of the object (`install_label`).

    `src` is verified as `open` verifies it before a byte is written (a defect raises
    `ObjectRefused`, given to `audit_hook` first). The copy has the same payload bytes and
    wrapped keys; its policy carries `label_json` and the next revision, each key access
    object's policy binding is recomputed, the label assertion holds `label_xml` signed by
    `signer`, and alternative labels are dropped (they were of the old label). Raises
    `InputError` if the new label names another originator than the object's (only the
    originator changes a classification, rule 3), if `signer` is not among the keys
    trusted for that originator, or for a label that is not canonical JSON or UTF-8 XML,
    and `UnlabelledObject` for an object without a label.
    """
    xml_text = check_label(label_xml, label_json)
    with _Reading(src) as stream:
        with _refusing(audit_hook):
            v = _verify(stream, private_key, trusted_signers, allow_unlabelled=False)
        manifest = v.manifest
        originator = signing_party(manifest.label_json)
        if label_json.get("originator") != originator:
            raise InputError(
                f"label_json: the object's originator is {originator}; only it changes the label"
            )
        if all(k.kid != signer.kid for k in trusted_signers.get(originator or "", ())):
            raise InputError(f"the signer is not among the keys trusted for {originator}'s labels")
        policy = dict(manifest.policy)
        body = dict(policy["body"])
        with _refusing(audit_hook):
            revision = _revision(policy) + 1
        body["cix"] = {**_cix(policy), "label": dict(label_json), "revision": revision}
        policy["body"] = body
        policy_b64 = b64(canonical(policy))
        doc = _rebound(manifest, v.key, policy_b64)
        assertion = label_assertion(xml_text)
        _replace_label(doc, assertion)
        assertion["binding"] = sign_binding(
            doc, assertion, [s.tag for s in manifest.segments], signer
        )
        _replace_label(doc, assertion)
        write_copy(stream, v.payload, doc, dst, progress)
    return LabelChange(policy_b64, assertion)


def install_label(
    src: BinaryIO | Buffer,
    dst: BinaryIO,
    *,
    private_key: KemPrivateKey,
    trusted_signers: TrustedSigners,
    change: LabelChange,
    audit_hook: AuditHook | None = None,
    progress: Progress | None = None,
) -> Mapping[str, Any]:
    """Write to `dst` a copy of `src` carrying the originator's `change`; return the new
    label JSON, verified.

    `src` is verified as `open` verifies it. Then the change must be of this object (its
    policy's uuid), keep its originator, raise its revision (a change already installed or
    older than the label is refused, label-change-stale: no rollback), and its assertion's
    signature must verify, by a key `trusted_signers` holds for that originator, over this
    object's manifest with the new policy (else `ObjectRefused`: assertion-binding-mismatch
    for another object's change or one altered, signer-not-originator or unknown-signer for
    one not signed by the originator, assertion-signature-invalid, malformed-object). The
    copy has the same payload bytes and wrapped keys, policy bindings recomputed under its
    data key, and no alternative labels (the holder adds its own again).
    """
    if not isinstance(change, LabelChange):
        raise InputError("change must be a LabelChange")
    with _Reading(src) as stream:
        with _refusing(audit_hook):
            v = _verify(stream, private_key, trusted_signers, allow_unlabelled=False)
            manifest = v.manifest
            policy = change._policy()
            if not isinstance(policy.get("uuid"), str) or not hmac.compare_digest(
                str(policy["uuid"]).encode(), str(manifest.policy.get("uuid")).encode()
            ):
                raise ObjectRefused(
                    RefusalReason.ASSERTION_BINDING_MISMATCH, "the change is of another object"
                )
            new_label = change.label_json
            originator = signing_party(manifest.label_json)
            if new_label.get("originator") != originator:
                raise ObjectRefused(
                    RefusalReason.SIGNER_NOT_ORIGINATOR,
                    f"the change names another originator than {originator}",
                )
            if _revision(policy) <= _revision(manifest.policy):
                raise ObjectRefused(
                    RefusalReason.LABEL_CHANGE_STALE,
                    "the object's label is as new as the change or newer",
                )
            doc = _rebound(manifest, v.key, change.policy)
            _replace_label(doc, change.assertion)
            raw = canonical(doc)
            changed = parse_manifest(raw)
            if changed.label_assertion is None or changed.label_json is None:
                raise ObjectRefused(RefusalReason.MALFORMED_OBJECT, "the change has no label")
            verify_binding(changed, trusted_signers)
        write_copy(stream, v.payload, doc, dst, progress)
    return changed.label_json
