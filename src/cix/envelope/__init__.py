"""Sealed objects: the OpenTDF-compatible streaming container. Pure: streams in, streams out.

Public API (what the node and the CLI call):

- `seal(src, dst, *, label_xml, label_json, recipients, signer, policy_uuid=None, …)
  -> SealResult` (`policy_uuid`: the policy's `uuid`, random when not given); `src` may
  be `mapped_input(file)`, a regular file mapped read-only and sealed without copying
- `open(src, dst, *, private_key, trusted_signers, audit_hook=None, allow_unlabelled=False,
  manifest_cache=None, expected_label=None, expected_policy_uuid=None,
  expected_manifest_sha256=None) -> Opened` (also named `open_sealed`); a `ManifestCache`
  skips re-verifying a manifest already verified (same bytes, same trusted signers);
  `expected_label` (label JSON), `expected_policy_uuid` and `expected_manifest_sha256`
  refuse, before the first plaintext byte, an object whose verified label
  (`LabelMismatch`), policy uuid (`PolicyUuidMismatch`) or manifest bytes
  (`ManifestDigestMismatch`; `Opened.manifest_sha256` gives them) are not the ones expected
- `open_range(src, dst, *, start, length, private_key, trusted_signers, …) -> Opened`
  (the same `expected_label` and `expected_policy_uuid`)
- `inspect(src) -> dict` (no key; nothing verified)
- `rewrap(src, dst, *, private_key, to, trusted_signers=(), drop_others=False, …)`

Integrity and key failures raise `cix.errors.Refused`; the precise reason (a subclass of
`EnvelopeVerificationError` with a stable `reason` code) is passed to `audit_hook` first.
Bad input raises a subclass of `cix.errors.InputError`. The format is in docs/format.md.
"""

from cix.envelope._open import (
    AuditHook,
    ManifestCache,
    Opened,
    inspect,
    open_range,
    open_sealed,
    rewrap,
)
from cix.envelope._open import open_sealed as open
from cix.envelope._seal import DEFAULT_SEGMENT_SIZE, SealResult, mapped_input, seal
from cix.envelope.errors import (
    AssertionBindingMismatch,
    AssertionMissing,
    AssertionSignatureInvalid,
    ContainerError,
    EnvelopeVerificationError,
    KeyUnwrapFailed,
    LabelMismatch,
    ManifestDigestMismatch,
    ManifestError,
    NoKeyForRecipient,
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
    "LabelMismatch",
    "ManifestCache",
    "ManifestDigestMismatch",
    "ManifestError",
    "NoKeyForRecipient",
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
