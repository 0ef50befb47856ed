"""Gathering the facts of one version's model report: :func:`build_report`.

Every number is read, never re-measured: the headline numbers stay in the bundle's
``metrics.json``; the curves, the baseline's KS, the periods' AUCs and the
missing-value pattern are computed from the bundle's own scored hold-out rows
(``holdout.parquet``) with the functions the dashboard's evaluation pages use
(:mod:`riskcore.evaluation.report`); the per-grade back-test uses
:func:`riskcore.evaluation.backtest.grade_backtest`; the run's parameters come from
its MLflow run, the versions from the model registry and the champion's moves from
the audit trail's ledger, when they are given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskcore.config import Settings
from riskcore.data.schema import DatasetSpec
from riskcore.evaluation.backtest import grade_backtest
from riskcore.evaluation.curves import SMALL_SEGMENT_DEFAULTS
from riskcore.evaluation.grading import grade_of
from riskcore.evaluation.metrics import ks_statistic
from riskcore.evaluation.reference import GRADE_NAMES
from riskcore.evaluation.report import curves_frame, gains_frame, ks_curve, part, score_columns
from riskcore.evaluation.report import sector_table as _segment_rows
from riskcore.lifecycle.report.facts import History, Performance, Report
from riskcore.lifecycle.report.findings import limitations

if TYPE_CHECKING:
    from riskcore.modelling.bundle import ModelBundle
    from riskcore.modelling.tracking import Tracker
    from riskcore.serving.audit import AuditLog

__all__ = ["MISSING_RATIO_NOTED", "MISSING_SHARE_NOTED", "build_report", "gather_history"]

MISSING_SHARE_NOTED = 0.10
"""A group's missing share of a family's inputs is a limitation from this share on ..."""
MISSING_RATIO_NOTED = 2.0
"""... when it is also at least this many times the share in the other rows."""
_CURVE_RESAMPLES = 200


# ---------------------------------------------------------------------------
# performance from the scored hold-out rows
# ---------------------------------------------------------------------------

def _periods(holdout: pd.DataFrame, spec: DatasetSpec, metrics: dict[str, Any], seed: int) -> tuple[pd.DataFrame,
                                                                                                   str]:
    """AUC per hold-out period (validation and test) or, without periods, per cross-validation fold of the model."""
    if spec.time and spec.time in holdout and holdout[spec.time].notna().all():
        table = _segment_rows(holdout, spec.time, n_resamples=_CURVE_RESAMPLES, min_defaults=SMALL_SEGMENT_DEFAULTS,
                              random_state=seed)
        return table, spec.label(spec.time)
    chosen = next((c for c in metrics.get("candidates", []) if c.get("chosen")), None)
    folds = list((chosen or {}).get("fold_aucs") or [])
    table = pd.DataFrame({"segment": [str(i + 1) for i in range(len(folds))], "auc": folds,
                          "auc_lower": np.nan, "auc_upper": np.nan})
    return table, "Cross-validation fold"


def _performance(holdout: pd.DataFrame, spec: DatasetSpec, metrics: dict[str, Any]) -> Performance:
    """ROC, CAP, lift, KS, per-grade back-test and per-period AUC, all on the bundle's scored rows."""
    seed = int(metrics.get("model", {}).get("seed", 7))
    test = part(holdout, "test")
    columns = score_columns(test)
    if metrics.get("model", {}).get("kind") == "logistic":
        columns.pop("Logistic baseline", None)  # the chosen model is the baseline itself
    y = test["y"].to_numpy(dtype=float)
    ks = {label: ks_curve(y, test[col].to_numpy(dtype=float)) for label, col in columns.items()}
    baseline_ks = (ks_statistic(y, test["p_baseline"].to_numpy(dtype=float))
                   if "Logistic baseline" in columns else None)
    p = test["p_default"].to_numpy(dtype=float)
    backtest = grade_backtest(grade_of(p), p, test["y"].to_numpy())
    backtest = backtest.sort_values("grade", key=lambda g: g.map(GRADE_NAMES.index), kind="stable") \
        .reset_index(drop=True)
    periods, label = _periods(holdout, spec, metrics, seed)
    return Performance(columns=columns,
                       roc=curves_frame(test, columns, "roc", n_resamples=_CURVE_RESAMPLES, random_state=seed),
                       gains=gains_frame(test, columns), ks=ks, baseline_ks=baseline_ks,
                       backtest=backtest, periods=periods,
                       period_label=label, test_default_rate=float(y.mean()) if len(y) else float("nan"))


