"""The `cix` command: one Typer app, each area registering its own commands.

Errors are mapped to exit codes here and only here: 2 for bad input, 1 for a refusal or a
failed verification (one opaque message), never a traceback for an error cix raised.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from cix import __version__
from cix.cli import audit, client, decide, envelope, keys, labels, node
from cix.errors import (
    AccessDenied,
    CixError,
    InputError,
    PeerError,
    Refused,
    StorageError,
    VerificationError,
)

app = typer.Typer(
    name="cix",
    help="cix: exchange and protect classified information under bilateral agreements.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the cix version."""
    typer.echo(__version__)


for _area in (labels, decide, keys, envelope, audit, node, client):
    _area.register(app)


def run() -> None:
    """Entry point of the `cix` console script: run the app and map errors to exit codes."""
    stderr = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        app()
    except InputError as exc:
        stderr.print(f"error: {exc}", markup=False)
        sys.exit(2)
    except (VerificationError, AccessDenied, Refused):
        stderr.print(str(Refused()), markup=False)
        sys.exit(1)
    except (StorageError, PeerError) as exc:
        stderr.print(f"error: {exc}", markup=False)
        sys.exit(3)
    except CixError as exc:
        stderr.print(f"error: {exc}", markup=False)
        sys.exit(3)


if __name__ == "__main__":
    run()
