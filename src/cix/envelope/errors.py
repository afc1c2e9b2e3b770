"""The envelope's errors: one refusal for the object, one input error for the caller.

Callers of `open`/`open_range`/`rewrap` see any defect of the object itself (a broken
container or manifest, a key that does not unwrap, a forged or misplaced label, a changed
byte) as `ObjectRefused`: an opaque `cix.errors.Refused` whose message says nothing, and
whose `reason` (a `RefusalReason`) and `detail` are data for the audit record only. The
caller's own mistakes (a negative range, no recipient, an unlabelled object opened without
`unsafe_allow_unlabelled`, a source that cannot seek) raise `cix.errors.InputError`
naming what was wrong.

`ContainerError`, `ManifestError` and `UnknownAlgorithm` are raised while parsing; `inspect`
(which verifies nothing and is how a person finds out what is wrong with a file) lets them
through, an open turns them into `ObjectRefused(RefusalReason.MALFORMED_OBJECT)`.
"""

from __future__ import annotations

import enum

from cix.errors import InputError, Refused, RequestRefused


class RefusalReason(enum.StrEnum):
    """Why an object was refused: a stable code for the audit record."""

    MALFORMED_OBJECT = "malformed-object"
    """The container or the manifest does not parse (any ZIP or JSON defect)."""
    NO_KEY_FOR_RECIPIENT = "no-key-for-recipient"
    KEY_UNWRAP_FAILED = "key-unwrap-failed"
    POLICY_BINDING_MISMATCH = "policy-binding-mismatch"
    ROOT_SIGNATURE_MISMATCH = "root-signature-mismatch"
    PAYLOAD_LENGTH_MISMATCH = "payload-length-mismatch"
    SEGMENT_HASH_MISMATCH = "segment-hash-mismatch"
    """A segment's GMAC tag differs from its manifest hash (reordered, replaced, duplicated)."""
    SEGMENT_DECRYPT_FAILED = "segment-decrypt-failed"
    ASSERTION_MISSING = "assertion-missing"
    """The policy carries a cix label, or the object an alternative label, but the signed
    label assertion is gone."""
    UNKNOWN_SIGNER = "unknown-signer"
    SIGNER_NOT_ORIGINATOR = "signer-not-originator"
    """The label is signed by a trusted key of another party than the label's originator
    (or, for an alternative label, than the party that added it)."""
    ASSERTION_SIGNATURE_INVALID = "assertion-signature-invalid"
    ASSERTION_BINDING_MISMATCH = "assertion-binding-mismatch"
    """The signed claims do not match this object (label or manifest swapped or changed),
    or an alternative label is not of this object's originator label."""
    LABEL_MISMATCH = "label-mismatch"
    """The verified label is not the one the caller expected (`expected_label`)."""
    POLICY_UUID_MISMATCH = "policy-uuid-mismatch"
    """The policy uuid is not the one the caller expected (`expected_policy_uuid`)."""
    OBJECT_DIGEST_MISMATCH = "object-digest-mismatch"
    """The size or the bytes outside the payload data are not the ones `known` gave."""
    LABEL_CHANGE_STALE = "label-change-stale"
    """A classification change (`install_label`) whose policy revision is not newer than the
    object's: already installed, or an older change replayed (docs/format.md §7b)."""


class ObjectRefused(Refused):
    """The one refusal of an object: opaque to whoever is shown it, `reason` and `detail`
    (never key material or plaintext) for the audit record."""

    def __init__(self, reason: RefusalReason, detail: str = "") -> None:
        super().__init__()
        self.reason = reason
        self.detail = detail or reason.value


class ContainerError(InputError):
    """The ZIP container is malformed: not a ZIP, missing or unexpected members, bad names."""


class ManifestError(InputError):
    """The manifest is not JSON, not schema-valid, or a field has the wrong form."""


class UnknownAlgorithm(InputError):
    """The manifest names an algorithm this implementation does not support."""


class UnlabelledObject(InputError):
    """The object carries no cix label; opening it needs `unsafe_allow_unlabelled=True`."""


class NotReleasable(RequestRefused):
    """A rewrap asked for a recipient of a party the verified label does not release to.

    The caller's own request (it holds a key that opens the object), so the message names
    the parties: the label's `releasable_to` and the ones it does not cover.
    """
