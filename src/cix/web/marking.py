"""Classification banners and portion marks of pages, in the node's national scheme.

A page's banner shows the highest classification of what the page shows, as a level of the
node's own party's scheme (a document of another party is counted at its equivalent here),
worded in the session's language, in the conventional colour of its place in the scheme:
the top level orange, the next red, the next blue, anything lower and a page with nothing
classified green. A level that has no equivalent here counts as the top (fail closed: a
banner never shows less than the page holds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cix.agreements import Agreement, bundled_registry
from cix.errors import CixError
from cix.labels import Label, banner, label_from_json, portion_mark

#: The words of an unclassified page, per marking language.
UNCLASSIFIED = {"en": "UNCLASSIFIED", "fr": "NON CLASSIFIÉ", "ko": "평문", "de": "OFFEN"}
#: Colour classes (see static/cix.css) by place from the top of the scheme.
_COLOURS = ("top-secret", "secret", "confidential")


@dataclass(frozen=True, slots=True)
class PageMarking:
    """The banner of a page: its words, colour class, and rank (0: nothing classified)."""

    text: str
    colour: str
    rank: int


class Marker:
    """Marks pages of one node: its party, its national scheme and the policies it holds."""

    def __init__(self, party: str, agreements: Mapping[str, Agreement]) -> None:
        self.party = party
        self.agreements = dict(agreements)
        national = next(a for a in self.agreements.values() if a.kind == "national")
        self.scheme = national.scheme(party)
        self.languages = self.scheme.languages
        self._top = max(level.rank for level in self.scheme.levels)

    def language(self, wanted: str | None) -> str:
        """`wanted` if the scheme is written in it, else the scheme's own language."""
        return wanted if wanted in self.languages else self.scheme.language

    def label(self, label_json: Mapping[str, Any]) -> Label:
        """A stored label (a document's JSON form) as a `Label`."""
        return label_from_json(dict(label_json), bundled_registry())

    def rank(self, label: Label) -> int:
        """The rank, in this node's scheme, of a label's level (the top where unknown)."""
        try:
            agreement = self.agreements[label.policy]
            code = label.classification
            if label.originator != self.party:
                code = agreement.equivalent(label.originator, code, self.party)
            return self.scheme.level(code).rank
        except (CixError, KeyError):
            return self._top

    def page(self, labels: Iterable[Label], language: str) -> PageMarking:
        """The banner of a page showing everything labelled `labels`."""
        rank = max((self.rank(label) for label in labels), default=0)
        if rank == 0:
            return PageMarking(UNCLASSIFIED.get(language, UNCLASSIFIED["en"]), "unclassified", 0)
        level = next(lv for lv in self.scheme.levels if lv.rank == rank)
        place = self._top - rank
        colour = _COLOURS[place] if place < len(_COLOURS) else "unclassified"
        return PageMarking(level.name(language, self.scheme.language), colour, rank)

    def top(self, language: str) -> PageMarking:
        """The banner of a page whose content carries no label of its own (the audit log
        names documents of every level): the top level of the scheme, failing closed."""
        level = next(lv for lv in self.scheme.levels if lv.rank == self._top)
        return PageMarking(level.name(language, self.scheme.language), _COLOURS[0], self._top)

    def banner(self, label: Label, language: str) -> str:
        """A label's banner line in `language`."""
        return banner(label, self.agreements[label.policy], language)

    def portion(self, label: Label, language: str) -> str:
        """A label's portion mark in `language`, e.g. `(S//REL TO CAN, KOR)`."""
        return portion_mark(label, self.agreements[label.policy], language)
