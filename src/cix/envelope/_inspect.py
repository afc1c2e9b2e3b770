"""Inspection of sealed objects: a summary without any key, nothing in it verified."""

from __future__ import annotations

import mmap
from typing import Any, BinaryIO

from cix.envelope._assertion import unverified_signer_kid
from cix.envelope._manifest import alternative_json
from cix.envelope._open import _load_cached, _Reading
from cix.envelope._seal import Buffer


def inspect(src: BinaryIO | Buffer | mmap.mmap) -> dict[str, Any]:
    """Summarise a sealed object without any key: nothing in the summary is verified."""
    with _Reading(src) as stream:
        manifest, payload, _, _ = _load_cached(stream, None, {})
    integ = manifest.doc["encryptionInformation"]["integrityInformation"]
    assertion = manifest.label_assertion
    statement = assertion.get("statement") if assertion else None
    return {
        "verified": False,
        "schemaVersion": manifest.doc.get("schemaVersion"),
        "mimeType": manifest.doc["payload"].get("mimeType"),
        "plaintextSize": manifest.plaintext_size,
        "payloadMemberSize": payload.size,
        "segments": len(manifest.segments),
        "segmentSizeDefault": integ.get("segmentSizeDefault"),
        "keyAccess": [
            {"kid": k.kid, "url": k.doc.get("url"), "type": k.doc.get("type")}
            for k in manifest.key_access
        ],
        "policyUuid": manifest.policy.get("uuid"),
        "dataAttributes": (manifest.policy.get("body") or {}).get("dataAttributes"),
        "labelled": assertion is not None,
        "label": manifest.label_json,
        "labelXml": statement.get("value") if isinstance(statement, dict) else None,
        "signerKid": unverified_signer_kid(assertion) if assertion else None,
        "alternativeLabels": [
            {
                "party": alternative_json(a)["party"],
                "label": alternative_json(a),
                "signerKid": unverified_signer_kid(a),
            }
            for a in manifest.alternative_assertions
        ],
    }
