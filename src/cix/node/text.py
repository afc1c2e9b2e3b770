"""Text a person types into the node: names, titles, reasons, searches.

Such text is stored, searched and shown on terminals and pages, so it may not hold control
or format characters (NUL, ESC, CR, U+202E: Unicode categories Cc and Cf) nor the line and
paragraph separators (U+2028, U+2029); multi-line text (a justification, an incident's
description) may hold line feeds and tabs. PostgreSQL cannot store NUL in text at all: a
NUL must be a 400 naming the field, never a database error.
"""

from __future__ import annotations

import unicodedata

from pydantic import AfterValidator

_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp"})
_LINE_BREAKS = frozenset("\n\t")


def has_control(text: str, *, multiline: bool = False) -> bool:
    """Whether `text` holds a character a line (or, with `multiline`, a text) may not."""
    allowed = _LINE_BREAKS if multiline else frozenset()
    return any(unicodedata.category(c) in _REFUSED and c not in allowed for c in text)


def _line(text: str) -> str:
    if has_control(text):
        raise ValueError("must not contain control characters")
    return text


def _multiline(text: str) -> str:
    if has_control(text, multiline=True):
        raise ValueError("must not contain control characters other than line feed and tab")
    return text


PlainLine = AfterValidator(_line)
"""Pydantic check for one line of text (names, titles, reasons, searches)."""
PlainText = AfterValidator(_multiline)
"""Pydantic check for text that may span lines (justifications, descriptions)."""