def _missing_by_group(holdout: pd.DataFrame, spec: DatasetSpec, inputs: list[str]) -> pd.DataFrame:
    """Groups (levels of a categorical input) whose inputs of one family are missing far more often than elsewhere.

    Columns: family, column, level, rows, missing_share, other_share. Sorted by the
    largest missing share; only groups at or above :data:`MISSING_SHARE_NOTED` and
    :data:`MISSING_RATIO_NOTED` times the other rows' share.
    """
    used = [f for f in spec.features if f.name in inputs and f.name in holdout]
    groups = [f.name for f in used if f.kind == "categorical"]
    families: dict[str, list[str]] = {}
    for f in used:
        if f.kind == "numeric":
            families.setdefault(f.family, []).append(f.name)
    rows = []
    for family, cols in families.items():
        missing = holdout[cols].isna().to_numpy().mean(axis=1)
        for column in groups:
            levels = holdout[column].astype(object)
            for level in sorted({str(v) for v in levels.dropna()}):
                inside = (levels == level).to_numpy()
                share, other = float(missing[inside].mean()), float(missing[~inside].mean()) if (~inside).any() \
                    else 0.0
                if share >= MISSING_SHARE_NOTED and share >= MISSING_RATIO_NOTED * other:
                    rows.append({"family": family, "column": column, "level": level, "rows": int(inside.sum()),
                                 "missing_share": share, "other_share": other})
    out = pd.DataFrame(rows, columns=["family", "column", "level", "rows", "missing_share", "other_share"])
    return out.sort_values(["missing_share", "family", "column", "level"], ascending=[False, True, True, True]) \
        .reset_index(drop=True)


def _training_segments(bundle: ModelBundle) -> pd.DataFrame:
    """Training rows and default rate per segment (sector): the reference's counts and the profile's rates.

    Columns: segment, rows, default_rate. Empty when the bundle keeps neither.
    """
    rates = dict(bundle.profile.get("segment_rates") or {})
    counts: dict[str, int] = {}
    features = (bundle.reference_data or {}).get("features") or []
    if features:
        counts = {str(k): int(sum(v)) for k, v in (features[0].get("segments") or {}).items()}
    names = sorted(set(rates) | set(counts))
    return pd.DataFrame({"segment": names, "rows": [counts.get(n) for n in names],
                         "default_rate": [rates.get(n) for n in names]}, columns=["segment", "rows", "default_rate"])


# ---------------------------------------------------------------------------
# history
# ---------------------------------------------------------------------------

def gather_history(version: str, tracker: Tracker | None = None, audit: AuditLog | None = None) -> History:
    """The registry's versions and this version's MLflow run (with a tracker); the ledger's moves (with an audit).

    Raises
    ------
    TrackingError, AuditError
        When a given registry or audit trail cannot be read.
    """
    registry = run = run_id = None
    if tracker is not None:
        registry = tracker.registry_versions()
        registry = registry.assign(_n=pd.to_numeric(registry["version"], errors="coerce")) \
            .sort_values("_n", kind="stable").drop(columns="_n").reset_index(drop=True)
        mine = registry[registry["model_version"] == version]
        if len(mine):
            run_id = str(mine["run_id"].iloc[-1])
            run = tracker.run(run_id)
    moves = tuple(audit.moves()) if audit is not None else None
    return History(run_id, run, registry, moves)


def build_report(bundle: ModelBundle, *, settings: Settings, tracker: Tracker | None = None,
                 audit: AuditLog | None = None, generated_at: datetime | str | None = None,
                 history: History | None = None) -> Report:
    """Gather every fact of a model version's documentation report.

    Parameters
    ----------
    bundle : a loaded (verified) model bundle.
    settings : the settings in force: the monitoring plan is their ``[alerts]``, ``[promotion]`` and ``[serving]``.
    tracker : the MLflow tracker; with it the report shows the run's parameters and the registered versions.
    audit : the audit trail; with it the report lists the champion's promotions, overrides, rollbacks and fallbacks.
    generated_at : the generation time written on the report's one time line (default: now, UTC).
    history : the version's history already gathered (:func:`gather_history`); read from ``tracker`` and
        ``audit`` when omitted.

    Returns
    -------
    Report

    Raises
    ------
    TrackingError, AuditError
        When a given registry or audit trail cannot be read.
    """
    when = generated_at or datetime.now(UTC)
    stamp = when.isoformat(timespec="seconds") if isinstance(when, datetime) else str(when)
    metrics = bundle.metrics
    holdout = bundle.holdout()
    performance = _performance(holdout, bundle.spec, metrics)
    inputs = list(metrics.get("data", {}).get("features") or bundle.spec.model_inputs)
    missing = _missing_by_group(holdout, bundle.spec, inputs)
    reference_test = (bundle.reference_data or {}).get("test")
    return Report(
        version=bundle.version, generated_at=stamp, bundle_hash=bundle.manifest_hash, info=dict(bundle.info),
        metrics=metrics, spec=bundle.spec, importances=bundle.importances.copy(), reference_test=reference_test,
        training_segments=_training_segments(bundle), missing_by_group=missing, performance=performance,
        limitations=limitations(metrics, bundle.spec, performance.backtest, missing, settings.alerts),
        alerts=settings.alerts, promotion=settings.promotion, serving=settings.serving,
        history=history if history is not None else gather_history(bundle.version, tracker, audit),
        points=bundle.points_table() if bundle.is_scorecard else None)
