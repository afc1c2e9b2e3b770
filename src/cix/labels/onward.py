"""The label a releasing party gives another party's information it releases onward with the
originator's consent (rule 2), and that the third party decides on and marks.

CAN holds KOR's 군사Ⅱ급비밀 CPSP document under `kor-can` and releases it, with KOR's
consent, to DEU under `can-deu`. DEU holds no `kor-can`: it cannot decide on or mark a
label under it. The copy is held under `onward_label`: CAN's equivalent level under the
originator's agreement (SECRET), as CAN's own label under the agreement it releases under,
the programmes, caveats and purpose kept, and releasable to CAN and DEU only (the consent
extends releasability to that one party). The originator's label stays in the sealed
object, signed by the originator, and on the copy's record; the originator is named on the
copy (`originator_party`) and in its marking (`banner(..., originator=...)`).

Pure: no I/O, no clock. Both sides compute it the same way from the same two agreements.
"""

from __future__ import annotations

from cix.labels.errors import LabelError
from cix.labels.label import Label
from cix.labels.policies import LabelPolicy


def onward_label(
    label: Label,
    origin: LabelPolicy,
    onward: LabelPolicy,
    *,
    releasing_party: str,
    to_party: str,
) -> Label:
    """The label under `onward` (the releasing party's agreement with `to_party`) of
    `label` (another party's, under `origin`) released onward by `releasing_party`.

    Raises `OutOfScope` when the level has no equivalent in the releasing party's scheme
    under `origin` (never guessed), and a `LabelError` naming the rule when the releasing
    party is the originator or not a party of `origin`, `to_party` is not a party of
    `onward` (or already of `origin`: no consent is needed then), or a caveat or the
    purpose does not exist under `onward`.
    """
    origin.check_label(label)
    if label.originator == releasing_party:
        raise LabelError("releasing party: the originator releases its own information")
    if releasing_party not in origin.parties or releasing_party not in label.releasable_to:
        raise LabelError(f"releasing party: {releasing_party} does not hold it under {origin.id}")
    if to_party in origin.parties:
        raise LabelError(f"to: {to_party} is a party of {origin.id}, not a third party")
    if {releasing_party, to_party} - set(onward.parties):
        raise LabelError(f"{onward.id} is not between {releasing_party} and {to_party}")
    code = origin.equivalent(label.originator, label.classification, releasing_party)
    released = Label(
        policy=onward.id,
        originator=releasing_party,
        classification=code,
        # what the originator released to that is also of the onward agreement, and the
        # one party the consent names
        releasable_to=(label.releasable_to & set(onward.parties)) | {to_party},
        programmes=label.programmes,
        caveats=label.caveats,
        purpose=label.purpose,
        created=label.created,
    )
    onward.check_label(released)
    return released
