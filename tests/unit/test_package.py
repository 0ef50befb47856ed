"""The public surface and the engine/UI boundary."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import riskcore


def _isort_key(name: str):
    return (not name.isupper(), not name[0].isupper(), name)


def test_all_is_sorted_and_complete():
    assert riskcore.__all__ == sorted(riskcore.__all__, key=_isort_key)
    assert set(riskcore.__all__) == set(riskcore._EXPORTS)
    for name in riskcore.__all__:
        assert getattr(riskcore, name) is not None


def test_engine_never_imports_ui_libraries():
    code = (
        "import importlib, pkgutil, sys, riskcore\n"
        "for m in pkgutil.iter_modules(riskcore.__path__):\n"
        "    importlib.import_module('riskcore.' + m.name)\n"
        "bad = [m for m in ('streamlit', 'fastapi', 'plotly', 'starlette') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_importing_riskcore_is_light():
    code = ("import sys, riskcore\n"
            "print(','.join(m for m in ('sklearn', 'lightgbm', 'xgboost', 'shap', 'mlflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# -- packaging: what the product needs, what its tests need, and what the wheel holds ---------------

ROOT = Path(__file__).resolve().parents[2]
DEV_TOOLS = ("pytest", "pytest-xdist", "pytest-timeout", "hypothesis", "schemathesis", "playwright", "mypy", "ruff",
             "pandas-stubs", "import-linter", "grimp", "httpx", "openpyxl")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            name, sep, version = line.partition("==")
            assert sep and version, f"{path.name}: {line!r} is not pinned with =="
            pins[_norm(name)] = version
    return pins


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_requirements_hold_the_product_and_dev_requirements_the_tools():
    product, dev = _pins(ROOT / "requirements.txt"), _pins(ROOT / "requirements-dev.txt")
    lines = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    assert next(line for line in lines if line and not line.startswith("#")) == "-r requirements.txt"
    assert not set(product) & set(dev), "a package is pinned in both files"
    assert not {_norm(t) for t in DEV_TOOLS} & set(product), "a test tool is in the product's requirements"
    assert {_norm(t) for t in DEV_TOOLS} <= set(dev)


def test_pyproject_declares_the_same_pins():
    product, dev = _pins(ROOT / "requirements.txt"), _pins(ROOT / "requirements-dev.txt")
    project = _pyproject()["project"]
    for spec in project["dependencies"]:
        name, _, version = spec.partition("==")
        assert product.get(_norm(name)) == version, spec
    for spec in project["optional-dependencies"]["dev"]:
        name, _, version = spec.partition("==")
        assert dev.get(_norm(name)) == version, spec


def test_the_product_dependencies_cover_what_it_imports():
    declared = {_norm(s.partition("==")[0]) for s in _pyproject()["project"]["dependencies"]}
    imported = {"streamlit", "plotly", "fastapi", "starlette", "uvicorn", "pydantic", "mlflow", "sqlalchemy",
                "scikit-learn", "numpy", "pandas", "pyarrow", "scipy", "xgboost-cpu", "lightgbm", "shap", "skops",
                "imbalanced-learn", "threadpoolctl", "joblib", "python-calamine", "dask", "distributed", "matplotlib",
                "weasyprint", "argon2-cffi", "authlib", "pyjwt", "psycopg", "optbinning"}
    assert imported <= declared


def test_the_wheel_packages_every_folder_the_dashboard_needs():
    find = _pyproject()["tool"]["setuptools"]["packages"]["find"]
    for folder in ("riskcore", "riskcore.*", "dashboard", "api", "pages", "assets"):
        assert folder in find["include"]
    assert find["namespaces"] is True  # pages/ and assets/ have no __init__.py
    data = _pyproject()["tool"]["setuptools"]["package-data"]["assets"]
    suffixes = {p.suffix for p in (ROOT / "assets").iterdir() if p.is_file()}
    assert suffixes <= {pattern.removeprefix("*") for pattern in data}
