"""The model documentation report: one self-contained HTML file a model-risk reviewer can read and sign.

:func:`build_report` gathers every fact of one model version as plain data (a
:class:`Report`), :meth:`Report.html` renders it (:mod:`riskcore.lifecycle.report_html`,
figures in :mod:`riskcore.lifecycle.report_figures`) and :func:`write_report` writes
``model-report-<version>.html``. The sections answer the headings of supervisory
model-risk guidance (purpose and use, data, methodology, conceptual soundness,
outcomes analysis, limitations, ongoing monitoring), in this order and under these
anchor ids: :data:`SECTION_IDS`.

Where the numbers come from, so a validator can check them:

- every headline number is read from the bundle's ``metrics.json`` and marked in the
  HTML with its path there (``<data class="m" data-key="test.auc">``);
- the per-grade back-test repeats ``reference.json``'s test grades (with the traffic
  light of :func:`riskcore.evaluation.backtest.grade_backtest`); the curves, the
  baseline's KS, the periods' AUCs and the missing-value pattern are computed from
  the bundle's own scored hold-out rows (``holdout.parquet``) with the functions the
  dashboard's evaluation pages use (:mod:`riskcore.evaluation.report`);
- the run's parameters come from its MLflow run, the versions from the model
  registry and the champion's moves from the audit trail's ledger, when they are given.

Nothing is refitted or rescored. A block a version does not hold (a bundle trained
before riskcore measured directions or sensitivities) is reported as not recorded.
The same inputs give the same bytes apart from the one line that holds the generation time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskcore.config import AlertRules, PromotionRules, ServingRules, Settings
from riskcore.data.schema import DatasetSpec
from riskcore.errors import ConfigError
from riskcore.evaluation.backtest import grade_backtest
from riskcore.evaluation.grading import grade_of
from riskcore.evaluation.metrics import ks_statistic
from riskcore.evaluation.reference import GRADE_NAMES
from riskcore.evaluation.report import curves_frame, gains_frame, ks_curve, part, score_columns, small_segments_note
from riskcore.evaluation.report import sector_table as _segment_rows
from riskcore.lifecycle.report_html import NOT_RECORDED

if TYPE_CHECKING:
    from riskcore.modelling.bundle import ModelBundle
    from riskcore.modelling.tracking import Tracker
    from riskcore.serving.audit.ledger import ModelMove
    from riskcore.serving.audit.log import AuditLog

__all__ = ["NOT_RECORDED", "REPORT_FORMATS", "SECTION_IDS", "History", "Performance", "Report", "build_report",
           "write_report"]

SECTION_IDS: tuple[str, ...] = ("purpose", "data", "features", "methodology", "soundness", "performance",
                                "sensitivity", "limitations", "monitoring_plan", "history", "signoff")
REPORT_FORMATS: tuple[str, ...] = ("html", "pdf")

MISSING_SHARE_NOTED = 0.10
"""A group's missing share of a family's inputs is a limitation from this share on ..."""
MISSING_RATIO_NOTED = 2.0
"""... when it is also at least this many times the share in the other rows."""
STABLE_METRICS_DEFAULTS = 30
"""Fewer defaults than this in a part or segment make its metrics noisy (as on the Sectors page)."""
MAX_DIRECTION_SENTENCES = 3
"""More contradicted directions than this are one limitation naming them all, not one each."""
_CURVE_RESAMPLES = 200
_FAMILY_LABELS = {"esg": "ESG", "alternative": "Alternative data", "macro": "Macro-economic"}


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

    def html(self) -> str:
        """The report as one self-contained HTML document (inline CSS and SVG, no script, no external resource)."""
        from riskcore.lifecycle.report_sections import render_report

        return render_report(self)


# ---------------------------------------------------------------------------
# performance from the scored hold-out rows
# ---------------------------------------------------------------------------

def _periods(holdout: pd.DataFrame, spec: DatasetSpec, metrics: dict[str, Any], seed: int) -> tuple[pd.DataFrame,
                                                                                                   str]:
    """AUC per hold-out period (validation and test) or, without periods, per cross-validation fold of the model."""
    if spec.time and spec.time in holdout and holdout[spec.time].notna().all():
        table = _segment_rows(holdout, spec.time, n_resamples=_CURVE_RESAMPLES, min_defaults=STABLE_METRICS_DEFAULTS,
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
# limitations, written from the findings
# ---------------------------------------------------------------------------

def family_label(family: str) -> str:
    """A feature family as a heading or sentence start (``ESG``, ``Financial``)."""
    return _FAMILY_LABELS.get(family, family.capitalize())


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _sample_limits(metrics: dict[str, Any]) -> list[str]:
    """Small test part and small segments."""
    out = []
    test = metrics.get("test", {})
    if int(test.get("defaults", STABLE_METRICS_DEFAULTS)) < STABLE_METRICS_DEFAULTS:
        out.append(f"The test part holds only {int(test['defaults'])} defaults in {int(test.get('n', 0)):,} rows: "
                   "its metrics are noisy; read the intervals, not the point values.")
    segments = pd.DataFrame(metrics.get("segments") or [])
    if len(segments) and "small" in segments:
        note = small_segments_note(segments, STABLE_METRICS_DEFAULTS)
        if note:
            out.append("Per-sector results: " + note)
    return out


def _check_limits(metrics: dict[str, Any]) -> list[str]:
    """Leakage checks that warned or failed (distribution shift among them), and the importance warnings."""
    out = [f"Leakage checklist, {f['check'].replace('_', ' ')} ({f['status']}): {f['detail']}"
           for f in metrics.get("leakage", []) if f.get("status") in ("warn", "fail")]
    out += [f"Feature importance: {w}" for w in metrics.get("warnings", [])]
    note = (metrics.get("split") or {}).get("note")
    if note:
        out.append(f"Split: {note}; the test rows are not later in time than the training rows, so the report "
                   "does not show how the model ages.")
    return out


def _missing_limits(missing: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    """Groups whose inputs of one family are mostly missing."""
    return [f"{family_label(str(r['family']))} inputs are missing for {_pct(r['missing_share'])} of the held-out "
            f"rows with {spec.label(str(r['column'])).lower()} {r['level']!r} ({int(r['rows']):,} rows) against "
            f"{_pct(r['other_share'])} elsewhere: for them the model leans on the other families."
            for r in missing.head(5).to_dict(orient="records")]


def _model_limits(metrics: dict[str, Any], backtest: pd.DataFrame, alerts: AlertRules) -> list[str]:
    """Calibration beyond the monitoring limit, red or amber grades, a baseline as good, contradicted directions."""
    out = []
    test = metrics.get("test", {})
    ece = test.get("ece_calibrated")
    if ece is not None and ece > alerts.ece_warn:
        level, limit = ("limit", alerts.ece) if ece > alerts.ece else ("warning level", alerts.ece_warn)
        out.append(f"The calibration error on the test rows (ECE {ece:.4f}) is above the monitoring {level} "
                   f"({limit:.3f}).")
    lights = backtest[backtest["traffic_light"] != "green"] if len(backtest) else backtest
    for r in lights.to_dict(orient="records"):
        out.append(f"Grade {r['grade']} is {r['traffic_light']} in the test back-test: {int(r['defaults'])} defaults "
                   f"in {int(r['n']):,} rows ({_pct(r['observed_rate'])}) against a mean PD of "
                   f"{_pct(r['predicted_pd'])}.")
    base, ci = metrics.get("baseline"), test.get("auc_ci")
    if base and ci and metrics.get("model", {}).get("kind") != "logistic" and ci[0] <= base["auc"] <= ci[1]:
        out.append(f"The logistic baseline's test AUC ({base['auc']:.3f}) lies inside the model's interval "
                   f"[{ci[0]:.3f}, {ci[1]:.3f}]: the test rows do not show that the chosen model ranks better.")
    return out + _direction_limits(metrics.get("soundness") or {})


def _direction_limits(sound: dict[str, Any]) -> list[str]:
    """Declared directions the model contradicts: one sentence each, or one sentence naming them all when many."""
    against = [f for f in sound.get("features", []) if not f.get("agrees", True)]
    if len(against) > MAX_DIRECTION_SENTENCES:
        names = ", ".join(f"{f.get('label') or f['name']} ({'↑' if f['declared'] > 0 else '↓'} declared, "
                          f"{'↑' if f['measured'] > 0 else '↓'} measured)" for f in against)
        return [f"{len(against)} of {len(sound['features'])} declared directions are contradicted by the model's "
                f"partial dependence (↑: a higher value raises the PD): {names}. Correlated inputs can share one "
                "effect between them with opposite signs; a reviewer should see why before the model is used, or "
                "the model be retrained with monotone constraints (train --monotone)."]
    out = []
    for f in against:
        rho = f.get("spearman")
        out.append(f"{f.get('label') or f['name']}: the schema declares that a higher value "
                   f"{'raises' if f['declared'] > 0 else 'lowers'} the PD, but the model's partial dependence "
                   f"{'rises' if f['measured'] > 0 else 'falls'}"
                   + (f" (Spearman {rho:+.2f})." if isinstance(rho, (int, float)) else "."))
    return out


def _limitations(metrics: dict[str, Any], spec: DatasetSpec, backtest: pd.DataFrame, missing: pd.DataFrame,
                 alerts: AlertRules) -> tuple[str, ...]:
    """The limitations section: one sentence per finding, none of them boilerplate."""
    found = (_sample_limits(metrics) + _check_limits(metrics) + _missing_limits(missing, spec)
             + _model_limits(metrics, backtest, alerts) + [f"Data: {n}" for n in spec.notes])
    return tuple(found)


# ---------------------------------------------------------------------------
# history
# ---------------------------------------------------------------------------

def _history(version: str, tracker: Tracker | None, audit: AuditLog | None) -> History:
    """The registry's versions and this version's MLflow run (with a tracker); the ledger's moves (with an audit)."""
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
                 audit: AuditLog | None = None, generated_at: datetime | str | None = None) -> Report:
    """Gather every fact of a model version's documentation report.

    Parameters
    ----------
    bundle : a loaded (verified) model bundle.
    settings : the settings in force: the monitoring plan is their ``[alerts]``, ``[promotion]`` and ``[serving]``.
    tracker : the MLflow tracker; with it the report shows the run's parameters and the registered versions.
    audit : the audit trail; with it the report lists the champion's promotions, overrides, rollbacks and fallbacks.
    generated_at : the generation time written on the report's one time line (default: now, UTC).

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
        limitations=_limitations(metrics, bundle.spec, performance.backtest, missing, settings.alerts),
        alerts=settings.alerts, promotion=settings.promotion, serving=settings.serving,
        history=_history(bundle.version, tracker, audit))


def write_report(report: Report, out_dir: str | Path, formats: tuple[str, ...] | list[str] = ("html",)) -> list[Path]:
    """Write the report into ``out_dir`` as ``model-report-<version>.html``; returns the files written.

    Parameters
    ----------
    report : from :func:`build_report`.
    out_dir : the folder (created when missing).
    formats : ``"html"``; ``"pdf"`` is made from the HTML by the command's PDF step, not here.

    Raises
    ------
    ConfigError
        When a format is unknown, or ``"pdf"`` is asked of this function.
    """
    unknown = [f for f in formats if f not in REPORT_FORMATS]
    if unknown:
        raise ConfigError(f"unknown report format(s) {', '.join(map(repr, unknown))}; use "
                          f"{' or '.join(REPORT_FORMATS)} (comma-separated, e.g. 'html,pdf')")
    if "pdf" in formats:
        raise ConfigError("write_report writes the HTML only; make the PDF from it with the report command's "
                          "--format pdf")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"model-report-{report.version}.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(report.html(), encoding="utf-8", newline="\n")
    tmp.replace(path)
    return [path]
