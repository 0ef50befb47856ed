"""Portfolio-level views the dashboard pages show, computed here so they can be tested.

Every function takes the scored hold-out rows of a bundle (``ModelBundle.holdout()``:
validation and test rows with ``y``, ``p_default`` and the raw features) or a
scored portfolio, and returns plain data. The honest protocol is kept
throughout: a cut-off is chosen on the **validation** rows under the user's
costs, and its consequences are measured on the **test** rows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from riskcore.config import Costs
from riskcore.data.quality import QualityReport, check_frame, clean_for_training, prepare_frame
from riskcore.data.schema import DatasetSpec, extend_spec
from riskcore.data.tabular import Table, write_csv
from riskcore.errors import DataFileError
from riskcore.evaluation.costs import BusinessImpact, CostSweep, business_impact
from riskcore.evaluation.grading import PD_FLOOR, grade_of
from riskcore.evaluation.metrics import (
    CurveKind,
    bootstrap_ci,
    curve_with_band,
    gains_table,
    gini,
    ks_statistic,
    pr_auc,
    roc_auc,
    segment_table,
)
from riskcore.modelling.calibration import BinStrategy, brier_score, expected_calibration_error, reliability_curve
from riskcore.modelling.features import add_panel_features
from riskcore.modelling.leakage import LeakageReport, run_leakage_checks
from riskcore.modelling.split import split_portfolio
from riskcore.serving.scoring import ScoreResult

__all__ = [
    "DataCheck",
    "DecisionView",
    "calibration_columns",
    "calibration_table",
    "candidates_table",
    "check_data",
    "company_record",
    "company_table",
    "csv_bytes",
    "curves_frame",
    "decision_view",
    "esg_band_table",
    "esg_columns",
    "expected_loss_by_segment",
    "filter_runs",
    "filter_scores",
    "find_companies",
    "gains_frame",
    "impact_sentences",
    "ks_curve",
    "leakage_checklist",
    "missing_table",
    "part",
    "performance_table",
    "reliability_frame",
    "run_metrics_table",
    "run_params_table",
    "runs_table",
    "score_columns",
    "scored_portfolio",
    "sector_table",
    "small_segments_note",
    "split_table",
    "violations_table",
    "waterfall_frame",
    "whatif_features",
]


def part(holdout: pd.DataFrame, name: str) -> pd.DataFrame:
    """The ``validation`` or ``test`` rows of a hold-out frame."""
    return holdout[holdout["part"] == name].reset_index(drop=True)


def _exposure(frame: pd.DataFrame, exposure: str | None, costs: Costs) -> np.ndarray | None:
    if costs.mode != "exposure":
        return None
    if not exposure or exposure not in frame:
        return None
    out: np.ndarray = np.nan_to_num(frame[exposure].to_numpy(dtype=float), nan=0.0)
    return out


@dataclass(frozen=True)
class DecisionView:
    """The consequences of a cut-off under a pair of costs.

    ``optimal_threshold`` minimises cost on validation; ``threshold`` is the one
    in force (the optimal one unless overridden); ``impact`` is measured on test.
    """

    costs: Costs
    threshold: float
    optimal_threshold: float
    overridden: bool
    impact: BusinessImpact
    validation_cost: float
    test_rows: int
    test_defaults: int
    portfolio_expected_loss: float | None

    @property
    def confusion(self) -> pd.DataFrame:
        """2 × 2 table: rows actual (default / no default), columns decision (refer / accept)."""
        i = self.impact
        return pd.DataFrame([[i.defaults_caught, i.defaults_missed], [i.false_alarms,
                                                                      self.test_rows - self.test_defaults
                                                                      - i.false_alarms]],
                            index=["defaulted", "repaid"], columns=["refer", "accept"])


def decision_view(
    holdout: pd.DataFrame,
    costs: Costs,
    *,
    threshold: float | None = None,
    exposure: str | None = None,
    sweep: CostSweep | None = None,
) -> DecisionView:
    """Choose the cut-off on validation (unless ``threshold`` is given) and measure it on test.

    Parameters
    ----------
    holdout : a bundle's hold-out frame (``part``, ``y``, ``p_default`` …).
    costs : the costs in force.
    threshold : a manual cut-off; ``None`` uses the cost-optimal one.
    exposure : the exposure column, used in ``exposure`` cost mode and for expected loss.
    sweep : a cached :class:`CostSweep` of the validation rows (built when omitted).
    """
    val, test = part(holdout, "validation"), part(holdout, "test")
    if sweep is None:
        sweep = CostSweep(val["y"].to_numpy(), val["p_default"].to_numpy(), _exposure(val, exposure, costs))
    best, best_cost = sweep.optimal(costs)
    chosen = best if threshold is None else float(threshold)
    val_cost = best_cost if threshold is None else sweep.at(chosen, costs).cost
    impact = business_impact(test["y"].to_numpy(), test["p_default"].to_numpy(), chosen, costs,
                             exposure=_exposure(test, exposure, costs))
    el = None
    if exposure and exposure in test:
        ead = np.nan_to_num(test[exposure].to_numpy(dtype=float), nan=0.0)
        el = float(np.sum(np.maximum(test["p_default"].to_numpy(), PD_FLOOR) * costs.lgd * ead))
    return DecisionView(costs=costs, threshold=chosen, optimal_threshold=float(best),
                        overridden=threshold is not None, impact=impact, validation_cost=float(val_cost),
                        test_rows=len(test), test_defaults=int(test["y"].sum()), portfolio_expected_loss=el)


def _money(x: float) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.1f} million"
    return f"{x:,.0f}"


def impact_sentences(view: DecisionView, currency: str = "EUR") -> list[str]:
    """A few plain sentences for executives: what the model saves, at what cost, how sure we are."""
    i = view.impact
    c = view.costs
    fn = "the loss given default times the exposure" if c.mode == "exposure" else f"{currency} {_money(c.fn)}"
    out = [
        f"On the {view.test_rows:,} most recent company-years the model never saw in training, "
        f"{view.test_defaults:,} companies defaulted. Without the model, every one of them would have been "
        f"financed: an expected loss of {currency} {_money(i.loss_without_model)} (each missed default costs {fn}).",
        f"Referring the {i.referred:,} companies with a PD of {view.threshold:.1%} or more for review catches "
        f"{i.defaults_caught:,} of the {view.test_defaults:,} defaults "
        f"({i.defaults_caught / max(view.test_defaults, 1):.0%}) and raises {i.false_alarms:,} false alarms "
        f"at {currency} {_money(c.fp)} each.",
        f"Net of those false alarms the loss falls to {currency} {_money(i.loss_with_model)}: a saving of "
        f"{currency} {_money(i.savings)}, or {i.savings_pct:.0%}.",
    ]
    if i.top_decile_lift == i.top_decile_lift:
        out.append(f"The riskiest tenth of the portfolio holds {i.top_decile_lift:.1f}× the average default rate, "
                   "so reviews go where the risk is.")
    if view.overridden:
        out.append(f"The cut-off was set by hand; at these costs the cost-optimal cut-off on the validation year "
                   f"would be {view.optimal_threshold:.1%}.")
    else:
        out.append("The cut-off is the one that minimises cost on the validation year at these costs; "
                   "the figures above are measured on the later test year, so they are not flattered by the choice.")
    return out


def esg_band_table(frame: pd.DataFrame, *, segment: str, esg_columns: list[str], p_col: str = "p_default",
                   y_col: str | None = "y", n_bands: int = 3) -> pd.DataFrame:
    """Mean PD (and observed default rate) by ESG band within each segment.

    The ESG score of a row is the mean of ``esg_columns``; bands are its
    quantiles within the segment (``low``, ``mid``, ``high`` for three).
    Rows without ESG form their own band ``missing``. Columns: segment, band,
    companies, mean_pd, observed_rate.
    """
    labels = {3: ["low", "mid", "high"], 2: ["low", "high"]}.get(n_bands, [f"Q{i + 1}" for i in range(n_bands)])
    cols = [c for c in esg_columns if c in frame]
    score = frame[cols].mean(axis=1) if cols else pd.Series(np.nan, index=frame.index)
    band = pd.Series("missing", index=frame.index, dtype=object)
    for idx in frame.groupby(segment).groups.values():
        s = score.loc[idx].dropna()
        if len(s) >= n_bands:
            band.loc[s.index] = pd.qcut(s.rank(method="first"), n_bands, labels=labels).astype(str)
    df = pd.DataFrame({"segment": frame[segment].to_numpy(), "band": band.to_numpy(),
                       "p": frame[p_col].to_numpy()})
    agg: dict[str, Any] = {"companies": ("p", "size"), "mean_pd": ("p", "mean")}
    if y_col and y_col in frame:
        df["y"] = frame[y_col].to_numpy()
        agg["observed_rate"] = ("y", "mean")
    out = df.groupby(["segment", "band"]).agg(**agg).reset_index()
    if "observed_rate" not in out:
        out["observed_rate"] = np.nan
    order = {b: i for i, b in enumerate(labels + ["missing"])}
    ordered: pd.DataFrame = out.sort_values(["segment", "band"],
                                            key=lambda s: s.map(order) if s.name == "band" else s)
    return ordered.reset_index(drop=True)


def expected_loss_by_segment(frame: pd.DataFrame, *, segment: str, exposure: str | None, lgd: float,
                             p_col: str = "p_default") -> pd.DataFrame:
    """Companies, exposure, expected loss and mean PD per segment (largest expected loss first)."""
    p = np.maximum(frame[p_col].to_numpy(dtype=float), PD_FLOOR)
    ead = frame[exposure].to_numpy(dtype=float) if exposure and exposure in frame else np.full(len(frame), np.nan)
    df = pd.DataFrame({"segment": frame[segment].to_numpy(), "p": p, "ead": ead, "el": p * lgd * ead})
    out = df.groupby("segment").agg(companies=("p", "size"), exposure=("ead", "sum"), expected_loss=("el", "sum"),
                                    mean_pd=("p", "mean")).reset_index()
    return out.sort_values("expected_loss", ascending=False).reset_index(drop=True)


# ---------------------------------------------------------------------------
# data quality and leakage
# ---------------------------------------------------------------------------

_CHECK_TITLES = {
    "preprocessing": "Preprocessing fitted on training rows only",
    "too_good": "No single column separates defaults suspiciously well",
    "signal_share": "No column carries as much signal as all the others together",
    "post_event": "No column recorded after the outcome",
    "key_overlap": "No company-period in two parts of the split",
    "company_overlap": "Companies kept within one part of the split",
    "period_order": "Test periods come after the training periods",
    "shift": "Training and test rows are distributed alike",
}
_INVALID_CHECKS = ("type", "non_finite", "unknown_category", "range")


@dataclass(frozen=True)
class DataCheck:
    """The checks of one data file, as the data-quality page shows them.

    ``report`` is the :class:`~riskcore.data.quality.QualityReport`; ``split_summary``
    (columns part, rows, share, defaults, default_rate, companies, first, last)
    and ``leakage`` are ``None`` when the file has no usable target or the
    leakage checks were not asked for; ``notes`` say why, and what cleaning
    would do before training.
    """

    report: QualityReport
    split_summary: pd.DataFrame | None
    leakage: LeakageReport | None
    notes: tuple[str, ...] = ()


def check_data(data: Table | pd.DataFrame, spec: DatasetSpec, *, leakage: bool = True,
               random_state: int = 7) -> DataCheck:
    """Quality report, split and (optionally) leakage checks of a file, as training would see it.

    The file's columns unknown to ``spec`` are added as inferred features (so a
    leaked column a user added is checked too); rows are cleaned and panel
    features added exactly as :func:`riskcore.modelling.train.train` does before it splits.

    Parameters
    ----------
    data : a table read by :func:`riskcore.data.tabular.read_table`, or a frame.
    spec : the dataset spec to check against (the model's, or the demo's).
    leakage : run the leakage checklist (slow: it fits a few small models).
    random_state : seed of the split and of the leakage checks.

    Returns
    -------
    DataCheck
    """
    frame_in = data.frame if isinstance(data, Table) else data
    decimal = data.info.decimal if isinstance(data, Table) else "."
    spec = extend_spec(spec, frame_in, decimal=decimal)
    prepared = prepare_frame(data, spec)
    report = check_frame(prepared)
    try:
        frame, notes = clean_for_training(prepared, report)
    except DataFileError as err:
        return DataCheck(report, None, None, (f"No split or leakage checks: {err}",))
    y = frame[spec.target].to_numpy()
    n_pos = int(y.sum())
    if min(n_pos, len(y) - n_pos) < 3:
        return DataCheck(report, None, None, tuple(notes) + (
            f"No split or leakage checks: the file has {n_pos} default(s) in {len(y):,} usable rows; "
            "both outcomes must occur at least 3 times",))
    frame = add_panel_features(frame, spec)
    split = split_portfolio(frame, y, time=spec.time, id=spec.id, random_state=random_state)
    ids = frame[spec.id] if spec.id and spec.id in frame else None
    times = frame[spec.time] if spec.time and spec.time in frame else None
    summary = split.summary(y, ids, times)
    if split.note:
        notes.append(split.note)
    leak = None
    if leakage:
        columns, empty = _leakage_columns(frame, spec, split.train)
        if empty:
            notes.append(f"{len(empty)} column(s) have no value in the training rows and were left out of the "
                         f"leakage checks: {', '.join(empty)}")
        leak = run_leakage_checks(frame, y, spec, split, columns=columns, random_state=random_state)
    return DataCheck(report, summary, leak, tuple(notes))


def _leakage_columns(frame: pd.DataFrame, spec: DatasetSpec, train: np.ndarray) -> tuple[list[str], list[str]]:
    """The columns :func:`run_leakage_checks` would check by default, split into usable and empty ones.

    A column without a single value in the training rows carries no signal, and
    the quick models of the signal-share check cannot be fitted on it (e.g. a
    year-on-year change in a file holding one year).
    """
    roles = set(spec.role_columns) - set(spec.feature_names)
    columns = [c for c in spec.model_inputs if c in frame]
    columns += [c for c in frame.columns if c not in columns and c not in roles and not str(c).startswith("__")]
    rows = frame.iloc[train]
    empty = [c for c in columns if rows[c].isna().all()]
    return [c for c in columns if c not in empty], empty


def missing_table(report: QualityReport) -> pd.DataFrame:
    """Columns with missing values, most missing first: column, family, n_missing, pct_missing."""
    cols = report.columns
    out = cols.loc[cols["n_missing"] > 0, ["column", "family", "n_missing", "pct_missing"]]
    return out.sort_values(["pct_missing", "column"], ascending=[False, True]).reset_index(drop=True)


def violations_table(report: QualityReport, *, outliers: bool = False) -> pd.DataFrame:
    """Cells that are invalid (not a number, unknown category, outside the valid range), or the outliers.

    Columns: row, id, column, value, check, problem.
    """
    cells = report.cells
    mask = cells["check"].eq("outlier") if outliers else cells["check"].isin(_INVALID_CHECKS)
    return cells.loc[mask].reset_index(drop=True)


def leakage_checklist(findings: list[Any]) -> pd.DataFrame:
    """The leakage checklist as a table: check, title, status, columns, detail.

    ``findings`` are :class:`~riskcore.modelling.leakage.LeakageFinding` objects or their
    ``as_dict()`` form (as stored in a bundle's ``metrics.json``).
    """
    rows = []
    for f in findings:
        d = f.as_dict() if hasattr(f, "as_dict") else dict(f)
        rows.append({"check": d["check"], "title": _CHECK_TITLES.get(d["check"], d["check"].replace("_", " ")),
                     "status": d["status"], "columns": ", ".join(d.get("columns") or ()), "detail": d["detail"]})
    return pd.DataFrame(rows, columns=["check", "title", "status", "columns", "detail"])


def split_table(summary: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """A split summary (from :meth:`Split.summary` or ``metrics.json``) as a frame in train/validation/test order."""
    df = pd.DataFrame(summary)
    order = {"train": 0, "validation": 1, "test": 2}
    return df.sort_values("part", key=lambda s: s.map(order)).reset_index(drop=True)


# ---------------------------------------------------------------------------
# training runs
# ---------------------------------------------------------------------------

_RUN_COLUMNS = ["run_id", "model_version", "kind", "profile", "started", "status", "rows", "test_auc",
                "test_auc_lower", "test_auc_upper", "test_ece", "savings", "threshold", "registry_version",
                "champion", "label"]


def runs_table(runs: pd.DataFrame, versions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Training runs (``Tracker.runs()``) as a readable table, newest first.

    Columns: run_id, model_version, kind, profile, started (UTC, without a zone), status, rows,
    test_auc, test_auc_lower, test_auc_upper, test_ece, savings, threshold,
    registry_version, champion, label (``version · kind · test AUC 0.812 · champion``).
    """
    if runs is None or len(runs) == 0:
        return pd.DataFrame(columns=_RUN_COLUMNS)

    def col(name: str) -> pd.Series:
        return runs[name] if name in runs else pd.Series([None] * len(runs), index=runs.index)

    out = pd.DataFrame({
        "run_id": col("run_id").astype(str),
        "model_version": col("tags.model_version").fillna(col("tags.mlflow.runName")),
        "kind": col("tags.model_kind").fillna(col("params.kind")),
        "profile": col("params.profile"),
        "started": pd.to_datetime(col("start_time"), utc=True).dt.tz_convert(None),
        "status": col("status"),
        "rows": pd.to_numeric(col("params.rows"), errors="coerce"),
        "test_auc": pd.to_numeric(col("metrics.test.auc"), errors="coerce"),
        "test_auc_lower": pd.to_numeric(col("metrics.test.auc_ci_lower"), errors="coerce"),
        "test_auc_upper": pd.to_numeric(col("metrics.test.auc_ci_upper"), errors="coerce"),
        "test_ece": pd.to_numeric(col("metrics.test.ece_calibrated"), errors="coerce"),
        "savings": pd.to_numeric(col("metrics.business.savings"), errors="coerce"),
        "threshold": pd.to_numeric(col("metrics.threshold"), errors="coerce"),
    })
    reg = pd.Series([None] * len(out), index=out.index, dtype=object)
    champ = pd.Series(False, index=out.index)
    if versions is not None and len(versions):
        v = versions.drop_duplicates("run_id").set_index("run_id")
        reg = out["run_id"].map(v["version"]).astype(object)
        champ = out["run_id"].map(v["champion"]).fillna(False).astype(bool)
    out["registry_version"] = reg.where(reg.notna(), None)
    out["champion"] = champ
    auc = out["test_auc"].map(lambda a: "no test AUC" if pd.isna(a) else f"test AUC {a:.3f}")
    out["label"] = (out["model_version"].astype(str) + " · " + out["kind"].astype(str) + " · " + auc
                    + np.where(champ, " · champion", ""))
    return out.sort_values("started", ascending=False, kind="stable").reset_index(drop=True)[_RUN_COLUMNS]


def filter_runs(table: pd.DataFrame, *, kinds: list[str] | None = None, query: str = "") -> pd.DataFrame:
    """Rows of :func:`runs_table` of the chosen model kinds whose run id or version contains ``query``."""
    mask = np.ones(len(table), dtype=bool)
    if kinds:
        mask &= table["kind"].isin(kinds).to_numpy()
    q = (query or "").strip().casefold()
    if q:
        mask &= (table["run_id"].str.casefold().str.contains(q, regex=False)
                 | table["model_version"].astype(str).str.casefold().str.contains(q, regex=False)).to_numpy()
    return table[mask].reset_index(drop=True)


def candidates_table(candidates: pd.DataFrame) -> pd.DataFrame:
    """Candidates of one run (``Tracker.candidates()``), best first: kind, cv_auc_mean, cv_auc_std, chosen, params.

    ``params`` becomes readable text (``C=0.1, num_leaves=31``); empty values are dropped.
    """
    def text(params: Any) -> str:
        if not isinstance(params, dict):
            return ""
        kept = {k: v for k, v in params.items() if v is not None and not (isinstance(v, float) and np.isnan(v))}
        return ", ".join(f"{k}={v}" for k, v in sorted(kept.items()))

    out = candidates.copy()
    out["params"] = out["params"].map(text) if "params" in out else ""
    out["chosen"] = out["chosen"].fillna(False).astype(bool) if "chosen" in out else False
    return out.sort_values("cv_auc_mean", ascending=False, na_position="last").reset_index(drop=True)


def run_params_table(run: dict[str, Any]) -> pd.DataFrame:
    """Parameters of one run (``Tracker.run()``), sorted: parameter, value."""
    params = run.get("params") or {}
    return pd.DataFrame(sorted(params.items()), columns=["parameter", "value"])


def run_metrics_table(run: dict[str, Any]) -> pd.DataFrame:
    """Metrics of one run (``Tracker.run()``), grouped: group, metric, value.

    The group is the prefix of an MLflow metric name (``test.auc`` → ``test``).
    """
    rows = []
    for name, value in (run.get("metrics") or {}).items():
        group, _, metric = name.rpartition(".")
        rows.append({"group": group or "run", "metric": metric, "value": float(value)})
    order = {"test": 0, "business": 1, "validation": 2, "oracle": 3, "run": 4}
    df = pd.DataFrame(rows, columns=["group", "metric", "value"])
    return df.sort_values(["group", "metric"], key=lambda s: s.map(order).fillna(9) if s.name == "group" else s) \
        .reset_index(drop=True)


# ---------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------

def calibration_columns(holdout: pd.DataFrame) -> dict[str, str]:
    """Label → column of each probability the hold-out carries: the raw model output, isotonic, Platt."""
    named = {"Raw model output": "p_uncalibrated", "Isotonic": "p_isotonic", "Platt": "p_platt"}
    return {label: col for label, col in named.items() if col in holdout}


def calibration_table(rows: pd.DataFrame, columns: dict[str, str], *, chosen: str | None = None,
                      n_resamples: int = 200, n_bins: int = 10, random_state: int = 7) -> pd.DataFrame:
    """ECE (with a bootstrap interval), Brier score and mean PD of each probability column.

    Parameters
    ----------
    rows : scored rows with ``y`` and the columns named in ``columns``.
    columns : label → probability column (see :func:`calibration_columns`).
    chosen : the column in use (e.g. ``p_isotonic``), flagged ``in_use``.
    n_resamples, n_bins, random_state : of the ECE interval (uniform bins, as in ``metrics.json``).

    Returns
    -------
    pandas.DataFrame
        Columns: calibration, column, in_use, ece, ece_lower, ece_upper, brier, mean_pd, observed_rate.
        Every interval uses the same resamples, so the columns are compared pairwise.
    """
    y = rows["y"].to_numpy(dtype=float)
    out = []
    for label, col in columns.items():
        p = rows[col].to_numpy(dtype=float)
        lo, hi = bootstrap_ci(y, p, "ece", n_resamples, random_state=random_state, n_bins=n_bins)
        out.append({"calibration": label, "column": col, "in_use": col == chosen,
                    "ece": expected_calibration_error(y, p, n_bins=n_bins), "ece_lower": lo, "ece_upper": hi,
                    "brier": brier_score(y, p), "mean_pd": float(p.mean()), "observed_rate": float(y.mean())})
    return pd.DataFrame(out, columns=["calibration", "column", "in_use", "ece", "ece_lower", "ece_upper", "brier",
                                      "mean_pd", "observed_rate"])


def reliability_frame(rows: pd.DataFrame, columns: dict[str, str], *, n_bins: int = 10,
                      strategy: BinStrategy = "quantile") -> pd.DataFrame:
    """Reliability curves of several probability columns, stacked.

    Columns: curve (the label), bin, lower, upper, count, mean_predicted,
    observed_rate (see :func:`riskcore.modelling.calibration.reliability_curve`).
    """
    y = rows["y"].to_numpy(dtype=float)
    parts = [reliability_curve(y, rows[col].to_numpy(dtype=float), n_bins=n_bins, strategy=strategy)
             .assign(curve=label) for label, col in columns.items()]
    cols = ["curve", "bin", "lower", "upper", "count", "mean_predicted", "observed_rate"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


# ---------------------------------------------------------------------------
# performance
# ---------------------------------------------------------------------------

def score_columns(rows: pd.DataFrame) -> dict[str, str]:
    """Label → score column to compare: the model, and the logistic baseline when it scored every row."""
    out = {"Model": "p_default"}
    if "p_baseline" in rows and len(rows) and rows["p_baseline"].notna().all():
        out["Logistic baseline"] = "p_baseline"
    return out


def curves_frame(rows: pd.DataFrame, columns: dict[str, str], kind: CurveKind, *, n_resamples: int = 200,
                 random_state: int = 7) -> pd.DataFrame:
    """ROC or precision-recall curves with bootstrap bands of several score columns, stacked.

    Columns: model, then those of :func:`riskcore.evaluation.metrics.curve_with_band`
    (``fpr, tpr, tpr_lower, tpr_upper`` or ``recall, precision, precision_lower, precision_upper``).
    """
    y = rows["y"].to_numpy(dtype=float)
    parts = [curve_with_band(y, rows[col].to_numpy(dtype=float), kind, n_resamples=n_resamples,
                             random_state=random_state).assign(model=label) for label, col in columns.items()]
    out = pd.concat(parts, ignore_index=True)
    return out[["model"] + [c for c in out.columns if c != "model"]]


def gains_frame(rows: pd.DataFrame, columns: dict[str, str], n_bins: int = 10) -> pd.DataFrame:
    """Gains tables (:func:`~riskcore.evaluation.metrics.gains_table`) of several score columns, one per ``model``."""
    y = rows["y"].to_numpy(dtype=float)
    parts = [gains_table(y, rows[col].to_numpy(dtype=float), n_bins=n_bins).assign(model=label)
             for label, col in columns.items()]
    out = pd.concat(parts, ignore_index=True)
    return out[["model"] + [c for c in out.columns if c != "model"]]


def ks_curve(y_true: np.ndarray, y_prob: np.ndarray) -> pd.DataFrame:
    """Cumulative score distributions of defaulters and non-defaulters, and their gap.

    Row ``k`` is the cut-off at the ``k``-th distinct score (ascending): the
    share of defaulters and of non-defaulters scored below it. The largest gap is
    the KS statistic (:func:`riskcore.evaluation.metrics.ks_statistic`).

    Returns
    -------
    pandas.DataFrame
        Columns: threshold, defaults_below, non_defaults_below, gap.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_prob, dtype=float)
    order = np.argsort(p, kind="stable")
    ps, ys = p[order], y[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ps)) + 1]
    pos = np.add.reduceat(ys, starts) if len(ys) else np.zeros(0)
    size = np.diff(np.r_[starts, len(ps)])
    n_pos, n_neg = ys.sum(), len(ys) - ys.sum()
    below_pos = np.r_[0.0, np.cumsum(pos)] / max(n_pos, 1)
    below_neg = np.r_[0.0, np.cumsum(size - pos)] / max(n_neg, 1)
    thresholds = np.r_[ps[starts], np.nextafter(ps[-1], np.inf)] if len(ps) else np.zeros(1)
    return pd.DataFrame({"threshold": thresholds, "defaults_below": below_pos, "non_defaults_below": below_neg,
                         "gap": below_neg - below_pos})


def performance_table(rows: pd.DataFrame, columns: dict[str, str], *, n_resamples: int = 200,
                      random_state: int = 7) -> pd.DataFrame:
    """Headline discrimination and calibration metrics of several score columns, with bootstrap intervals.

    Every interval uses the same resamples (same seed and rows), so the models
    are compared on the same draws. Columns: model, metric, value, lower, upper;
    metrics AUC, Gini, PR-AUC, KS, Brier, ECE.
    """
    y = rows["y"].to_numpy(dtype=float)
    out = []
    for label, col in columns.items():
        p = rows[col].to_numpy(dtype=float)
        for name, metric, value in (("AUC", "auc", roc_auc(y, p)), ("PR-AUC", "pr_auc", pr_auc(y, p)),
                                    ("KS", "ks", ks_statistic(y, p)), ("Brier", "brier", brier_score(y, p)),
                                    ("ECE", "ece", expected_calibration_error(y, p))):
            lo, hi = bootstrap_ci(y, p, metric, n_resamples, random_state=random_state)  # type: ignore[arg-type]
            out.append({"model": label, "metric": name, "value": value, "lower": lo, "upper": hi})
            if metric == "auc":
                out.append({"model": label, "metric": "Gini", "value": gini(value), "lower": gini(lo),
                            "upper": gini(hi)})
    return pd.DataFrame(out, columns=["model", "metric", "value", "lower", "upper"])


# ---------------------------------------------------------------------------
# sectors
# ---------------------------------------------------------------------------

def esg_columns(spec: DatasetSpec) -> list[str]:
    """The ESG pillar scores of a spec (ESG features measured as a 0-100 score)."""
    return [f.name for f in spec.features if f.family == "esg" and f.unit == "score"]


def sector_table(rows: pd.DataFrame, segment: str, *, n_resamples: int = 200, min_defaults: int = 30,
                 random_state: int = 7) -> pd.DataFrame:
    """Per-segment rows, defaults, AUC with interval, observed vs predicted rate and ECE.

    See :func:`riskcore.evaluation.metrics.segment_table`; segments with fewer than
    ``min_defaults`` defaults are flagged ``small``.
    """
    return segment_table(rows["y"].to_numpy(dtype=float), rows["p_default"].to_numpy(dtype=float),
                         rows[segment].astype(object).where(rows[segment].notna(), None).to_numpy(),
                         n_resamples=n_resamples, min_defaults=min_defaults, random_state=random_state)


def small_segments_note(table: pd.DataFrame, min_defaults: int = 30) -> str | None:
    """A warning naming the segments with too few defaults for trustworthy metrics, or ``None``."""
    small = table[table["small"]]
    if not len(small):
        return None
    names = ", ".join(f"{s} ({d})" for s, d in zip(small["segment"], small["defaults"]))
    return (f"{len(small)} of {len(table)} segment(s) have fewer than {min_defaults} defaults, so their AUC and "
            f"calibration are noisy — read the intervals, not the point values: {names}.")


# ---------------------------------------------------------------------------
# companies
# ---------------------------------------------------------------------------

def company_table(rows: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """One line per company-period, riskiest first: position, key, label, id, name, period, segment, p_default, grade.

    ``position`` is the row's position in ``rows``; ``key`` is unique
    (``id period``, or the position when there is no id); ``label`` reads
    ``C00012 · Acme Holding · 2024 · PD 3.1%``.
    """
    n = len(rows)
    ids = rows[spec.id].astype(str) if spec.id and spec.id in rows else pd.Series(
        [f"row {i + 1}" for i in range(n)], index=rows.index)
    names = rows[spec.name_column].astype(object).where(rows[spec.name_column].notna(), "") \
        if spec.name_column and spec.name_column in rows else pd.Series([""] * n, index=rows.index)
    period = rows[spec.time].astype(str) if spec.time and spec.time in rows else pd.Series([""] * n, index=rows.index)
    key = (ids + " " + period).str.strip()
    p = rows["p_default"].to_numpy(dtype=float)
    label = [" · ".join(x for x in (i, str(nm), t, f"PD {q:.1%}") if x) for i, nm, t, q in zip(ids, names, period, p)]
    out = pd.DataFrame({"position": np.arange(n), "key": key.to_numpy(), "label": label, "id": ids.to_numpy(),
                        "name": names.to_numpy(), "period": period.to_numpy(),
                        "segment": rows[spec.segment].to_numpy() if spec.segment and spec.segment in rows else None,
                        "p_default": p, "grade": grade_of(p)})
    return out.sort_values(["p_default", "key"], ascending=[False, True], kind="stable").reset_index(drop=True)


def find_companies(table: pd.DataFrame, query: str) -> pd.DataFrame:
    """Rows of :func:`company_table` whose id or name contains ``query``, ignoring case (all for an empty query)."""
    q = (query or "").strip().casefold()
    if not q:
        return table
    hit = table["id"].str.casefold().str.contains(q, regex=False) | \
        table["name"].astype(str).str.casefold().str.contains(q, regex=False)
    return table[hit.to_numpy()].reset_index(drop=True)


def company_record(rows: pd.DataFrame, position: int, spec: DatasetSpec) -> dict[str, Any]:
    """One company's model inputs (and exposure) as plain Python values, missing as ``None``.

    This is the record :func:`riskcore.serving.explain.what_if` and :func:`riskcore.serving.scoring.score_one` take.
    """
    cols = [c for c in (*spec.model_inputs, spec.exposure) if c and c in rows]
    row = rows.iloc[position]
    out: dict[str, Any] = {}
    for c in cols:
        v = row[c]
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            out[c] = None
        elif isinstance(v, np.generic):
            out[c] = v.item()
        else:
            out[c] = v
    return out


def whatif_features(spec: DatasetSpec) -> list[str]:
    """Numeric features a credit officer may change in the what-if editor: the spec's key ratios."""
    return [f.name for f in spec.features if f.kind == "numeric" and f.key]


def waterfall_frame(explanation: Any, spec: DatasetSpec, row: int = 0, *, top: int = 8,
                    scale: Literal["pd", "logodds"] = "pd") -> pd.DataFrame:
    """The bars of a contribution waterfall from the average company to this one.

    In ``pd`` terms the first bar is the base PD (the calibrated PD of the
    average raw score) and the feature bars add up exactly to the company's
    PD (see :mod:`riskcore.serving.explain`); in ``logodds`` terms they add up to its
    raw score. The ``top`` largest effects get a bar each; the rest are summed
    into one "other features" bar.

    Returns
    -------
    pandas.DataFrame
        Columns: step (``base``, ``feature``, ``other``, ``total``), feature,
        label, value (the company's value, as text), delta (the bar's
        contribution; for ``base`` and ``total`` the level itself), end (the
        running total after the bar).
    """
    contrib = "contribution_pd" if scale == "pd" else "contribution_logodds"
    totals = explanation.totals.iloc[row]
    base = float(totals["base_pd"] if scale == "pd" else totals["base_raw"])
    end_value = float(totals["p_default"] if scale == "pd" else totals["raw"])
    w = explanation.frame[explanation.frame["row"] == row]
    w = w.reindex(w[contrib].abs().sort_values(ascending=False, kind="stable").index)
    head, rest = w.head(top), w.iloc[top:]
    records = [{"step": "base", "feature": None, "label": "Average company", "value": "", "delta": base}]
    for r in head.itertuples():
        f = spec.feature(str(r.feature)) if spec.has_feature(str(r.feature)) else None
        value = f.format_value(r.value) if f is not None else str(r.value)
        records.append({"step": "feature", "feature": r.feature, "label": r.label, "value": value,
                        "delta": float(getattr(r, contrib))})
    if len(rest):
        records.append({"step": "other", "feature": None, "label": f"{len(rest)} other features", "value": "",
                        "delta": float(rest[contrib].sum())})
    out = pd.DataFrame(records)
    out["end"] = out["delta"].cumsum()
    total = pd.DataFrame([{"step": "total", "feature": None, "label": "This company", "value": "",
                           "delta": end_value, "end": end_value}])
    return pd.concat([out, total], ignore_index=True)


# ---------------------------------------------------------------------------
# portfolio scoring
# ---------------------------------------------------------------------------

def filter_scores(scores: pd.DataFrame, *, grades: list[str] | None = None,
                  decisions: list[str] | None = None) -> pd.DataFrame:
    """Scored rows whose grade and decision are among the chosen ones (``None`` or empty: all)."""
    mask = np.ones(len(scores), dtype=bool)
    if grades:
        mask &= scores["grade"].astype(str).isin(grades).to_numpy()
    if decisions:
        mask &= scores["decision"].isin(decisions).to_numpy()
    return scores[mask].reset_index(drop=True)


def scored_portfolio(result: ScoreResult, spec: DatasetSpec) -> pd.DataFrame:
    """The typed inputs of the scored rows with their ``p_default`` (for :func:`expected_loss_by_segment`)."""
    return result.inputs.reset_index(drop=True).assign(p_default=result.scores["p_default"].to_numpy())


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as UTF-8 CSV bytes, formula injection neutralised (:func:`riskcore.data.tabular.write_csv`)."""
    buffer = io.BytesIO()
    write_csv(frame, buffer)
    return buffer.getvalue()
