"""The layering rules of docs/design.md, checked on the source itself.

The pure cores (labels, agreements, policy, envelope, and audit outside its storage
backends) must not import a database driver, a web framework or an upper layer of cix, and
must not read the clock: time is always a parameter. `cryptography` is used only inside
envelope, keys and audit. Every area of `cix` has a row in `LAYERS` naming the areas it may
import (a new area must be given one); only the faces know HTTP servers or the terminal;
and no two modules import each other, however indirectly.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cix"
PURE_CORES = ("labels", "agreements", "policy", "envelope", "audit", "federation")
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


# Each area of cix (a package or a top-level module) and the areas it may import. The faces
# (api, web, cli, demo) sit on the node; serving is the one place that joins node and api.
_BASE = frozenset({"errors", "lru", "filelock"})
_CORES = frozenset({"labels", "agreements", "policy", "keys", "envelope", "audit", "federation"})
LAYERS: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "lru": frozenset(),
    "filelock": frozenset(),
    "settings": frozenset({"errors"}),
    "labels": _BASE,
    "agreements": _BASE | {"labels"},
    "policy": _BASE | {"labels", "agreements"},
    "keys": _BASE,
    "envelope": _BASE | {"keys", "labels"},
    "audit": _BASE | {"keys"},
    "federation": _BASE | {"keys", "audit", "labels", "agreements", "envelope"},
    # the HTTP client of federation: how a node reaches its peers (serving wires it in)
    "courier": _BASE | {"federation", "keys"},
    "store": _BASE | {"settings"},
    "node": _BASE | _CORES | {"settings", "store"},
    "api": _BASE | _CORES | {"settings", "node"},
    "web": _BASE | _CORES | {"settings", "node", "api"},
    "serving": _BASE | {"settings", "store", "node", "api", "web", "courier"},
    # the Python SDK: the REST API from outside, knowing nothing of the node's insides
    "client": _BASE,
    "cli": _BASE | _CORES | {"settings", "node", "serving", "client"},
    "demo_cast": _BASE | {"node"},
    "demo_exchange": _BASE | {"cli", "demo_cast", "node"},
    "demo": _BASE | {"cli", "demo_cast", "demo_exchange", "node"},
}
# Libraries that only some areas may know: web servers and templates, the terminal, an
# HTTP client (a node talks HTTP only through its faces and, later, its federation peer
# client), and the database (behind store, node and the audit's storage backends).
ONLY_IN = {
    "fastapi": ("api", "web"),
    "starlette": ("api", "web"),
    "uvicorn": ("serving",),
    "jinja2": ("web",),
    "typer": ("cli",),
    "rich": ("cli", "demo"),
    "httpx": ("cli", "client", "demo", "courier"),
    "sqlalchemy": ("store", "node", "serving"),
    "alembic": ("store",),
    "psycopg": ("store", "audit/storage"),
    "sqlite3": ("store", "audit/storage"),
}


def _area(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module → the modules of `src`'s package it imports, at any depth of the file.

    `from package import name` is an edge to `package.name` when that is a module (as
    import-linter counts it), else to `package` itself.
    """
    paths = [p for p in sorted(src.rglob("*.py")) if "__pycache__" not in p.parts]
    modules = {_module_name_in(src, p) for p in paths}

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for path in paths:
        name = _module_name_in(src, path)
        deps = {known(target) for target in _import_targets(src, path, modules)}
        graph[name] = deps - {name, ""}
    return graph


def _module_name_in(src: Path, path: Path) -> str:
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_targets(src: Path, path: Path, modules: set[str]) -> Iterator[str]:
    name = _module_name_in(src, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                yield submodule if submodule in modules else module


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


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


@pytest.mark.parametrize("path", sorted((SRC / "labels").rglob("*.py")), ids=_rel)
def test_labels_import_no_agreements(path: Path) -> None:
    # labels is the vocabulary; a label is read under a policy the caller passes in
    # (cix.labels.policies), never one the core finds itself, not even for types.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [
        name
        for name in _imported_names(tree)
        if name == "cix.agreements" or name.startswith("cix.agreements.")
    ]
    assert not bad, f"{_rel(path)} imports {bad}"


def _all_modules() -> list[Path]:
    return [p for p in sorted(SRC.rglob("*.py")) if "__pycache__" not in p.parts]


def test_every_area_has_a_layer() -> None:
    areas = {_area(p) for p in _all_modules()} - {"__init__", "__main__"}
    missing = sorted(areas - set(LAYERS))
    assert not missing, f"areas without a row in LAYERS (say what they may import): {missing}"


@pytest.mark.parametrize("path", _all_modules(), ids=_rel)
def test_area_imports_only_the_layers_below_it(path: Path) -> None:
    area = _area(path)
    if area not in LAYERS:
        return  # reported by test_every_area_has_a_layer
    allowed = LAYERS[area] | {area}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = sorted(
        {
            name
            for name in _imported_names(tree)
            if name.startswith("cix.") and name.split(".")[1] not in allowed
        }
    )
    assert not bad, f"{_rel(path)} ({area}) imports {bad}; {area} may import {sorted(allowed)}"


@pytest.mark.parametrize("path", _all_modules(), ids=_rel)
def test_web_terminal_http_and_database_libraries_stay_in_their_layers(path: Path) -> None:
    where = "/".join(path.relative_to(SRC).parts[:2])
    bad = []
    for name in _imported_names(ast.parse(path.read_text(encoding="utf-8"))):
        places = ONLY_IN.get(name.split(".")[0])
        if places is not None and not any(
            where == place or where.startswith(place + "/") or _area(path) == place
            for place in places
        ):
            bad.append(name)
    assert not bad, f"{_rel(path)} imports {sorted(set(bad))} outside {ONLY_IN}"


def test_no_import_cycle_between_modules() -> None:
    cycles = import_cycles(import_graph(SRC))
    assert not cycles, f"modules importing each other (directly or through others): {cycles}"


def test_the_layer_checks_see_a_cycle_and_a_layer_breach(tmp_path: Path) -> None:
    # Guard against checks that silently see nothing: a two-module cycle through a
    # function-level import, and a lower layer importing an upper one.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg import b\n")
    (package / "b.py").write_text("from pkg.a import f\n")
    (package / "c.py").write_text("from . import a\n")
    graph = import_graph(package)
    assert graph["pkg.c"] == {"pkg.a"}
    assert import_cycles(graph) == [["pkg.a", "pkg.b"]]
    node_module = ast.parse("from cix.api.app import create_app\n")
    assert "cix.api.app" in list(_imported_names(node_module))
    assert ["cix", "api", "app"][1] not in LAYERS["node"]


#: What users of `cix.envelope` call: the operations, their results, the cache, the mapped
#: input, one refusal family (its reasons an enum), the one caller-at-fault input error and
#: the rewrap a caller asked for to a party the label does not release to.
ENVELOPE_SURFACE = {
    "DEFAULT_SEGMENT_SIZE",
    "AuditHook",
    "Known",
    "LabelChange",
    "ManifestCache",
    "NotReleasable",
    "ObjectRefused",
    "Opened",
    "RefusalReason",
    "SealResult",
    "TrustedSigners",
    "UnlabelledObject",
    "VerifiedAlternativeLabel",
    "add_alternative_label",
    "inspect",
    "install_label",
    "mapped_input",
    "open",
    "open_range",
    "relabel",
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


MAX_MODULE_LINES = 600


@pytest.mark.parametrize("path", _all_modules(), ids=_rel)
def test_module_reads_in_one_sitting(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, (
        f"{_rel(path)} has {lines} lines; split it by idea (at most {MAX_MODULE_LINES})"
    )
