"""docs/labels.md documents every agreement-file key and every language's marking words."""

from __future__ import annotations

from pathlib import Path

from cix.agreements.loading import _TOP_KEYS
from cix.labels import WORDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "labels.md"


def test_every_agreement_key_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [key for key in sorted(_TOP_KEYS) if f"| `{key}` |" not in text]
    assert missing == []


def test_every_marking_word_is_in_the_grammar() -> None:
    text = DOC.read_text(encoding="utf-8")
    for language, words in WORDS.items():
        assert f"| {language} | `{words.rel}` | `{words.origin}` |" in text
        assert f'"{words.rel}"' in text
        assert f'"{words.origin}"' in text
