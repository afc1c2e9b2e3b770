"""Banner lines and portion marks, in English and the national languages; parse and format.

Grammar (EBNF in docs/labels.md):

    marking  = banner | portion ;
    portion  = "(" , banner , ")" ;
    banner   = level , [ "//" , programmes ] , [ "//" , caveats ] , "//" , rel ,
               [ "//" , origin ] ;
    programmes = programme , { "/" , programme } ;
    caveats  = caveat , { "/" , caveat } ;
    rel      = rel-word , " " , party , { "," , [ " " ] , party } ;
    origin   = origin-word , " " , party ;

The level is a national name in any language of the party's scheme, or its short code
(portion marks use the code). A marking whose level belongs to a party other than the one
named in `origin` is the receiving party's equivalent marking (an alternative label).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cix.labels.build import make_label
from cix.labels.errors import (
    AmbiguousMarking,
    LabelError,
    LabelSyntaxError,
    UnknownLevel,
    UnknownParty,
)
from cix.labels.label import CAVEATS, PROGRAMME_PATTERN, AlternativeLabel, Label
from cix.labels.scheme import PARTY_PATTERN, Level, fold

if TYPE_CHECKING:
    from cix.labels.policies import LabelPolicy, PolicyRegistry


@dataclass(frozen=True, slots=True)
class MarkingWords:
    """The fixed words of markings in one language."""

    rel: str
    origin: str


WORDS: dict[str, MarkingWords] = {
    "en": MarkingWords(rel="REL TO", origin="ORIGINATOR"),
    "fr": MarkingWords(rel="COMMUNICABLE À", origin="ORIGINATEUR"),
    "ko": MarkingWords(rel="배포 허용", origin="생산국"),
    "de": MarkingWords(rel="FREIGABE AN", origin="HERKUNFT"),
}
"""Marking words per language; a parser accepts the words of every language."""

_MAX_MARKING = 2048  # a banner of the largest label the limits admit fits
_REL_WORDS = tuple(sorted({fold(w.rel) for w in WORDS.values()}, key=len, reverse=True))
_ORIGIN_WORDS = tuple(sorted({fold(w.origin) for w in WORDS.values()}, key=len, reverse=True))


def _words(language: str) -> MarkingWords:
    found = WORDS.get(language)
    if found is None:
        raise LabelError(
            f"language {language!r} has no markings (known: {', '.join(sorted(WORDS))})"
        )
    return found


def _level_word(level: Level, language: str, fallback: str, portion: bool) -> str:
    return level.code if portion else level.name(language, fallback)


def _ambiguous(word: str, party: str, agreement: LabelPolicy) -> bool:
    return any(
        other != party and agreement.scheme(other).find(word) is not None
        for other in agreement.parties
    )


def banner(
    label: Label | AlternativeLabel,
    agreement: LabelPolicy,
    language: str = "en",
    *,
    portion: bool = False,
    originator: str | None = None,
) -> str:
    """The banner line (or, with `portion`, the portion mark) of a label in `language`.

    For an alternative label the level is the receiving party's equivalent and the
    originator is always named, as the agreements require of the receiver's marking. For
    the originator's own label it is named only where the level's word alone would not
    tell which party's it is. Levels are written in `language` where the scheme has a name
    in it, else in the scheme's own language. `originator` names another originator than
    the label's: a third party's copy is held under the releasing party's onward label
    (`cix.labels.onward`), and its marking names the party whose information it is.
    """
    words = _words(language)
    if isinstance(label, AlternativeLabel):
        original, party, code = label.label, label.party, label.classification
    else:
        original, party, code = label, label.originator, label.classification
    agreement.check_label(original)
    scheme = agreement.scheme(party)
    level_word = _level_word(scheme.level(code), language, scheme.language, portion)
    segments = [level_word]
    if original.programmes:
        segments.append("/".join(sorted(original.programmes)))
    if original.caveats:
        segments.append("/".join(sorted(original.caveats)))
    segments.append(f"{words.rel} {', '.join(sorted(original.releasable_to))}")
    named = originator or original.originator
    if named != party or named != original.originator or _ambiguous(level_word, party, agreement):
        segments.append(f"{words.origin} {named}")
    text = "//".join(segments)
    return f"({text})" if portion else text


def portion_mark(
    label: Label | AlternativeLabel, agreement: LabelPolicy, language: str = "en"
) -> str:
    """The portion mark of a label, e.g. `(S//REL TO CAN, KOR)`."""
    return banner(label, agreement, language, portion=True)


# -- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parts:
    level: str
    programmes: frozenset[str]
    caveats: frozenset[str]
    releasable_to: frozenset[str]
    origin: str | None


def _after_word(segment: str, words: tuple[str, ...]) -> str | None:
    """The rest of `segment` if it starts with one of `words` and a space, else None."""
    folded = fold(segment)
    for word in words:
        if folded.startswith(word + " "):
            # fold() keeps the word count, so cut the same number of words off the original.
            return segment.split(None, len(word.split()))[-1].strip()
    return None


def _parties(text: str, where: str) -> frozenset[str]:
    items = [item.strip() for item in text.split(",")]
    for item in items:
        if not PARTY_PATTERN.fullmatch(item):
            raise LabelSyntaxError(f"{where}: {item!r} is not a party code (three capital letters)")
    if len(set(items)) != len(items):
        raise LabelSyntaxError(f"{where}: a party is named twice")
    return frozenset(items)


def _tokens(segment: str, where: str) -> list[str]:
    tokens = segment.split("/")
    for token in tokens:
        if not PROGRAMME_PATTERN.fullmatch(token):
            raise LabelSyntaxError(
                f"{where}: {token!r} is not a programme or caveat"
                " (capital letters, digits, '-' or '_')"
            )
    if len(set(tokens)) != len(tokens):
        raise LabelSyntaxError(f"{where}: a programme or caveat is named twice")
    return tokens


def _split(text: str) -> tuple[_Parts, bool]:
    if not isinstance(text, str):
        raise LabelSyntaxError(f"marking: expected text, got {type(text).__name__}")
    if len(text) > _MAX_MARKING:
        raise LabelSyntaxError(f"marking: longer than {_MAX_MARKING} characters")
    body = text.strip()
    if not body:
        raise LabelSyntaxError("marking: empty")
    portion = body.startswith("(") or body.endswith(")")
    if portion:
        if not (body.startswith("(") and body.endswith(")")) or len(body) < 2:
            raise LabelSyntaxError("portion mark: unbalanced parentheses")
        body = body[1:-1].strip()
    if "(" in body or ")" in body:
        raise LabelSyntaxError("marking: parentheses inside a marking")
    segments = [segment.strip() for segment in body.split("//")]
    for index, segment in enumerate(segments):
        if not segment:
            raise LabelSyntaxError(f"marking: empty segment {index + 1} (two '//' in a row?)")
    origin: str | None = None
    last = _after_word(segments[-1], _ORIGIN_WORDS)
    if last is not None and len(segments) > 1:
        if not PARTY_PATTERN.fullmatch(last):
            raise LabelSyntaxError(f"originator segment: {last!r} is not a party code")
        origin = last
        segments.pop()
    rel_text = _after_word(segments[-1], _REL_WORDS) if len(segments) > 1 else None
    if rel_text is None:
        for index, segment in enumerate(segments):
            if _after_word(segment, _REL_WORDS) is not None:
                raise LabelSyntaxError(
                    f"marking: the releasability segment (segment {index + 1}) must come last,"
                    " followed only by the originator"
                )
            if _after_word(segment, _ORIGIN_WORDS) is not None:
                raise LabelSyntaxError(
                    f"marking: the originator segment (segment {index + 1}) must come last"
                )
        raise LabelSyntaxError(
            "marking: no releasability segment (e.g. '//REL TO CAN, KOR') after the level"
        )
    releasable = _parties(rel_text, "releasability segment")
    segments.pop()
    level, middle = segments[0], segments[1:]
    if len(middle) > 2:
        raise LabelSyntaxError(
            f"marking: {len(middle)} segments between the level and the releasability;"
            " at most two (programmes, then caveats)"
        )
    for index, segment in enumerate(middle, start=2):
        if _after_word(segment, _ORIGIN_WORDS) is not None:
            raise LabelSyntaxError(
                f"marking: the originator segment (segment {index}) must come last"
            )
        if _after_word(segment, _REL_WORDS) is not None:
            raise LabelSyntaxError(
                f"marking: the releasability segment (segment {index}) must come last,"
                " followed only by the originator"
            )
    programmes: list[str] = []
    caveats: list[str] = []
    for index, segment in enumerate(middle, start=2):
        tokens = _tokens(segment, f"segment {index}")
        known = [token in CAVEATS for token in tokens]
        if all(known) and not caveats:
            caveats = tokens
        elif not any(known) and not programmes and not caveats:
            programmes = tokens
        elif any(known) and not all(known):
            raise LabelSyntaxError(
                f"segment {index}: mixes programmes and caveats ({segment!r});"
                " programmes come first, caveats in a segment of their own"
            )
        elif caveats:
            raise LabelSyntaxError(f"segment {index}: programmes must come before caveats")
        else:
            unknown = ", ".join(t for t in tokens if t not in CAVEATS)
            raise LabelSyntaxError(
                f"segment {index}: unknown caveat {unknown} (known: {', '.join(sorted(CAVEATS))})"
            )
    return (
        _Parts(level, frozenset(programmes), frozenset(caveats), releasable, origin),
        portion,
    )


def _find_level(
    parts: _Parts, candidates: Sequence[str], registry: PolicyRegistry
) -> tuple[str, Level, str]:
    """(marking party, level, originator) for the level word of a marking."""
    if parts.origin is not None and parts.origin not in candidates:
        raise UnknownParty(
            f"originator segment: {parts.origin} is not a party here"
            f" (parties: {', '.join(candidates)})"
        )
    matches = [
        (party, level)
        for party in candidates
        if (level := registry.scheme(party).find(parts.level)) is not None
    ]
    if not matches:
        raise UnknownLevel(
            f"level {parts.level!r} is not a level of {', '.join(candidates)}"
            " (neither a national name nor a short code)"
        )
    if parts.origin is not None:
        own = [m for m in matches if m[0] == parts.origin]
        if own:
            return own[0][0], own[0][1], parts.origin
    if len(matches) > 1:
        raise AmbiguousMarking(
            f"level {parts.level!r} names a level of {' and '.join(p for p, _ in matches)};"
            f" name the originator (e.g. '//{WORDS['en'].origin} {matches[0][0]}')"
        )
    party, level = matches[0]
    return party, level, parts.origin or party


def parse_marking(
    text: str,
    *,
    created: datetime,
    registry: PolicyRegistry,
    agreement: LabelPolicy | None = None,
    purpose: str | None = None,
) -> Label | AlternativeLabel:
    """Parse a banner or portion mark into the label it marks (an alternative label if the
    level is the receiving party's equivalent).

    A marking carries neither its creation time nor its purpose: the caller supplies them.
    With `agreement` the label is under it; without, the policy is the originator's national
    one when the label is releasable to the originator alone, else the one agreement whose
    parties include every party the marking names. Errors name the problem.
    """
    parts, _ = _split(text)
    reg = registry
    if agreement is not None:
        reg.get(agreement.id)
    unknown = sorted(parts.releasable_to - reg.parties)
    if unknown:
        raise UnknownParty(
            f"releasability segment: {', '.join(unknown)} is not a party to any known agreement"
            f" (parties: {', '.join(sorted(reg.parties))})"
        )
    candidates = agreement.parties if agreement is not None else tuple(sorted(reg.parties))
    party, level, originator = _find_level(parts, candidates, reg)
    policy = agreement or _infer_policy(reg, originator, party, parts.releasable_to)
    code = level.code
    if party != originator:
        if originator not in policy.parties:
            raise UnknownParty(f"originator segment: {originator} is not a party to {policy.id}")
        code = policy.equivalent(party, level.code, originator)
    label = make_label(
        policy,
        originator=originator,
        classification=code,
        releasable_to=parts.releasable_to,
        programmes=parts.programmes,
        caveats=parts.caveats,
        purpose=purpose,
        created=created,
        registry=reg,
    )
    if party != originator:
        return AlternativeLabel(label=label, party=party, classification=level.code)
    return label


def _infer_policy(
    registry: PolicyRegistry, originator: str, party: str, releasable: frozenset[str]
) -> LabelPolicy:
    if releasable == {originator} and party == originator:
        return registry.national_policy(originator)
    named = releasable | {originator, party}
    covering = registry.covering(named)
    if len(covering) != 1:
        found = ", ".join(a.id for a in covering) or "none"
        raise LabelError(
            f"marking: cannot tell the agreement for parties {', '.join(sorted(named))}"
            f" (covering: {found}); name the agreement"
        )
    return covering[0]
