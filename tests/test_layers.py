"""The import graph keeps the layering that README.md and docs/architecture.md draw: a package imports only packages of
its own or a lower layer. Read from the source (every ``import stratlab.x`` / ``from stratlab.x import``); ``LAYERS``
below is the table of docs/architecture.md, kept by hand beside it."""

from __future__ import annotations

import ast
from pathlib import Path

import stratlab

PACKAGE = Path(stratlab.__file__).parent

# Lowest first; the same numbers as the layer list in docs/architecture.md.
LAYERS: dict[str, int] = {
    "errors": 0, "settings": 0, "atomic_io": 0, "processes": 0, "logging_setup": 0, "lazy_exports": 0,
    "data": 1,
    "indicators": 2, "metrics": 2, "selection": 2,
    "strategies": 3, "engine": 3,
    "report": 4,
    "optimize": 5, "portfolio": 5,
    "live": 6, "research": 6,
    "cli": 7, "ui": 7, "__main__": 8,
}  # fmt: skip


def _imports(path: Path) -> set[str]:
    """The stratlab top-level packages a module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found.update(name.split(".")[1] for name in names if name.startswith("stratlab."))
    return found


def _package_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def test_every_package_has_a_layer() -> None:
    modules = {_package_of(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert modules <= set(LAYERS), f"give these a layer here and in docs/architecture.md: {modules - set(LAYERS)}"


def test_no_package_imports_a_higher_layer() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        owner = _package_of(path)
        if owner == "__init__":
            continue  # stratlab/__init__.py re-exports the notebook names from the layers below it, lazily
        for imported in _imports(path) - {owner}:
            if LAYERS[imported] > LAYERS[owner]:
                upward.append(f"{path.relative_to(PACKAGE)} ({owner}, layer {LAYERS[owner]}) imports {imported} "
                              f"(layer {LAYERS[imported]})")  # fmt: skip
    assert not upward, "\n".join(upward)


def test_strategies_and_engine_do_not_know_each_other() -> None:
    """The engine takes signals and knows no strategy; strategies make signals and know no engine."""
    for a, b in (("engine", "strategies"), ("strategies", "engine")):
        offenders = [p for p in (PACKAGE / a).rglob("*.py") if b in _imports(p)]
        assert not offenders, f"{a} imports {b}: {offenders}"
