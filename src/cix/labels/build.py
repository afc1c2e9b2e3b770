"""Building labels under a policy, alternative labels, dominance and the canonical JSON form."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from cix.labels.errors import LabelSyntaxError, UnknownParty
from cix.labels.label import AlternativeLabel, Label, parse_time

if TYPE_CHECKING:
    from cix.labels.policies import LabelPolicy, PolicyRegistry

_JSON_REQUIRED = frozenset({"policy", "originator", "classification", "releasable_to", "created"})
_JSON_OPTIONAL = frozenset({"programmes", "caveats", "purpose"})
MAX_JSON = 8192
"""The longest JSON label text read; the largest label the limits admit is under 2 KiB."""


def make_label(
    agreement: LabelPolicy,
    *,
    originator: str,
    classification: str,
    releasable_to: Iterable[str],
    created: datetime,
    programmes: Iterable[str] = (),
    caveats: Iterable[str] = (),
    purpose: str | None = None,
    registry: PolicyRegistry,
) -> Label:
    """Build a label under `agreement`, checked against it and against `registry`.

    `classification` may be the level's code or any of its national names (`군사Ⅱ급비밀`,
    `SECRET`, `VS-VERTRAULICH`). Raises a `LabelError` subclass naming the problem.
    """
    level = agreement.scheme(originator).resolve(classification)
    label = Label(
        policy=agreement.id,
        originator=originator,
        classification=level.code,
        releasable_to=frozenset(releasable_to),
        programmes=frozenset(programmes),
        caveats=frozenset(caveats),
        purpose=purpose,
        created=created,
    )
    agreement.check_label(label)
    unknown = sorted(label.releasable_to - registry.parties - set(agreement.parties))
    if unknown:
        raise UnknownParty(
            f"releasable_to: {', '.join(unknown)} is not a party to any known agreement"
        )
    return label


def alternative_label(label: Label, agreement: LabelPolicy, party: str) -> AlternativeLabel:
    """The receiving `party`'s equivalent marking of `label` under `agreement`.

    Raises `OutOfScope` if the level has no equivalent in `party`'s scheme.
    """
    agreement.check_label(label)
    code = agreement.equivalent(label.originator, label.classification, party)
    return AlternativeLabel(label=label, party=party, classification=code)


def dominates(a: Label, b: Label, agreement: LabelPolicy) -> bool:
    """Bell–LaPadula dominance: `a` keeps every restriction of `b` (no write down, rule 11).

    Both are held under the same policy; the level of `a` is at or above that of `b` (across
    schemes through the agreement's equivalence); `a` carries every programme and caveat of
    `b`; `a` is releasable to no party `b` is not; and if `b` may be used only for a purpose,
    `a` is restricted to that same purpose (a label with no purpose is dominated by one with
    any purpose, never the other way). Two labels of different purposes are dominated by no
    common label. Creation time does not take part. This is the one definition:
    `cix.policy`'s create rule delegates to it.
    """
    return (
        a.policy == b.policy
        and (b.purpose is None or a.purpose == b.purpose)
        and agreement.level_dominates(
            a.originator, a.classification, b.originator, b.classification
        )
        and a.programmes >= b.programmes
        and a.caveats >= b.caveats
        and a.releasable_to <= b.releasable_to
    )


def canonical_json(label: Label) -> bytes:
    """The canonical serialisation of `label.to_json()`: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        label.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def _string_list(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise LabelSyntaxError(f"JSON label: {key!r} must be a list of strings")
    if len(set(value)) != len(value):
        raise LabelSyntaxError(f"JSON label: {key!r} names a value twice")
    return value


def label_from_json(obj: object, registry: PolicyRegistry) -> Label:
    """Read a label from its JSON form (a parsed object), checked against its policy.

    Unknown keys, missing keys and wrong types are refused with the key named;
    `classification` may be a level code or a national name.
    """
    if not isinstance(obj, Mapping):
        raise LabelSyntaxError(f"JSON label: expected an object, got {type(obj).__name__}")
    for key in sorted(_JSON_REQUIRED - set(obj)):
        raise LabelSyntaxError(f"JSON label: missing key {key!r}")
    for key in sorted(set(obj) - _JSON_REQUIRED - _JSON_OPTIONAL):
        raise LabelSyntaxError(f"JSON label: unknown key {key!r}")
    for key in ("policy", "originator", "classification"):
        if not isinstance(obj[key], str):
            raise LabelSyntaxError(f"JSON label: {key!r} must be a string")
    purpose = obj.get("purpose")
    if purpose is not None and not isinstance(purpose, str):
        raise LabelSyntaxError("JSON label: 'purpose' must be a string or null")
    agreement = registry.get(obj["policy"])
    return make_label(
        agreement,
        originator=obj["originator"],
        classification=obj["classification"],
        releasable_to=_string_list(obj["releasable_to"], "releasable_to"),
        programmes=_string_list(obj.get("programmes", []), "programmes"),
        caveats=_string_list(obj.get("caveats", []), "caveats"),
        purpose=purpose,
        created=parse_time(obj["created"]),
        registry=registry,
    )


def label_from_json_text(text: str | bytes, registry: PolicyRegistry) -> Label:
    """Parse JSON text into a label; malformed JSON is a `LabelSyntaxError` with the position.

    Text over `MAX_JSON` characters (or bytes) is refused before it is parsed.
    """
    if len(text) > MAX_JSON:
        raise LabelSyntaxError(f"JSON label: longer than {MAX_JSON} characters")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelSyntaxError(f"JSON label: not valid JSON: {exc}") from None
    except RecursionError:
        raise LabelSyntaxError("JSON label: nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise LabelSyntaxError(f"JSON label: not UTF-8: {exc}") from None
    return label_from_json(obj, registry)


def alternative_to_json(alternative: AlternativeLabel) -> dict[str, object]:
    """The JSON form of an alternative label: the originator's label and the equivalent marking."""
    return {
        "classification": alternative.classification,
        "label": alternative.label.to_json(),
        "party": alternative.party,
    }
