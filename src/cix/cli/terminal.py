"""What the command line prints: consoles, JSON, and text from elsewhere made safe to show.

A title, a file name or a node's message may hold control characters (NUL, ESC, CR/LF) that
would move the cursor, rewrite earlier lines or change the terminal's state: `printable`
escapes them before any command shows such text.
"""

from __future__ import annotations

import json
import unicodedata
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def consoles() -> tuple[Console, Console]:
    """(stdout, stderr) Rich consoles with markup and highlighting off: what they show
    (titles, names, a node's messages) is data we did not write, and `[link=…]` in a
    title must stay text."""
    from rich.console import Console

    return Console(markup=False, highlight=False, soft_wrap=True), Console(
        stderr=True, markup=False, highlight=False, soft_wrap=True
    )


def printable(text: object) -> str:
    """`text` with every control or format character (Unicode category C*, e.g. NUL, ESC,
    CR, LF, U+202E) and line or paragraph separator (U+2028, U+2029) written as a visible
    escape, so that showing it cannot drive the terminal."""
    shown = []
    for char in str(text):
        if _is_control(char):
            code = ord(char)
            shown.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            shown.append(char)
    return "".join(shown)


def print_json(value: Any) -> None:
    """Print `value` as indented JSON on stdout, escaped as `json_text` does."""
    typer.echo(json_text(value, sort_keys=True))


def json_text(value: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """`value` as JSON text with every control or format character as a JSON escape (JSON
    itself escapes only U+0000-U+001F; C1 controls such as U+009B, CSI, also drive
    terminals), so it is safe to print whatever the value came from."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=sort_keys)
    return "".join(_json_escape(c) if c != "\n" and _is_control(c) else c for c in text)


def escaped_json_line(raw: str) -> str:
    """A line of JSON text (e.g. an audit entry's body) with its controls escaped."""
    return "".join(_json_escape(c) if _is_control(c) else c for c in raw)


def _is_control(char: str) -> bool:
    # Controls and format characters (C*), and the line and paragraph separators (Zl, Zp),
    # which some terminals and viewers break lines at.
    category = unicodedata.category(char)
    return category.startswith("C") or category in ("Zl", "Zp")


def _json_escape(char: str) -> str:
    # json.dumps with ensure_ascii writes exactly JSON's \\uXXXX form, surrogate pairs included.
    return json.dumps(char)[1:-1]
