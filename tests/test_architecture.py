"""The shape of the code, checked: layers that run one way, SQL only in stores, rows read by name, small modules.

The layers, lowest first (a module may import its own package and any lower layer, never a higher one):

    foundation   ai_service.{vocabulary, errors, config, validation, endpoints, textnorm, taxonomy, logs, metrics}
    storage      db
    core         alerts, llm, queue, auth  <  knowledge  <  retrieval, policy  <  triage  <  resolution  <  feedback
                 <  incidents  <  evaluation
    service      ai_service.service (runtime, workers)
    entry        ai_service.{api, web} < ai_service.cli < ai_service.main

The README's architecture picture draws the same thing.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

#: Rank of each top-level unit; an import must not point at a higher rank (same rank: same unit only).
LAYERS: dict[str, int] = {
    "ai_service.vocabulary": 0,
    "ai_service.errors": 0,
    "ai_service.config": 1,
    "ai_service.validation": 1,
    "ai_service.endpoints": 1,
    "ai_service.textnorm": 1,
    "ai_service.taxonomy": 1,
    "ai_service.logs": 1,
    "ai_service.metrics": 1,
    "db": 2,
    "ai_service.alerts": 3,
    "ai_service.llm": 3,
    "ai_service.queue": 3,
    "ai_service.auth": 3,
    "ai_service.knowledge": 4,
    "ai_service.retrieval": 5,
    "ai_service.policy": 5,
    "ai_service.triage": 6,
    "ai_service.resolution": 7,
    "ai_service.feedback": 8,
    "ai_service.incidents": 9,
    "ai_service.evaluation": 10,
    "ai_service.service": 11,
    "ai_service.web": 12,
    "ai_service.api": 13,
    "ai_service.cli": 14,
    "ai_service.main": 15,
}
MAX_MODULE_LINES = 700
SOURCES = sorted([*REPO_ROOT.glob("ai_service/**/*.py"), *REPO_ROOT.glob("db/**/*.py")])


def _unit(module: str) -> str | None:
    """The layer unit a dotted module name belongs to (None for third-party modules)."""
    parts = module.split(".")
    if parts[0] == "db":
        return "db"
    if parts[0] != "ai_service" or len(parts) < 2:
        return None
    unit = f"ai_service.{parts[1]}"
    if unit not in LAYERS:
        raise AssertionError(f"{unit} has no layer: add it to LAYERS (and to the README's picture)")
    return unit


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(tree: ast.Module, module: str) -> list[tuple[ast.stmt, str]]:
    """(statement, imported module) of every import of the file, relative imports resolved."""
    found: list[tuple[ast.stmt, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            found.append((node, base))
    return found


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """ids of the statements inside ``if TYPE_CHECKING:`` blocks (imports for annotations only)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def test_imports_run_down_the_layers_and_none_hides_in_a_function() -> None:
    upward, hidden = [], []
    for path in SOURCES:
        module = _module_name(path)
        own = _unit(module)
        if own is None:  # the package's own empty __init__
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {id(node) for node in tree.body} | _type_checking_blocks(tree)
        for node, imported in _imports(tree, module):
            target = _unit(imported)
            if target is None or target == own:
                continue
            where = f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {imported}"
            if LAYERS[target] >= LAYERS[own]:
                upward.append(f"{where} (layer {LAYERS[target]} from layer {LAYERS[own]})")
            if id(node) not in top_level:
                hidden.append(where)
    assert not upward, "imports against the layers:\n" + "\n".join(upward)
    assert not hidden, "imports of nocai's own modules inside functions:\n" + "\n".join(hidden)


def test_no_package_cycles() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SOURCES:
        module = _module_name(path)
        own = _unit(module)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for _, imported in _imports(tree, module):
            target = _unit(imported)
            if target and own and target != own:
                edges[own].add(target)
    state: dict[str, int] = {}

    def visit(unit: str, trail: list[str]) -> None:
        state[unit] = 1
        for nxt in sorted(edges[unit]):
            if state.get(nxt) == 1:
                raise AssertionError("package cycle: " + " -> ".join([*trail, unit, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, unit])
        state[unit] = 2

    for unit in sorted(edges):
        if unit not in state:
            visit(unit, [])


_SQL_START = re.compile(
    r"^\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|WITH\s+\w+\s+AS\s|CREATE\s|ALTER\s|DROP\s)"
)


def _is_store(path: Path) -> bool:
    relative = path.relative_to(REPO_ROOT)
    return relative.parts[0] == "db" or path.name == "store.py" or path.name.endswith("_store.py")


def test_sql_lives_in_stores_and_db_only() -> None:
    """SQL text and ``.execute()`` only in ``store.py`` (or ``<part>_store.py`` where one domain's SQL is split)
    and ``db/``."""
    found = []
    for path in SOURCES:
        if _is_store(path):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO_ROOT)}:{getattr(node, 'lineno', '?')}"
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and _SQL_START.match(node.value)
            ):
                found.append(f"{where}: SQL text {node.value[:60]!r}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("execute", "executemany")
            ):
                found.append(f"{where}: .{node.func.attr}() outside a store")
    assert not found, "SQL outside store.py modules and db/:\n" + "\n".join(found)


_POSITIONAL_ROW = re.compile(r"\b(?:row|rows|r|rec|record|one)\[\d+\]|fetchone\(\)\[|fetchall\(\)\[\d")


def test_rows_are_read_by_name() -> None:
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in SOURCES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _POSITIONAL_ROW.search(line)
    ]
    assert not found, "rows read by position (use class_row / dict_row):\n" + "\n".join(found)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{lines} lines: split it by responsibility (limit {MAX_MODULE_LINES})"


def test_every_domain_package_is_placed() -> None:
    packages = {f"ai_service.{p.name}" for p in (REPO_ROOT / "ai_service").iterdir() if (p / "__init__.py").exists()}
    modules = {f"ai_service.{p.stem}" for p in (REPO_ROOT / "ai_service").glob("*.py") if p.stem != "__init__"}
    missing = sorted((packages | modules) - set(LAYERS))
    assert not missing, f"not in LAYERS: {', '.join(missing)}"
