"""Evaluation layer: discrimination and calibration metrics, the cost model, the rating scale, report numbers.

Imports the data layer and the foundation; never a model, a bundle or a scorer.

The names below are what the views (the dashboard's pages) read: the tables and numbers of the
evaluation pages, the rating scale, the drift bands. The figure data they draw live in
:mod:`riskcore.evaluation.figures`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names for type checkers; at run time each loads with its module, on first use
    from riskcore.evaluation.alerts import Alert
    from riskcore.evaluation.costs import CostSweep
    from riskcore.evaluation.curves import SMALL_SEGMENT_DEFAULTS
    from riskcore.evaluation.drift import PSI_ACT, PSI_WATCH, psi_band
    from riskcore.evaluation.grading import MASTER_SCALE, grade_of, master_scale_frame, risk_level_of
    from riskcore.evaluation.lifetime import term_structures
    from riskcore.evaluation.metrics import at_threshold
    from riskcore.evaluation.monitor_periods import PeriodHistory, period_history
    from riskcore.evaluation.monitor_report import MonitorReport, period_order
    from riskcore.evaluation.provisions import (
        ProvisionResult,
        normalised_weights,
        reweighted,
        stage_drivers,
        stage_movements,
    )
    from riskcore.evaluation.report import (
        DecisionView,
        calibration_columns,
        calibration_table,
        decision_view,
        esg_band_table,
        esg_columns,
        expected_loss_by_segment,
        impact_sentences,
        part,
        performance_table,
        score_columns,
        sector_table,
        small_segments_note,
    )
    from riskcore.evaluation.validation import ValidationBattery

# Loaded on first use (as riskcore's own names are), so importing one evaluation module, as scoring does,
# does not import the others (the metrics' scikit-learn, for one).
_EXPORTS: dict[str, str] = {
    "Alert": "riskcore.evaluation.alerts",
    "CostSweep": "riskcore.evaluation.costs",
    "DecisionView": "riskcore.evaluation.report",
    "MASTER_SCALE": "riskcore.evaluation.grading",
    "MonitorReport": "riskcore.evaluation.monitor_report",
    "PSI_ACT": "riskcore.evaluation.drift",
    "PSI_WATCH": "riskcore.evaluation.drift",
    "PeriodHistory": "riskcore.evaluation.monitor_periods",
    "ProvisionResult": "riskcore.evaluation.provisions",
    "SMALL_SEGMENT_DEFAULTS": "riskcore.evaluation.curves",
    "ValidationBattery": "riskcore.evaluation.validation",
    "at_threshold": "riskcore.evaluation.metrics",
    "calibration_columns": "riskcore.evaluation.report",
    "calibration_table": "riskcore.evaluation.report",
    "decision_view": "riskcore.evaluation.report",
    "esg_band_table": "riskcore.evaluation.report",
    "esg_columns": "riskcore.evaluation.report",
    "expected_loss_by_segment": "riskcore.evaluation.report",
    "grade_of": "riskcore.evaluation.grading",
    "impact_sentences": "riskcore.evaluation.report",
    "master_scale_frame": "riskcore.evaluation.grading",
    "normalised_weights": "riskcore.evaluation.provisions",
    "part": "riskcore.evaluation.report",
    "performance_table": "riskcore.evaluation.report",
    "period_history": "riskcore.evaluation.monitor_periods",
    "period_order": "riskcore.evaluation.monitor_report",
    "psi_band": "riskcore.evaluation.drift",
    "reweighted": "riskcore.evaluation.provisions",
    "risk_level_of": "riskcore.evaluation.grading",
    "score_columns": "riskcore.evaluation.report",
    "sector_table": "riskcore.evaluation.report",
    "small_segments_note": "riskcore.evaluation.report",
    "stage_drivers": "riskcore.evaluation.provisions",
    "stage_movements": "riskcore.evaluation.provisions",
    "term_structures": "riskcore.evaluation.lifetime",
}

__all__ = [
    "MASTER_SCALE",
    "PSI_ACT",
    "PSI_WATCH",
    "SMALL_SEGMENT_DEFAULTS",
    "Alert",
    "CostSweep",
    "DecisionView",
    "MonitorReport",
    "PeriodHistory",
    "ProvisionResult",
    "ValidationBattery",
    "at_threshold",
    "calibration_columns",
    "calibration_table",
    "decision_view",
    "esg_band_table",
    "esg_columns",
    "expected_loss_by_segment",
    "grade_of",
    "impact_sentences",
    "master_scale_frame",
    "normalised_weights",
    "part",
    "performance_table",
    "period_history",
    "period_order",
    "psi_band",
    "reweighted",
    "risk_level_of",
    "score_columns",
    "sector_table",
    "small_segments_note",
    "stage_drivers",
    "stage_movements",
    "term_structures",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'riskcore.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
