"""The dashboard's tables: what a page lists, filters and offers for download.

These shape engine results for a view (readable run tables, company search,
the what-if record, the waterfall's bars, CSV downloads), so they live with the
dashboard, not in the engine. They import no Streamlit, so they are tested as
plain functions.
"""

from __future__ import annotations

import io
from typing import Any, Literal

import numpy as np
import pandas as pd

from riskcore.evaluation import grade_of
from riskcore.workbench import DatasetSpec, Explanation, Job, QualityReport, ScoreResult, write_csv

__all__ = [
    "candidates_table",
    "company_record",
    "company_table",
    "csv_bytes",
    "filter_runs",
    "filter_scores",
    "find_companies",
    "leakage_checklist",
    "retrain_jobs_table",
    "missing_table",
    "run_metrics_table",
    "run_params_table",
    "runs_table",
    "scored_portfolio",
    "split_table",
    "violations_table",
    "waterfall_frame",
    "whatif_features",
]

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


_RETRAIN_COLUMNS = ["submitted", "trigger", "by", "state", "decision", "reason", "champion", "challenger", "gate",
                    "ended", "job"]


def retrain_jobs_table(jobs: list[Job]) -> pd.DataFrame:
    """Runs of the retraining loop (``Workbench.jobs(kind="retrain")``), newest first, as a readable table.

    Columns: submitted and ended (UTC, without a zone; ended empty while it runs), trigger (``dashboard``,
    ``command``, ``schedule``, ``alert:…``), by (who submitted it), state (queued … cancelled), decision
    (``promoted``, ``awaiting signoff``, ``gate failed``, ``stopped``), reason (the decision's, or the error),
    champion and challenger (the versions), gate (``passed``, ``failed``, empty when it was not reached), job.
    """
    def stamp(ts: float) -> pd.Timestamp | None:
        return pd.Timestamp(ts, unit="s") if ts else None

    rows = []
    for job in jobs:
        r = job.result
        passed = r.get("gate_passed")
        rows.append({
            "submitted": stamp(job.created), "trigger": str(job.params.get("trigger") or ""), "by": job.caller,
            "state": job.state, "decision": str(r.get("decision") or "").replace("_", " "),
            "reason": str(r.get("reason") or job.error or ""), "champion": str(r.get("champion") or ""),
            "challenger": str(r.get("challenger") or ""),
            "gate": "" if passed is None else ("passed" if passed else "failed"), "ended": stamp(job.finished),
            "job": job.id})
    out = pd.DataFrame(rows, columns=_RETRAIN_COLUMNS)
    for col in ("submitted", "ended"):
        out[col] = pd.to_datetime(out[col])
    return out


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
# companies
# ---------------------------------------------------------------------------

def company_table(rows: pd.DataFrame, spec: DatasetSpec, graded: np.ndarray | None = None) -> pd.DataFrame:
    """One line per company-period, riskiest first: position, key, label, id, name, period, segment, p_default, grade.

    ``position`` is the row's position in ``rows``; ``key`` is unique
    (``id period``, or the position when there is no id); ``label`` reads
    ``C00012 · Acme Holding · 2024 · PD 3.1%``. ``graded``: the PDs the grades follow when they are not
    ``p_default`` (a model grading through the cycle).
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
                        "p_default": p, "grade": grade_of(p if graded is None else graded)})
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

    This is the record :func:`riskcore.serving.scoring.what_if` and :func:`riskcore.serving.scoring.score_one` take.
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


def waterfall_frame(explanation: Explanation, spec: DatasetSpec, row: int = 0, *, top: int = 8,
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
    records: list[dict[str, Any]] = [{"step": "base", "feature": None, "label": "Average company", "value": "",
                                      "delta": base}]
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
    """The typed inputs of the scored rows with their ``p_default``.

    This is the frame :func:`riskcore.evaluation.report.expected_loss_by_segment` takes.
    """
    return result.inputs.reset_index(drop=True).assign(p_default=result.scores["p_default"].to_numpy())


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as UTF-8 CSV bytes, formula injection neutralised (:func:`riskcore.data.tabular.write_csv`)."""
    buffer = io.BytesIO()
    write_csv(frame, buffer)
    return buffer.getvalue()
