"""Shared helpers for the envelope tests: sealing and opening in memory, ZIP surgery."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cix import envelope
from cix.envelope import EnvelopeVerificationError, Opened
from cix.keys import KemPrivateKey, KemPublicKey, SigningKey, VerifyKey

LABEL_JSON: dict[str, Any] = {
    "policy": "kor-can",
    "originator": "KOR",
    "classification": "KOR-II",
    "releasable_to": ["CAN", "KOR"],
}
LABEL_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<ConfidentialityInformation xmlns="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0">'
    b"<PolicyIdentifier>kor-can</PolicyIdentifier><Classification>KOR-II</Classification>"
    b"</ConfidentialityInformation>"
)


def seal_bytes(
    data: bytes,
    recipients: Sequence[KemPublicKey],
    signer: SigningKey,
    *,
    label_json: dict[str, Any] | None = None,
    label_xml: bytes = LABEL_XML,
    **kwargs: Any,
) -> bytes:
    """Seal `data` in memory and return the sealed object's bytes."""
    out = io.BytesIO()
    envelope.seal(
        io.BytesIO(data),
        out,
        label_xml=label_xml,
        label_json=LABEL_JSON if label_json is None else label_json,
        recipients=recipients,
        signer=signer,
        **kwargs,
    )
    return out.getvalue()


@dataclass
class Audit:
    """An audit hook that records the reasons it receives."""

    reasons: list[EnvelopeVerificationError] = field(default_factory=list)

    def __call__(self, reason: EnvelopeVerificationError) -> None:
        self.reasons.append(reason)

    @property
    def only(self) -> type[EnvelopeVerificationError]:
        """The type of the single reason received."""
        assert len(self.reasons) == 1, self.reasons
        return type(self.reasons[0])


def open_bytes(
    blob: bytes,
    key: KemPrivateKey,
    trusted: Sequence[VerifyKey],
    audit: Audit | None = None,
    **kwargs: Any,
) -> tuple[bytes, Opened]:
    """Open a sealed object held in memory; return the plaintext and the result."""
    out = io.BytesIO()
    opened = envelope.open(
        io.BytesIO(blob), out, private_key=key, trusted_signers=trusted, audit_hook=audit, **kwargs
    )
    return out.getvalue(), opened


def members(blob: bytes) -> tuple[dict[str, Any], bytes]:
    """The parsed manifest and the payload bytes of a sealed object."""
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return json.loads(z.read("0.manifest.json")), z.read("0.payload")


def rezip(manifest: bytes | dict[str, Any], payload: bytes) -> bytes:
    """A fresh, well-formed ZIP with these members (CRCs recomputed)."""
    if isinstance(manifest, dict):
        manifest = json.dumps(manifest).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("0.payload", payload)
        z.writestr("0.manifest.json", manifest)
    return out.getvalue()


def manifest_bytes(blob: bytes) -> bytes:
    """The raw manifest member of a sealed object."""
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return z.read("0.manifest.json")


def payload_bytes(blob: bytes) -> bytes:
    """The raw payload member of a sealed object."""
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return z.read("0.payload")
