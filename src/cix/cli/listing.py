"""How a command prints a list: a table, JSON or CSV, never cutting an id or a marking.

A person copies an id out of a table and pastes it into the next command, and reads the
whole marking to know how to handle what is listed: a table that ends them with `…` makes
both wrong. So columns marked `whole` are never cut or folded. In a terminal the rows are a
table when the whole columns fit its width (the other columns wrap), and a block per row
otherwise; on a pipe or into a file they are plain tab-separated lines with a header, one per
row, for `grep` and `cut` (`--format csv` or `--format json` for programs). Sizes are
human-readable in tables and exact in JSON and CSV.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer

from cix.cli.terminal import print_json, printable
from cix.errors import InputError


class Format(StrEnum):
    """The forms a list is printed in (`--format`)."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


FormatOption = Annotated[
    Format | None,
    typer.Option(
        "--format",
        case_sensitive=False,
        help="table (the default; plain tab-separated lines when not a terminal), json or csv.",
    ),
]


def chosen(fmt: Format | None, as_json: bool) -> Format:
    """The format asked for by `--format` and `--json` (its older spelling); InputError if
    they disagree."""
    if as_json and fmt not in (None, Format.JSON):
        raise InputError(f"--json and --format {fmt}: give one of them")
    return Format.JSON if as_json else (fmt or Format.TABLE)


@dataclass(frozen=True)
class Column:
    """One column of a list: its heading, how to read its value from an item, and how to show
    it. `whole` columns (ids, markings) are never cut; `size` values are byte counts."""

    name: str
    key: str | Callable[[Mapping[str, Any]], object]
    whole: bool = False
    size: bool = False

    def raw(self, item: Mapping[str, Any]) -> object:
        """The item's value in this column, as the node gave it."""
        return self.key(item) if callable(self.key) else item.get(self.key)

    def text(self, item: Mapping[str, Any], *, exact: bool) -> str:
        """The value as shown: exact (CSV) or for a person (tables, plain lines)."""
        value = self.raw(item)
        if value is None:
            return ""
        if self.size and not exact and isinstance(value, int):
            return human_size(value)
        if isinstance(value, list | tuple):
            value = ", ".join(map(str, value))
        return printable(value)


def human_size(count: int) -> str:
    """`count` bytes for a person: `512 B`, `4.9 KiB`, `1.2 GiB` (binary units)."""
    if count < 1024:
        return f"{count} B"
    size = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def show_rows(
    items: Iterable[Mapping[str, Any]],
    columns: tuple[Column, ...],
    *,
    fmt: Format,
    title: str,
    raw: object = None,
) -> None:
    """Print `items` in `fmt`: JSON prints `raw` when given (the node's whole answer, e.g. a
    page with its cursor), else the items; a table goes to a terminal as a table or blocks,
    elsewhere as plain lines."""
    rows = list(items)
    if fmt is Format.JSON:
        print_json(rows if raw is None else raw)
    elif fmt is Format.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([c.name for c in columns])
        for item in rows:
            writer.writerow([c.text(item, exact=True) for c in columns])
    elif not sys.stdout.isatty():
        typer.echo("\t".join(c.name for c in columns))
        for item in rows:
            typer.echo("\t".join(c.text(item, exact=False) for c in columns))
    else:
        _terminal(rows, columns, title)


# The narrowest a wrapping column may become before a table gives way to blocks.
_NARROWEST = 10


def _terminal(rows: list[Mapping[str, Any]], columns: tuple[Column, ...], title: str) -> None:
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table

    out = Console(markup=False, highlight=False)
    cells = [[c.text(item, exact=False) for c in columns] for item in rows]
    widths = [
        max([cell_len(c.name), *(cell_len(row[i]) for row in cells)]) for i, c in enumerate(columns)
    ]
    # Each column costs its padding and a rule (3 cells), the table one more.
    needed = 1 + sum(
        3 + (width if c.whole else min(width, _NARROWEST))
        for c, width in zip(columns, widths, strict=True)
    )
    if needed <= out.width:
        table = Table(title=title, title_justify="left")
        for c, width in zip(columns, widths, strict=True):
            if c.whole:
                table.add_column(c.name, no_wrap=True, min_width=width)
            else:
                table.add_column(c.name, overflow="fold")
        for row in cells:
            table.add_row(*row)
        out.print(table)
        return
    # Too narrow for the whole columns side by side: one block per row, a field a line.
    out.print(title)
    label = max(cell_len(c.name) for c in columns)
    for row in cells:
        out.print()
        for c, value in zip(columns, row, strict=True):
            # A whole value is left to the terminal to wrap: no line break is inserted in it,
            # so it copies as one piece.
            out.print(f"{c.name:<{label}}  {value}", soft_wrap=c.whole)
