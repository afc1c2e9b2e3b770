"""Sealed objects: the OpenTDF-compatible streaming container. Pure: streams in, streams out.

Public API (what the node and the CLI call):

- `seal(src, dst, *, label_xml, label_json, recipients, signer, policy_uuid=None, …)
  -> SealResult` (`policy_uuid`: the policy's `uuid`, random when not given); `src` may
  be `mapped_input(file)`, a regular file mapped read-only and sealed without copying
- `open(src, dst, *, private_key, trusted_signers, audit_hook=None, allow_unlabelled=False,
  manifest_cache=None, expected_label=None, expected_policy_uuid=None, known=None)
  -> Opened` (also named `open_sealed`); a `ManifestCache` skips re-verifying a manifest
  already verified (same bytes, same trusted signers); `expected_label` (label JSON) and
  `expected_policy_uuid` refuse, before the first plaintext byte, an object whose verified
  label (`LabelMismatch`) or policy uuid (`PolicyUuidMismatch`) is not the one expected;
  `known` (an earlier `Opened.known` of the same object) skips parsing its container again
  and refuses an object whose size or bytes outside the payload differ
  (`ObjectDigestMismatch`; the payload authenticates segment by segment as always)
- `open_range(src, dst, *, start, length, private_key, trusted_signers, …) -> Opened`
  (the same `expected_label` and `expected_policy_uuid`)
- `inspect(src) -> dict` (no key; nothing verified)
- `rewrap(src, dst, *, private_key, to, trusted_signers=(), drop_others=False, …)`

Integrity and key failures raise `cix.errors.Refused`; the precise reason (a subclass of
`EnvelopeVerificationError` with a stable `reason` code) is passed to `audit_hook` first.
Bad input raises a subclass of `cix.errors.InputError`. The format is in docs/format.md.
"""

from cix.envelope._fileio import mapped_input
from cix.envelope._open import (
    AuditHook,
    Known,
    ManifestCache,
    Opened,
    inspect,
    open_range,
    open_sealed,
    rewrap,
)
from cix.envelope._open import open_sealed as open
from cix.envelope._seal import DEFAULT_SEGMENT_SIZE, SealResult, seal
from cix.envelope.errors import (
    AssertionBindingMismatch,
    AssertionMissing,
    AssertionSignatureInvalid,
    ContainerError,
    EnvelopeVerificationError,
    KeyUnwrapFailed,
    LabelMismatch,
    ManifestError,
    NoKeyForRecipient,
    ObjectDigestMismatch,
    PayloadLengthMismatch,
    PolicyBindingMismatch,
    PolicyUuidMismatch,
    RootSignatureMismatch,
    SegmentDecryptFailed,
    SegmentHashMismatch,
    UnknownAlgorithm,
    UnknownSigner,
    UnlabelledObject,
)

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "AssertionBindingMismatch",
    "AssertionMissing",
    "AssertionSignatureInvalid",
    "AuditHook",
    "ContainerError",
    "EnvelopeVerificationError",
    "KeyUnwrapFailed",
    "Known",
    "LabelMismatch",
    "ManifestCache",
    "ManifestError",
    "NoKeyForRecipient",
    "ObjectDigestMismatch",
    "Opened",
    "PayloadLengthMismatch",
    "PolicyBindingMismatch",
    "PolicyUuidMismatch",
    "RootSignatureMismatch",
    "SealResult",
    "SegmentDecryptFailed",
    "SegmentHashMismatch",
    "UnknownAlgorithm",
    "UnknownSigner",
    "UnlabelledObject",
    "inspect",
    "mapped_input",
    "open",
    "open_range",
    "open_sealed",
    "rewrap",
    "seal",
]
