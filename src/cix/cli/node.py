"""cix init / serve / login / token / docs / registry: the national node."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `cix` app (none are built yet)."""
