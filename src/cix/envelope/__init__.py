"""Sealed objects: the OpenTDF-compatible streaming container. Pure: streams in, streams out.

Public API (what the node and the CLI call):

- `seal(src, dst, *, label_xml, label_json, recipients, signer, policy_uuid=None, …)
  -> SealResult` (`policy_uuid`: the policy's `uuid`, random when not given); `src` may
  be `mapped_input(file)`, a regular file mapped read-only and sealed without copying
- `open(src, dst, *, private_key, trusted_signers, audit_hook=None,
  unsafe_allow_unlabelled=False, manifest_cache=None, expected_label=None,
  expected_policy_uuid=None, known=None) -> Opened`. `trusted_signers` maps a party
  ("KOR") to the keys trusted to sign its labels: a label is accepted only when a key of
  its originator party signed it (of the party that added it, for an alternative label).
  A `ManifestCache` skips re-verifying a manifest already verified (same bytes, same
  trusted signers); `expected_label` (label JSON) and `expected_policy_uuid` refuse, before
  the first plaintext byte, an object whose verified label or policy uuid is not the one
  expected; `known` (an earlier `Opened.known` of the same object) skips parsing its
  container again and refuses an object whose size or bytes outside the payload differ
  (the payload authenticates segment by segment as always)
- `open_range(src, dst, *, start, length, private_key, trusted_signers, …) -> Opened`
  (the same `expected_label` and `expected_policy_uuid`)
- `inspect(src) -> dict` (no key; nothing verified; names what is malformed)
- `rewrap(src, dst, *, private_key, to, trusted_signers, drop_others=False,
  recipient_parties=None, …)`: `recipient_parties` given, a party the verified label does
  not release to raises `NotReleasable` (an `AccessDenied`) before a byte is written
- `add_alternative_label(src, dst, *, private_key, trusted_signers, label_xml, label_json,
  signer, audit_hook=None, progress=None)`: a receiving party's equivalent marking of the
  label (rule 5), as a second assertion signed by that party (`signer`); the payload, key
  access and originator's label assertion are copied unchanged, an earlier alternative
  label of the same party replaced. `open`, `open_range` and `rewrap` verify every
  alternative label present (signed by a key trusted for the party it names, bound to the
  object, of the object's own originator label) and `Opened.alternative_labels` gives them
  (`VerifiedAlternativeLabel`); `expected_label` still compares the originator's label
- `relabel(src, dst, *, private_key, trusted_signers, label_xml, label_json, signer, …)
  -> LabelChange`: the originator's new label on its object (rule 3), payload and wrapped
  keys unchanged; the returned `LabelChange` (new policy and signed label assertion) is the
  one artefact every copy of the object installs:
  `install_label(src, dst, *, private_key, trusted_signers, change, …) -> label JSON`
  (verified: of this object, by its originator, a newer revision; docs/format.md §7b)

Any defect of the object raises `ObjectRefused` (a `cix.errors.Refused`): opaque to whoever
is shown it, its `reason` (a `RefusalReason`) and `detail` for the audit record, also given
to `audit_hook` first. The caller's own mistakes raise `cix.errors.InputError` (an unlabelled
object opened without `unsafe_allow_unlabelled`: `UnlabelledObject`). The format is in
docs/format.md.
"""

from cix.envelope._alternative import add_alternative_label
from cix.envelope._assertion import TrustedSigners, VerifiedAlternativeLabel
from cix.envelope._fileio import mapped_input
from cix.envelope._inspect import inspect
from cix.envelope._open import AuditHook, Known, ManifestCache, Opened, open
from cix.envelope._range import open_range
from cix.envelope._relabel import LabelChange, install_label, relabel
from cix.envelope._rewrap import rewrap
from cix.envelope._seal import DEFAULT_SEGMENT_SIZE, SealResult, seal
from cix.envelope.errors import NotReleasable, ObjectRefused, RefusalReason, UnlabelledObject

#: What users of the envelope call; tests/test_architecture.py holds it to this list.
__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "AuditHook",
    "Known",
    "LabelChange",
    "ManifestCache",
    "NotReleasable",
    "ObjectRefused",
    "Opened",
    "RefusalReason",
    "SealResult",
    "TrustedSigners",
    "UnlabelledObject",
    "VerifiedAlternativeLabel",
    "add_alternative_label",
    "inspect",
    "install_label",
    "mapped_input",
    "open",
    "open_range",
    "relabel",
    "rewrap",
    "seal",
]
