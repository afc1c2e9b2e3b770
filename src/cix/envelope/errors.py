"""The envelope's exception families.

Callers of `seal`/`open`/`rewrap` see bad input as an `InputError` subclass naming what was
wrong, and any integrity or key failure as the one opaque `cix.errors.Refused`. The precise
reason, one `EnvelopeVerificationError` subclass with a stable `reason` code, goes to the
caller's `audit_hook` before `Refused` is raised.
"""

from __future__ import annotations

from typing import ClassVar

from cix.errors import InputError, VerificationError


class ContainerError(InputError):
    """The ZIP container is malformed: not a ZIP, missing or unexpected members, bad names."""


class ManifestError(InputError):
    """The manifest is not JSON, not schema-valid, or a field has the wrong form."""


class UnknownAlgorithm(InputError):
    """The manifest names an algorithm this implementation does not support."""


class UnlabelledObject(InputError):
    """The object carries no cix label; opening it needs `allow_unlabelled=True`."""


class EnvelopeVerificationError(VerificationError):
    """Base of the precise reasons an object was refused (for the audit record only)."""

    reason: ClassVar[str] = "verification-failed"


class NoKeyForRecipient(EnvelopeVerificationError):
    """No key access object is addressed to the given private key's kid."""

    reason = "no-key-for-recipient"


class KeyUnwrapFailed(EnvelopeVerificationError):
    """The key access object addressed to us did not unwrap (wrong key or tampered object)."""

    reason = "key-unwrap-failed"


class PolicyBindingMismatch(EnvelopeVerificationError):
    """The policy binding HMAC does not match the policy under the unwrapped key."""

    reason = "policy-binding-mismatch"


class RootSignatureMismatch(EnvelopeVerificationError):
    """The root signature HMAC does not match the list of segment hashes."""

    reason = "root-signature-mismatch"


class SegmentHashMismatch(EnvelopeVerificationError):
    """A segment's GMAC tag differs from its manifest hash (reordered, replaced, duplicated)."""

    reason = "segment-hash-mismatch"


class SegmentDecryptFailed(EnvelopeVerificationError):
    """A segment failed AES-GCM authentication."""

    reason = "segment-decrypt-failed"


class PayloadLengthMismatch(EnvelopeVerificationError):
    """The payload is longer or shorter than its segments (truncated or appended)."""

    reason = "payload-length-mismatch"


class AssertionMissing(EnvelopeVerificationError):
    """The policy carries a cix label but the label assertion is gone."""

    reason = "assertion-missing"


class UnknownSigner(EnvelopeVerificationError):
    """The label assertion is signed by a key that is not among the trusted signers."""

    reason = "unknown-signer"


class AssertionSignatureInvalid(EnvelopeVerificationError):
    """The label assertion's JWS does not verify, or is malformed."""

    reason = "assertion-signature-invalid"


class AssertionBindingMismatch(EnvelopeVerificationError):
    """The signed claims do not match this object (label or manifest swapped or changed)."""

    reason = "assertion-binding-mismatch"


class LabelMismatch(EnvelopeVerificationError):
    """The object's verified label is not the label the caller expected (`expected_label`):
    an object swapped for another one with a different label."""

    reason = "label-mismatch"


class PolicyUuidMismatch(EnvelopeVerificationError):
    """The object's policy uuid is not the one the caller expected (`expected_policy_uuid`):
    an object swapped for another one (cix writes its document's id there)."""

    reason = "policy-uuid-mismatch"


class ObjectDigestMismatch(EnvelopeVerificationError):
    """The object's size, or the SHA-256 of its bytes outside the payload data (ZIP headers,
    manifest, central directory, end record), is not the one the caller knew (`known`):
    another object than the one the caller opened before, or that one changed."""

    reason = "object-digest-mismatch"
