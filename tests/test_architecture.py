"""The layering rules of DESIGN.md, checked on the source itself.

The pure cores (labels, agreements, policy, envelope, and audit outside its storage
backends) must not import a database driver, a web framework or an upper layer of cix, and
must not read the clock: time is always a parameter. `cryptography` is used only inside
envelope, keys and audit.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cix"
PURE_CORES = ("labels", "agreements", "policy", "envelope", "audit")
FORBIDDEN_IN_PURE = (
    "sqlalchemy",
    "alembic",
    "psycopg",
    "sqlite3",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "jinja2",
    "typer",
    "rich",
    "cix.store",
    "cix.node",
    "cix.api",
    "cix.web",
    "cix.cli",
)
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time")}
CRYPTOGRAPHY_ALLOWED = ("envelope", "keys", "audit")


def _pure_modules() -> Iterator[Path]:
    for core in PURE_CORES:
        for path in sorted((SRC / core).rglob("*.py")):
            if core == "audit" and "storage" in path.relative_to(SRC / core).parts:
                continue  # the storage backends are the impure edge of audit, by design
            yield path


def _imported_names(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _clock_calls(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and (node.func.value.id, node.func.attr) in CLOCK_CALLS
        ):
            yield f"{node.func.value.id}.{node.func.attr}() at line {node.lineno}"


def _rel(path: Path) -> str:
    return str(path.relative_to(SRC.parent))


@pytest.mark.parametrize("path", list(_pure_modules()), ids=_rel)
def test_pure_core_imports_no_database_web_or_upper_layer(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [
        name
        for name in _imported_names(tree)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_PURE)
    ]
    assert not bad, f"{_rel(path)} imports {bad}"


@pytest.mark.parametrize("path", list(_pure_modules()), ids=_rel)
def test_pure_core_does_not_read_the_clock(path: Path) -> None:
    calls = list(_clock_calls(ast.parse(path.read_text(encoding="utf-8"))))
    assert not calls, f"{_rel(path)} reads the clock: {calls}; take `now` as a parameter"


def test_cryptography_only_in_envelope_keys_and_audit() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        area = path.relative_to(SRC).parts[0]
        if area in CRYPTOGRAPHY_ALLOWED:
            continue
        names = _imported_names(ast.parse(path.read_text(encoding="utf-8")))
        offenders += [f"{_rel(path)}: {n}" for n in names if n.split(".")[0] == "cryptography"]
    assert not offenders, f"cryptography imported outside envelope/keys/audit: {offenders}"


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    # Guard against a checker that silently sees nothing.
    tree = ast.parse("import sqlalchemy\nfrom datetime import datetime\nx = datetime.now()\n")
    assert "sqlalchemy" in list(_imported_names(tree))
    assert list(_clock_calls(tree)) == ["datetime.now() at line 3"]


#: What users of `cix.envelope` call: the operations, their results, the cache, the mapped
#: input, one refusal family (its reasons an enum) and the one caller-at-fault input error.
ENVELOPE_SURFACE = {
    "DEFAULT_SEGMENT_SIZE",
    "AuditHook",
    "Known",
    "ManifestCache",
    "ObjectRefused",
    "Opened",
    "RefusalReason",
    "SealResult",
    "TrustedSigners",
    "UnlabelledObject",
    "inspect",
    "mapped_input",
    "open",
    "open_range",
    "rewrap",
    "seal",
}


def test_envelope_exports_exactly_its_narrow_surface() -> None:
    # Issue 11 #6: 34 names were exported, 15 refusal classes "for the audit record only"
    # and `open` twice (`open_sealed`).
    from cix import envelope

    assert set(envelope.__all__) == ENVELOPE_SURFACE
    assert len(envelope.__all__) == len(ENVELOPE_SURFACE)
    assert not hasattr(envelope, "open_sealed")
