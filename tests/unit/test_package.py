"""The public surface and the engine/UI boundary."""

import subprocess
import sys

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
