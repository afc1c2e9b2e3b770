"""cix label …: check, translate and render classification labels."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `cix` app (none are built yet)."""
