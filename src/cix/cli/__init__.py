"""The `cix` command line (Typer + Rich)."""
