"""Every `cix` command line in README.md and docs/ names a real command with options it has
and every option it requires (issue 14: the docs' examples must not go stale). Each shell
block is split into its `cix` invocations (continuations, `;`, `&&`, `|`, comments and a
trailing `&` handled) and each is parsed against the CLI's own command tree."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from cix.cli.reference import root

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Global options of `cix` itself, before the command.
GLOBAL = {"--profile": True, "--version": False}


def invocations() -> list[tuple[str, list[str]]]:
    """(where, words) of every `cix …` in a ```sh block of the docs."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S):
            joined = block.replace("\\\n", " ")
            for line in joined.splitlines():
                lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
                lexer.whitespace_split = True
                lexer.commenters = "#"
                try:
                    words = list(lexer)
                except ValueError:
                    continue  # not shell (a placeholder with an unpaired quote)
                command: list[str] = []
                for word in [*words, ";"]:
                    if word in (";", "&&", "||", "|", "&"):
                        if command and command[0] == "cix":
                            found.append((f"{doc.name}: {line.strip()[:80]}", command))
                        command = []
                    else:
                        command.append(word)
    return found


ALL = invocations()


def test_the_docs_show_cix_commands() -> None:
    assert len(ALL) > 50


@pytest.mark.parametrize(("where", "words"), ALL, ids=[w for w, _ in ALL])
def test_each_documented_command_exists_with_the_options_it_uses(
    where: str, words: list[str]
) -> None:
    rest = words[1:]
    while rest and rest[0] in GLOBAL:
        rest = rest[2:] if GLOBAL[rest[0]] else rest[1:]
    command = root()
    path = ["cix"]
    while getattr(command, "commands", None) and rest and rest[0] in command.commands:
        command = command.commands[rest[0]]
        path.append(rest.pop(0))
    if getattr(command, "commands", None):
        assert not rest or rest[0].startswith("-"), f"{where}: no command {rest[0]!r}"
        return  # a group named alone (its help)
    options = {o: p for p in command.params if p.param_type_name == "option" for o in p.opts}
    options |= {o: p for p in command.params if p.param_type_name == "option"
                for o in getattr(p, "secondary_opts", ())}  # fmt: skip
    used: set[str] = set()
    words_left = iter(rest)
    for word in words_left:
        if word in ("--help", "-h"):
            return
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            assert name in options, f"{where}: {' '.join(path)} has no option {name}"
            param = options[name]
            used.add(param.name or "")
            if "=" not in word and not getattr(param, "is_flag", False):
                next(words_left, None)
    required = {p.name for p in command.params if p.required and p.param_type_name == "option"}
    missing = required - used
    assert not missing, f"{where}: {' '.join(path)} needs {sorted(missing)}"
