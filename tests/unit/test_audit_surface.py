"""The audit trail's public surface: private modules behind riskcore.serving.audit and its checked __all__."""

from __future__ import annotations

import ast
from pathlib import Path

import riskcore.serving.audit as audit

PACKAGE = Path(audit.__file__).parent
ROOT = PACKAGE.parents[2]


def _isort_key(name: str):
    return (not name.isupper(), not name[0].isupper(), name)


def test_all_is_sorted_and_is_every_public_name_of_the_package():
    assert audit.__all__ == sorted(audit.__all__, key=_isort_key)
    assert set(audit.__all__) == {name for name in vars(audit) if not name.startswith("_")}


def test_every_module_of_the_package_is_private():
    modules = [p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert modules and all(m.startswith("_") for m in modules), modules


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []


def test_no_module_of_the_package_imports_a_private_name_of_another():
    for path in PACKAGE.glob("*.py"):
        for module, names in _imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            assert not private, f"{path.name} imports {private} from {module}"


def test_the_product_imports_the_audit_trail_from_the_package_only():
    for folder in ("riskcore", "api", "dashboard", "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            if PACKAGE in path.parents:
                continue
            for module, _ in _imports(path):
                assert not module.startswith("riskcore.serving.audit."), f"{path.relative_to(ROOT)} imports {module}"
