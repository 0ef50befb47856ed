"""Evaluation layer: discrimination and calibration metrics, the cost model, the rating scale, report numbers.

Imports the data layer and the foundation; never a model, a bundle or a scorer.

The names below are what the views (the dashboard's pages) read: the tables and numbers of the
evaluation pages, the rating scale, the drift bands. The figure data they draw live in
:mod:`riskcore.evaluation.figures`.
"""

from __future__ import annotations

from riskcore.evaluation.alerts import Alert
from riskcore.evaluation.costs import CostSweep
from riskcore.evaluation.curves import SMALL_SEGMENT_DEFAULTS
from riskcore.evaluation.drift import PSI_ACT, PSI_WATCH, psi_band
from riskcore.evaluation.grading import MASTER_SCALE, grade_of, master_scale_frame, risk_level_of
from riskcore.evaluation.metrics import at_threshold
from riskcore.evaluation.monitor_periods import PeriodHistory, period_history
from riskcore.evaluation.monitor_report import MonitorReport, period_order
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
    "part",
    "performance_table",
    "period_history",
    "period_order",
    "psi_band",
    "risk_level_of",
    "score_columns",
    "sector_table",
    "small_segments_note",
]
