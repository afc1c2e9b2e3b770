"""Help without type noise: a flag's help row shows no `<bool>`.

Typer (0.29) writes each option's Python type beside it in the help table — `--yes <bool>`,
`--json <bool>` — which for a flag says nothing a reader needs (a flag takes no value) and
reads as if it took one. `quiet_flags()` leaves a flag's type column empty and every other
option's as Typer shows it. It wraps one documented hook of Typer's options
(`display_type_rich`) and does nothing if a later Typer no longer has it.
"""

from __future__ import annotations

from typing import Any


def quiet_flags() -> None:
    """Show no type for flags in `--help` (once per process; idempotent)."""
    try:
        from typer.core import TyperOption
    except ImportError:  # pragma: no cover - a Typer without it shows its own help
        return
    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "_cix_quiet", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False):
            return None
        result: str | None = shown(self, ctx)
        return result

    display_type_rich._cix_quiet = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
