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
    CR, LF, U+202E) written as a visible escape, so that showing it cannot drive the
    terminal."""
    shown = []
    for char in str(text):
        if _is_control(char):
            code = ord(char)
            shown.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            shown.append(char)
    return "".join(shown)


def print_json(value: Any) -> None:
    """Print `value` as indented JSON on stdout, every control or format character as a
    JSON escape (JSON itself escapes only U+0000-U+001F; C1 controls such as U+009B, CSI,
    also drive terminals)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    typer.echo("".join(_json_escape(c) if c != "\n" and _is_control(c) else c for c in text))


def _is_control(char: str) -> bool:
    return unicodedata.category(char).startswith("C")


def _json_escape(char: str) -> str:
    # json.dumps with ensure_ascii writes exactly JSON's \\uXXXX form, surrogate pairs included.
    return json.dumps(char)[1:-1]
