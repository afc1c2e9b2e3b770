"""Alternative labels: a receiving party adds its equivalent national marking (rule 5) to a
sealed object as a second assertion signed by itself, without touching the payload, the key
access or the originator's label assertion (docs/format.md §7a).

The alternative label's signature covers the same manifest the originator's does (which
leaves every alternative label out, so that each receiving party signs its own, and adding
or replacing one leaves the others' signatures valid), and its own assertion, which holds
the originator's label JSON: moved to another object, or kept under another originator
label, it no longer verifies.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, BinaryIO

from cix.envelope._assertion import TrustedSigners, alternative_assertion, sign_binding
from cix.envelope._manifest import PARTY, canonical
from cix.envelope._open import AuditHook, _Reading, _refusing, _verify
from cix.envelope._rewrap import write_copy
from cix.envelope._seal import Buffer, Progress, check_label
from cix.errors import InputError
from cix.keys import KemPrivateKey, SigningKey


def _party(label_json: Mapping[str, Any], trusted: TrustedSigners, signer: SigningKey) -> str:
    """The party adding `label_json`, checked: a party code, the originator's label inside,
    and `signer` one of the keys `trusted` holds for that party."""
    party = label_json.get("party")
    if not isinstance(party, str) or not PARTY.fullmatch(party):
        raise InputError("label_json: an alternative label names its party (3 capital letters)")
    if not isinstance(label_json.get("label"), Mapping):
        raise InputError("label_json: an alternative label holds the originator's label")
    if all(k.kid != signer.kid for k in trusted.get(party, ())):
        # Else the copy would not open where these signers are trusted: refuse to write it.
        raise InputError(f"the signer is not among the keys trusted for {party}'s labels")
    return party


def add_alternative_label(
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
) -> None:
    """Write to `dst` a copy of `src` carrying the alternative label of `label_json["party"]`.

    `src` is verified as `open` verifies it before a byte is written (key, policy binding,
    root signature, length, the label and every alternative label against
    `trusted_signers`; a defect raises `ObjectRefused`, given to `audit_hook` first).
    `label_json` is the alternative label JSON (`cix.labels.alternative_to_json`: the
    object's originator label under `label`, the adding `party`, its equivalent
    `classification`) and `label_xml` its STANAG 4774 XML; like the label, the envelope binds
    them as given. The copy has the same payload bytes, key access and originator label
    assertion, and one assertion `cix-alternative-label-<party>` signed by `signer`: an
    earlier one of the same party is replaced (a re-marking), those of other parties kept.
    Raises `InputError` if the label is not of this object's originator label, names the
    originator's own party, or `signer` is not trusted for the party (the copy would not
    open), and `UnlabelledObject` for an object without a label.
    """
    xml_text = check_label(label_xml, label_json)
    party = _party(label_json, trusted_signers, signer)
    with _Reading(src) as stream:
        with _refusing(audit_hook):
            v = _verify(stream, private_key, trusted_signers, allow_unlabelled=False)
        manifest = v.manifest
        assert manifest.label_canonical is not None  # labelled: _verify refuses others
        if not hmac.compare_digest(canonical(dict(label_json["label"])), manifest.label_canonical):
            raise InputError("label_json: the alternative label is not of this object's label")
        if party == (manifest.label_json or {}).get("originator"):
            raise InputError(f"{party} is the originator: its label is the label itself")
        doc = manifest.doc
        assertion = alternative_assertion(party, xml_text, label_json)
        kept = [a for a in doc.get("assertions") or [] if a.get("id") != assertion["id"]]
        doc["assertions"] = [*kept, assertion]
        tags = [s.tag for s in manifest.segments]
        assertion["binding"] = sign_binding(doc, assertion, tags, signer)
        write_copy(stream, v.payload, doc, dst, progress)
