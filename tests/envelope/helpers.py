"""Shared helpers for the envelope tests: sealing and opening in memory, ZIP surgery."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cix import envelope
from cix.envelope import ObjectRefused, Opened, RefusalReason
from cix.envelope._zip import ZipStreamWriter
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

    reasons: list[ObjectRefused] = field(default_factory=list)

    def __call__(self, refusal: ObjectRefused) -> None:
        self.reasons.append(refusal)

    @property
    def only(self) -> RefusalReason:
        """The reason of the single refusal received."""
        assert len(self.reasons) == 1, self.reasons
        return self.reasons[0].reason


def open_bytes(
    blob: bytes,
    key: KemPrivateKey,
    trusted: Sequence[VerifyKey] | Mapping[str, Sequence[VerifyKey]],
    audit: Audit | None = None,
    **kwargs: Any,
) -> tuple[bytes, Opened]:
    """Open a sealed object held in memory; return the plaintext and the result. `trusted`
    as a list: keys trusted for the labels of KOR (the originator of `LABEL_JSON`)."""
    if not isinstance(trusted, Mapping):
        trusted = {"KOR": list(trusted)}
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
    """A fresh, well-formed ZIP with these members as the cix writer writes them (CRCs
    recomputed), so that only what was changed in the members is changed."""
    if isinstance(manifest, dict):
        manifest = json.dumps(manifest).encode()
    out = io.BytesIO()
    writer = ZipStreamWriter(out)
    writer.begin("0.payload", zip64=False)
    writer.write(payload)
    writer.end()
    writer.add("0.manifest.json", manifest)
    writer.close()
    return out.getvalue()


def manifest_bytes(blob: bytes) -> bytes:
    """The raw manifest member of a sealed object."""
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return z.read("0.manifest.json")


def payload_bytes(blob: bytes) -> bytes:
    """The raw payload member of a sealed object."""
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return z.read("0.payload")
