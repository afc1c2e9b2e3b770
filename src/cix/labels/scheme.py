"""National classification schemes: ordered levels with short codes and names per language."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cix.labels.countries import nationality
from cix.labels.errors import LabelError, UnknownLevel

PARTY_PATTERN = re.compile(r"[A-Z]{3}")
CODE_PATTERN = re.compile(r"[A-Z][A-Z0-9-]{0,15}")
LANGUAGE_PATTERN = re.compile(r"[a-z]{2}")
# Characters that separate banner segments or lists; a level name must not contain them,
# or a banner carrying it could not be parsed back.
_RESERVED_IN_NAMES = frozenset("/(),")


def fold(text: str) -> str:
    """Return the comparison form of a marking word: NFKC, case-folded, spaces collapsed.

    NFKC maps the Roman-numeral characters of Korean markings (`Ⅱ`, U+2161) to ASCII (`II`),
    so `군사II급비밀` typed on an ordinary keyboard names the same level as `군사Ⅱ급비밀`.
    """
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def check_party(code: object, where: str) -> str:
    """Return `code` if it is an ISO 3166-1 alpha-3 country code, else raise naming `where`."""
    return nationality(code, where)


@dataclass(frozen=True, slots=True)
class Level:
    """One classification level: a short code, its rank (higher is more sensitive) and names.

    `names` pairs a language code (`en`, `fr`, `ko`, `de`) with the level's marking in that
    language exactly as the agreement writes it; build it from a mapping with `level_of`.
    """

    code: str
    rank: int
    names: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not CODE_PATTERN.fullmatch(self.code):
            raise LabelError(
                f"level code {self.code!r} must be 1-16 capital letters, digits or '-',"
                " starting with a letter"
            )
        if isinstance(self.rank, bool) or not isinstance(self.rank, int):
            raise LabelError(f"level {self.code}: rank {self.rank!r} is not an integer")
        if not self.names:
            raise LabelError(f"level {self.code}: no names")
        if len({language for language, _ in self.names}) != len(self.names):
            raise LabelError(f"level {self.code}: a language is named twice")
        for language, name in self.names:
            if not LANGUAGE_PATTERN.fullmatch(language):
                raise LabelError(f"level {self.code}: {language!r} is not a language code")
            if not isinstance(name, str) or not name.strip() or name != name.strip():
                raise LabelError(f"level {self.code}: name {name!r} ({language}) is blank")
            if _RESERVED_IN_NAMES & set(name):
                raise LabelError(
                    f"level {self.code}: name {name!r} ({language}) contains one of / ( ) ,"
                )
        object.__setattr__(self, "names", tuple(sorted(self.names)))

    def name(self, language: str, fallback: str) -> str:
        """The marking in `language`, or in `fallback` (the scheme's own language) if none."""
        names = dict(self.names)
        found = names.get(language)
        return found if found is not None else names[fallback]

    def languages(self) -> frozenset[str]:
        """The languages this level has a name in."""
        return frozenset(language for language, _ in self.names)


def level_of(code: str, rank: int, names: Mapping[str, str]) -> Level:
    """Build and validate a `Level` from a mapping of language to name."""
    return Level(code=code, rank=rank, names=tuple(names.items()))


@dataclass(frozen=True, slots=True)
class Scheme:
    """A party's national classification scheme: its levels, lowest rank first.

    Codes, ranks and names (compared after `fold`) are unique within the scheme; every level
    has a name in the scheme's first language, which is the one its markings are written in.
    """

    party: str
    languages: tuple[str, ...]
    levels: tuple[Level, ...]
    _by_code: Mapping[str, Level] = field(init=False, repr=False, compare=False)
    _by_word: Mapping[str, Level] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_party(self.party, "scheme")
        where = f"scheme {self.party}"
        if not self.languages or len(set(self.languages)) != len(self.languages):
            raise LabelError(f"{where}: languages must be a non-empty list without repeats")
        for language in self.languages:
            if not isinstance(language, str) or not LANGUAGE_PATTERN.fullmatch(language):
                raise LabelError(f"{where}: {language!r} is not a language code (e.g. 'en')")
        if not self.levels:
            raise LabelError(f"{where}: no levels")
        by_code: dict[str, Level] = {}
        by_rank: dict[int, Level] = {}
        by_word: dict[str, Level] = {}
        for level in self.levels:
            if level.code in by_code:
                raise LabelError(f"{where}: duplicate level code {level.code!r}")
            if level.rank in by_rank:
                raise LabelError(
                    f"{where}: duplicate level rank {level.rank}"
                    f" ({by_rank[level.rank].code} and {level.code})"
                )
            if self.languages[0] not in level.languages():
                raise LabelError(
                    f"{where}: level {level.code} has no name in {self.languages[0]!r},"
                    " the scheme's marking language"
                )
            by_code[level.code] = level
            by_rank[level.rank] = level
            for word in (level.code, *(name for _, name in level.names)):
                other = by_word.get(fold(word))
                if other is not None and other is not level:
                    raise LabelError(f"{where}: {word!r} names both {other.code} and {level.code}")
                by_word[fold(word)] = level
        object.__setattr__(self, "levels", tuple(sorted(self.levels, key=lambda lv: lv.rank)))
        object.__setattr__(self, "_by_code", MappingProxyType(by_code))
        object.__setattr__(self, "_by_word", MappingProxyType(by_word))

    @property
    def language(self) -> str:
        """The language the scheme's own markings are written in."""
        return self.languages[0]

    def codes(self) -> tuple[str, ...]:
        """The level codes, lowest rank first."""
        return tuple(level.code for level in self.levels)

    def level(self, code: str) -> Level:
        """The level with this exact code; `UnknownLevel` if there is none."""
        found = self._by_code.get(code)
        if found is None:
            raise UnknownLevel(
                f"{code!r} is not a level code of {self.party} (known: {', '.join(self.codes())})"
            )
        return found

    def find(self, word: str) -> Level | None:
        """The level named by `word` (a code or a name in any language), or None."""
        return self._by_word.get(fold(word))

    def resolve(self, word: str) -> Level:
        """The level named by `word` (a code or a name in any language); `UnknownLevel` if none."""
        found = self.find(word)
        if found is None:
            names = ", ".join(
                f"{lv.code} ({lv.name(self.language, self.language)})" for lv in self.levels
            )
            raise UnknownLevel(f"{word!r} is not a level of {self.party} (known: {names})")
        return found
