"""docs/cli.md is the CLI's own account of itself (issue 14): current, and every example in
it one the command it names would accept."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from cix.cli.examples import EXAMPLES
from cix.cli.reference import commands, page, root

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
ALL = {" ".join(path): command for path, command in commands(root())}


def test_docs_cli_md_is_generated_from_the_cli_and_current() -> None:
    assert DOC.read_text(encoding="utf-8") == page(), (
        "docs/cli.md is stale: run `python -m cix.cli.reference > docs/cli.md`"
    )


def test_every_command_has_an_example_and_no_example_is_of_a_command_gone() -> None:
    assert set(EXAMPLES) == set(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_each_example_uses_only_options_its_command_has_and_every_required_one(
    name: str,
) -> None:
    command = ALL[name]
    words = shlex.split(EXAMPLES[name])
    path = name.split()
    assert words[: len(path)] == path, f"{EXAMPLES[name]!r} is not an example of {name}"
    options = {o: p for p in command.params if p.param_type_name == "option" for o in p.opts}
    flags = {o for o, p in options.items() if getattr(p, "is_flag", False)}
    used: set[str] = set()
    positional = 0
    rest = iter(words[len(path) :])
    for word in rest:
        if word.startswith("-"):
            assert word in options, f"{name}: no option {word} (example: {EXAMPLES[name]})"
            used.add(options[word].name or "")
            if word not in flags:
                next(rest)  # its value
        else:
            positional += 1
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    assert positional <= len(arguments), f"{name}: too many arguments in its example"
    required = {p.name for p in command.params if p.required and p.param_type_name == "option"}
    assert required <= used, f"{name}: example misses {sorted(required - used)}"
    needed = sum(1 for p in arguments if p.required)
    assert positional >= needed, f"{name}: example misses an argument"
