"""The house: the package's imports form layers without circles.

Parts: a test that fails on any import circle (function-level imports count), one that fails when
a lower layer imports a higher one, and one that fails on a function-level import without a
comment saying why it is lazy (an import moved into a function to step around a circle has none).
The layers are the ones docs/architecture.md draws.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "responder"
# Low to high. A module imports its own layer or lower ones. `*.cli` modules are commands: the top.
LAYERS = [
    {"errors", "model", "logsafe", "retry", "caching", "extras", "store_url", "store_connect", "store_health", "settings",
     "setting_values", "setting_names", "logformat", "logfiles", "migrations", "store", "parsing", "start_cost", "__init__"},
    {"clouds"},
    {"capacity", "sandbox"},
    {"replace"},
    {"targets", "protect", "odcr", "spot", "revert"},
    {"notify", "status", "metrics"},
    {"intake"},
    {"web", "wsgi", "cli_common", "cli_progress", "cli", "db_cli", "__main__"},
]
LAZY_REASON = re.compile(r"#.*\blazy\b", re.IGNORECASE)


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _target(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    return [base] + [f"{base}.{a.name}" for a in node.names]


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _target(node, module, path.name == "__init__.py"):
                    if name in MODULES and name != module:
                        edges[module].add(name)
    return edges


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
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
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    if parts[-1] == "cli":
        return len(LAYERS) - 1
    room = parts[1] if len(parts) > 1 else "__init__"
    return next(i for i, names in enumerate(LAYERS) if room in names)


def test_no_module_imports_itself_through_others():
    assert _circles(_edges()) == []


def test_every_room_is_on_a_floor():
    unplaced = sorted({m.split(".")[1] for m in MODULES if "." in m} - set().union(*LAYERS))
    assert unplaced == [], "add these to LAYERS (and to docs/architecture.md)"


def test_no_lower_layer_imports_a_higher_one():
    upward = [f"{a} → {b}" for a, targets in _edges().items() for b in targets if _layer(b) > _layer(a)]
    assert upward == []


def test_every_import_inside_a_function_says_why_it_is_lazy():
    silent = []
    for module, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for func in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    around = lines[max(0, node.lineno - 4):node.end_lineno]
                    if not any(LAZY_REASON.search(line) for line in around):
                        silent.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {ast.unparse(node)}")
    assert silent == []
