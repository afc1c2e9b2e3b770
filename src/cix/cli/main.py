"""The `cix` command: one Typer app, each area registering its own commands.

Errors are mapped to exit codes here and only here, the node's answers to the client
commands included (`cix.cli.client_http.NodeProblem` is raised in the same families):
2 for bad input, 1 for a refusal or a failed verification (one opaque message, except that
a node's refusal is shown as the node worded it), 3 when storage, a peer node or this
node's service failed; never a traceback for an error cix raised.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console

from cix import __version__
from cix.cli import (
    audit,
    client,
    client_consents,
    client_visits,
    decide,
    envelope,
    keys,
    labels,
    node,
    peers,
)
from cix.cli.client_http import PROFILE_ENV, NodeProblem
from cix.cli.help_text import quiet_flags
from cix.cli.terminal import printable
from cix.errors import (
    AccessDenied,
    CixError,
    InputError,
    PeerError,
    Refused,
    RequestRefused,
    ServiceError,
    StorageError,
    VerificationError,
)

quiet_flags()
app = typer.Typer(
    name="cix",
    help="cix: exchange and protect classified information under bilateral agreements.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the cix version and exit.",
        ),
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="The client profile to use (a node and a credential stored by "
            "`cix --profile NAME login`); also CIX_PROFILE.",
        ),
    ] = None,
) -> None:
    """cix: exchange and protect classified information under bilateral agreements."""
    if profile is not None:
        # The client commands read the profile from the environment (as CIX_PROFILE).
        os.environ[PROFILE_ENV] = profile


@app.command()
def version() -> None:
    """Print the cix version."""
    typer.echo(__version__)


for _area in (
    labels,
    decide,
    keys,
    envelope,
    audit,
    node,
    peers,
    client,
    client_consents,
    client_visits,
):
    _area.register(app)


def exit_code_of(error: CixError) -> int:
    """The exit status for `error`: 2 the caller's input, 1 a refusal, 3 anything else."""
    if isinstance(error, InputError):
        return 2
    if isinstance(error, VerificationError | AccessDenied | Refused):
        return 1
    if isinstance(error, StorageError | PeerError | ServiceError):
        return 3
    return 3


def message_of(error: CixError) -> str:
    """What the terminal shows for `error`: the opaque refusal for any refusal or failed
    verification of ours; a node's problem as it worded it; otherwise the message."""
    if isinstance(error, NodeProblem):
        kind = "refused" if exit_code_of(error) == 1 else "error"
        first, *rest = (printable(line) for line in error.lines())
        return "\n".join((f"{kind}: {first}", *rest))
    if isinstance(error, RequestRefused):
        return f"refused: {printable(error)}"
    if exit_code_of(error) == 1:
        return str(Refused())
    return f"error: {printable(error)}"


def run() -> None:
    """Entry point of the `cix` console script: run the app and map errors to exit codes."""
    stderr = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
    try:
        app()
    except CixError as exc:
        stderr.print(message_of(exc), markup=False)
        sys.exit(exit_code_of(exc))


if __name__ == "__main__":
    run()
