"""The shape of the code, held: no private name crosses a module, no import cycle, faces reach the engine narrowly.

Each test reads the sources as text (``ast``) or the import graph (grimp, as the import contracts do),
so a change that breaks the shape fails here with the file and line to look at.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("riskcore", "dashboard", "api", "pages")
FACES = {"cli": ("riskcore/cli",), "api": ("api",), "dashboard": ("dashboard", "pages")}
MAX_ENGINE_MODULES_PER_FACE = 6
MAX_LAZY_IMPORTS = 10


def _sources() -> list[Path]:
    return sorted(p for top in FIRST_PARTY for p in (ROOT / top).rglob("*.py"))


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _target(node: ast.ImportFrom, path: Path) -> str:
    if node.level == 0:
        return node.module or ""
    base = _module(path).split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(path: Path) -> list[tuple[ast.stmt, list[str], bool]]:
    """Every first-party import of a file: the statement, the modules it names, whether it sits in a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[ast.stmt, list[str], bool]] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom):
                target = _target(child, path)
                names = [f"{target}.{a.name}" for a in child.names] if target in FIRST_PARTY else [target]
                if target.split(".")[0] in FIRST_PARTY:
                    found.append((child, names, in_function))
            elif isinstance(child, ast.Import):
                names = [a.name for a in child.names if a.name.split(".")[0] in FIRST_PARTY]
                if names:
                    found.append((child, names, in_function))
            walk(child, inner)

    walk(tree, False)
    return found


def test_no_private_name_is_imported_from_another_module():
    crossing = [f"{p.relative_to(ROOT)}:{node.lineno} imports {alias.name}"
                for p in _sources() for node, _, _ in _imports(p) if isinstance(node, ast.ImportFrom)
                for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not crossing, "\n".join(crossing)


def test_no_import_cycle_counting_type_checking_imports():
    graph = grimp.build_graph("riskcore", "dashboard", "api", exclude_type_checking_imports=False)
    modules = {m for m in graph.modules if m.split(".")[0] in FIRST_PARTY}
    cycles = []
    for m in sorted(modules):
        for imported in graph.find_modules_directly_imported_by(m):
            if imported in modules and imported != m and graph.chain_exists(imported=m, importer=imported):
                cycles.append(f"{m} -> {imported} -> … -> {m}")
    assert not cycles, "\n".join(cycles[:20])


@pytest.mark.parametrize("face", sorted(FACES))
def test_each_face_reaches_the_engine_through_a_few_modules(face):
    modules: set[str] = set()
    for folder in FACES[face]:
        for path in (ROOT / folder).rglob("*.py"):
            for _, names, _ in _imports(path):
                for name in names:
                    if not name.startswith("riskcore") or name.startswith("riskcore.cli"):
                        continue
                    # ``from riskcore import Workbench`` names the package; ``from riskcore import access`` a module
                    top_level_name = name.count(".") == 1 and name.split(".")[1][:1].isupper()
                    modules.add("riskcore" if top_level_name else name)
    assert len(modules) <= MAX_ENGINE_MODULES_PER_FACE, sorted(modules)


def test_imports_inside_functions_are_few_and_say_why():
    lazy = [(p, node) for p in _sources() for node, _, in_function in _imports(p) if in_function]
    where = [f"{p.relative_to(ROOT)}:{node.lineno}" for p, node in lazy]
    assert len(lazy) <= MAX_LAZY_IMPORTS, "\n".join(where)
    lines = {p: p.read_text(encoding="utf-8").splitlines() for p, _ in lazy}
    silent = [f"{p.relative_to(ROOT)}:{node.lineno}" for p, node in lazy if "#" not in lines[p][node.lineno - 1]]
    assert not silent, "a lazy import says why on its line:\n" + "\n".join(silent)
