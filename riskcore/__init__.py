"""riskcore: a credit-risk workbench engine.

It learns the probability of default of small and mid-sized companies,
calibrates it, turns it into decisions under a cost model, explains every
score and keeps an audit trail. This package is the engine: it never imports a
UI library. Public names are loaded on first use so ``import riskcore`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "AuditError": "riskcore.errors",
    "BundleError": "riskcore.errors",
    "ConfigError": "riskcore.errors",
    "Costs": "riskcore.config",
    "DEMO_SPEC": "riskcore.schema",
    "DataFileError": "riskcore.errors",
    "DatasetSpec": "riskcore.schema",
    "FeatureSpec": "riskcore.schema",
    "LeakageError": "riskcore.errors",
    "LeakageFinding": "riskcore.leakage",
    "LeakageReport": "riskcore.leakage",
    "Manifest": "riskcore.synth",
    "ModelNotFoundError": "riskcore.errors",
    "Portfolio": "riskcore.synth",
    "Problem": "riskcore.errors",
    "QualityReport": "riskcore.quality",
    "RiskcoreError": "riskcore.errors",
    "SECTORS": "riskcore.schema",
    "SchemaError": "riskcore.errors",
    "Settings": "riskcore.config",
    "Split": "riskcore.split",
    "TrainingConfig": "riskcore.config",
    "check_frame": "riskcore.quality",
    "cv_folds": "riskcore.split",
    "generate_portfolio": "riskcore.synth",
    "infer_spec": "riskcore.schema",
    "load_settings": "riskcore.config",
    "prepare_frame": "riskcore.quality",
    "read_table": "riskcore.tabular",
    "run_leakage_checks": "riskcore.leakage",
    "split_portfolio": "riskcore.split",
    "write_csv": "riskcore.tabular",
}

__all__ = [
    "DEMO_SPEC",
    "SECTORS",
    "AuditError",
    "BundleError",
    "ConfigError",
    "Costs",
    "DataFileError",
    "DatasetSpec",
    "FeatureSpec",
    "LeakageError",
    "LeakageFinding",
    "LeakageReport",
    "Manifest",
    "ModelNotFoundError",
    "Portfolio",
    "Problem",
    "QualityReport",
    "RiskcoreError",
    "SchemaError",
    "Settings",
    "Split",
    "TrainingConfig",
    "check_frame",
    "cv_folds",
    "generate_portfolio",
    "infer_spec",
    "load_settings",
    "prepare_frame",
    "read_table",
    "run_leakage_checks",
    "split_portfolio",
    "write_csv",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'riskcore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
