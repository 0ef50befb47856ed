"""The facts of one version's model report, as plain data: :class:`Report` and its parts.

Everything a section prints is here, gathered once by
:func:`riskcore.lifecycle.report.gather.build_report`; the sections only read it.
This module imports no other module of the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from riskcore.config import AlertRules, PromotionRules, ServingRules
from riskcore.data.schema import DatasetSpec
from riskcore.serving.audit import ModelMove

__all__ = ["History", "Performance", "Report"]


@dataclass(frozen=True)
class Performance:
    """The outcome analysis on the test rows, from the bundle's scored hold-out rows.

    Attributes
    ----------
    columns : dict
        Label → hold-out column of each scored model (``Model``; ``Logistic baseline`` when it scored every row).
    roc : DataFrame
        :func:`riskcore.evaluation.report.curves_frame` (model, fpr, tpr, tpr_lower, tpr_upper).
    gains : DataFrame
        :func:`riskcore.evaluation.report.gains_frame` (model, decile, rows, defaults, lift, cum_* …).
    ks : dict of str to DataFrame
        :func:`riskcore.evaluation.report.ks_curve` per model.
    baseline_ks : float or None
        The baseline's KS on the test rows (``metrics.json`` keeps the model's, not the baseline's).
    backtest : DataFrame
        :func:`riskcore.evaluation.backtest.grade_backtest` of the test rows (grade, n, predicted_pd, defaults,
        observed_rate, jeffreys_low, jeffreys_high, p_value, traffic_light).
    periods : DataFrame
        Per hold-out period (``segment``: the period) or, without a time column, per cross-validation fold:
        rows, defaults, observed_rate, mean_pd, auc, auc_lower, auc_upper (NaN where not measured).
    period_label : str
        What a row of ``periods`` is (``Fiscal year``, ``Cross-validation fold``).
    test_default_rate : float
        Observed default rate of the test rows (the perfect model's corner of the CAP).
    """

    columns: dict[str, str]
    roc: pd.DataFrame
    gains: pd.DataFrame
    ks: dict[str, pd.DataFrame]
    baseline_ks: float | None
    backtest: pd.DataFrame
    periods: pd.DataFrame
    period_label: str
    test_default_rate: float


@dataclass(frozen=True)
class History:
    """The version's life in the registry and the ledger.

    Attributes
    ----------
    run_id : str or None
        The MLflow run that trained it (None without a tracker, or when it was not registered).
    run : dict or None
        That run's parameters, metrics, tags, start time and status (:meth:`Tracker.run`).
    registry : DataFrame or None
        Every registered version (version, run_id, model_version, bundle_hash, champion, previous_champion),
        oldest first; None without a tracker.
    moves : tuple of ModelMove or None
        Every move of the champion recorded in the audit trail, oldest first; None without an audit trail.
    """

    run_id: str | None
    run: dict[str, Any] | None
    registry: pd.DataFrame | None
    moves: tuple[ModelMove, ...] | None


@dataclass(frozen=True)
class Report:
    """Every fact of the model documentation report of one version, as plain data.

    ``metrics`` is the bundle's ``metrics.json`` unchanged: the HTML reads its numbers
    from there. The other attributes are what ``metrics.json`` does not hold.
    :func:`riskcore.lifecycle.report.render_report` writes it as HTML.
    """

    version: str
    generated_at: str
    bundle_hash: str
    info: dict[str, Any]
    metrics: dict[str, Any]
    spec: DatasetSpec
    importances: pd.DataFrame
    reference_test: dict[str, Any] | None
    training_segments: pd.DataFrame
    missing_by_group: pd.DataFrame
    performance: Performance
    limitations: tuple[str, ...]
    alerts: AlertRules
    promotion: PromotionRules
    serving: ServingRules
    history: History
    # a points scorecard's table (ModelBundle.points_table: characteristic, label, bin, count, event_rate, woe,
    # points); None for other models
    points: pd.DataFrame | None = None
