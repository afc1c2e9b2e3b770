"""The `cix` entry point: help works and errors map to exit codes without tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cix.errors import InputError, Refused, VerificationError


def test_cix_help_lists_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cix.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_refused_carries_no_reason() -> None:
    assert "could not be verified" in str(Refused())
    with pytest.raises(TypeError):
        Refused("leaked reason")  # type: ignore[call-arg]


def test_input_error_is_a_value_error() -> None:
    assert issubclass(InputError, ValueError)
    assert not issubclass(VerificationError, InputError)


def test_cix_version_flag_prints_the_version() -> None:
    from cix import __version__

    for argv in (["--version"], ["version"]):
        result = subprocess.run(
            [sys.executable, "-m", "cix.cli.main", *argv],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (result.returncode, result.stdout.strip()) == (0, __version__), argv


def test_cix_offers_shell_completion() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cix.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "--install-completion" in result.stdout


def test_help_shows_no_bool_type_beside_flags() -> None:
    """Issue 14 #11: `--yes <bool>` read as if the flag took a value."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "cix.cli.main", "docs", "destroy", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**__import__("os").environ, "COLUMNS": "120"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--yes" in done.stdout
    assert "<bool>" not in done.stdout
    assert "<str>" in done.stdout  # an option that takes a value still says of what kind
