"""``metrics["lifetime"]``: the model's lifetime PD term structures and their back-test, measured at training time.

The model report's lifetime-PD section reads this block; nothing is measured when the report is written.
From every prepared row of the run scored with the run's calibrated PD:

* both term structures of :mod:`riskcore.evaluation.lifetime` (hazard, migration) are estimated on the
  **training rows** (the years the model learned from), and each grade's cumulative PD by year ahead is
  recorded for a company at the grade's mean PD (:func:`~riskcore.evaluation.lifetime.term_structures`);
* the **back-test**: every company-year of the panel starts a cohort (by its fiscal year, and by the grade of
  its PD); a cohort's realised cumulative default rate at *k* years is ``1 − Π (1 − d_j / n_j)`` over the
  years *j* ≤ *k* after its start, with ``n_j`` the companies still observed at the start of year *j* and
  ``d_j`` those that defaulted in it (a company that leaves the panel, or reaches its last year, leaves the
  risk set: a Kaplan–Meier estimate, comparable with a curve that assumes nobody leaves). The estimate of
  the same cohort is the mean of its companies' own curves (each company's PD carried forward by the
  method). Cohorts whose years are all training years are marked in-sample.
* the **known truth** (``truth``, the demo portfolio only: :func:`riskcore.data.demo_truth.demo_lifetime_truth`):
  the generator's truth is simulated from where its process stood after the panel's last year, so it is held
  against the companies of that year (:func:`~riskcore.evaluation.lifetime.against_truth`: each grade's mean
  true cumulative PD by year ahead against both methods' estimates, the grade of the model's PD). Those rows
  are usually held-out rows (an out-of-time split tests on the last years) while both term structures come
  from the training years: an honest test of the curves, and of the model's 12-month PD in year 1.

A panel without a company id or a fiscal year, or without a default among the training rows, gets a block
that says why (``note``) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from riskcore.data.schema import DatasetSpec
from riskcore.evaluation.grading import MASTER_SCALE, grade_index
from riskcore.evaluation.lifetime import (
    LIFETIME_METHODS,
    GradeHazards,
    MigrationMatrix,
    PanelOutcomes,
    against_truth,
    grade_hazards,
    lifetime_curves,
    migration_matrix,
    term_structures,
)

__all__ = ["LIFETIME_YEARS", "SUMMARY_MIN_COMPANIES", "SUMMARY_YEAR", "TRUTH_PATHS", "chains", "cohort_outcomes",
           "lifetime_block", "truth_block"]

LIFETIME_YEARS = 5
"""Years ahead the block's term structures and back-test cover (the ``[provisions]`` default term)."""
SUMMARY_YEAR, SUMMARY_MIN_COMPANIES = 3, 100
"""The summary's horizon, and the company-years a grade needs to be judged in it."""
TRUTH_PATHS = 50
"""Simulated paths per company of the demo's known truth at training: on the 5,000-company demo a grade's mean
true 3-year PD has a standard deviation of at most 0.3 point (3.4% of it) between simulations in grades of 100
companies or more (each path's survival is an expectation over the default draws; what varies is the paths'
sector shocks and conditions)."""
_GRADES = tuple(g.name for g in MASTER_SCALE)


def chains(panel: PanelOutcomes, years: int) -> np.ndarray:
    """(years, n): for each row, the same company's row ``k`` years later with every year between (-1: none)."""
    out = np.full((years, len(panel.ids)), -1, dtype=np.int64)
    out[0] = np.arange(len(panel.ids))
    for k in range(1, years):
        step = panel.ahead(k)
        out[k] = np.where((out[k - 1] >= 0) & (step >= 0), step, -1)
    return out


def cohort_outcomes(panel: PanelOutcomes, starts: np.ndarray, years: int, *,
                    chained: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Companies at risk and defaults in each year after the cohort's start rows (``starts``: row positions).

    ``chained``: :func:`chains` of the panel, when the caller has it already (it is the costly part).

    Returns
    -------
    tuple of arrays
        ``at_risk`` and ``defaults``, each ``(years,)``: year *k*'s companies still observed at its start (the
        company's rows unbroken since the start) and those of them that defaulted in it.
    """
    links = chains(panel, years) if chained is None else chained
    at_risk, defaults = np.zeros(years), np.zeros(years)
    for k in range(years):
        alive = links[k][np.asarray(starts, dtype=np.int64)]
        ok = alive[alive >= 0]
        at_risk[k] = len(ok)
        defaults[k] = float(panel.defaults[ok].sum())
    return at_risk, defaults


def _realised(at_risk: np.ndarray, defaults: np.ndarray) -> list[float | None]:
    """Kaplan–Meier cumulative default rate by year; None from the first year with nobody at risk."""
    out: list[float | None] = []
    survival = 1.0
    for n, d in zip(at_risk, defaults, strict=True):
        if n <= 0:
            out.append(None)
            survival = float("nan")
            continue
        survival *= 1.0 - d / n
        out.append(None if not np.isfinite(survival) else float(1.0 - survival))
    return out


def _rows(label: dict[str, Any], at_risk: np.ndarray, defaults: np.ndarray,
          estimates: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    realised = _realised(at_risk, defaults)
    return [{**label, "year": k + 1, "at_risk": int(at_risk[k]), "defaults": int(defaults[k]),
             "realised": realised[k], **{m: float(e[k]) for m, e in estimates.items()}}
            for k in range(len(at_risk)) if at_risk[k] > 0]


def _plain(value: Any) -> Any:
    """A record's value as JSON keeps it: floats and ints as such, NaN as None, anything else as text."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return str(value)


def truth_block(p_default: np.ndarray, ids: np.ndarray, truth: pd.DataFrame, spec: DatasetSpec, *,
                hazards: GradeHazards, migration: MigrationMatrix, training: np.ndarray, paths: int,
                years: int = LIFETIME_YEARS) -> dict[str, Any] | None:
    """Both term structures against a known truth by grade and year ahead, with the summary (module notes).

    Parameters
    ----------
    p_default, ids, training : the model's PD, the company id and whether it is a training row, for each
        company-year of the truth's fiscal year (one row per company).
    truth : :func:`~riskcore.data.synth.true_lifetime_pd`'s frame (the id, the fiscal year, ``true_cum_pd_1`` …).
    hazards, migration : the term structures estimated on the training rows.
    paths : the simulated paths per company behind ``truth``.
    years : years ahead, at most the truth's.

    Returns
    -------
    dict or None
        ``year`` (the fiscal year the truth starts from), ``years``, ``paths``, ``companies`` (in both),
        ``training_rows`` (of them, rows the model was trained on), ``by_grade`` (grade, year, companies,
        true_pd, hazard_pd, migration_pd, hazard_error, migration_error: the estimate relative to the truth,
        minus 1) and ``summary`` (``year``, ``grades`` judged: those with at least 100 companies, each method's
        mean absolute relative error at that year, and ``better``: the method with the smaller one); ``None``
        when the truth has no company of the panel.
    """
    columns = [f"true_cum_pd_{k}" for k in range(1, years + 1) if f"true_cum_pd_{k}" in truth]
    if spec.id not in truth or spec.time not in truth or not columns:
        return None
    position = pd.Index(np.asarray(ids).astype(str)).get_indexer(truth[spec.id].astype(str))
    found = position >= 0
    if not found.any():
        return None
    at = position[found]
    frame = against_truth(np.asarray(p_default, dtype=float)[at], truth.loc[found, columns].to_numpy(dtype=float),
                          hazards=hazards, migration=migration)
    by_grade = [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
    horizon = min(SUMMARY_YEAR, len(columns))
    judged = [r for r in by_grade if r["year"] == horizon and r["companies"] >= SUMMARY_MIN_COMPANIES
              and r["true_pd"]]
    errors = {m: float(np.mean([abs(r[f"{m}_error"]) for r in judged])) if judged else None for m in LIFETIME_METHODS}
    ranked = sorted((e, m) for m, e in errors.items() if e is not None)
    better = ranked[0][1] if ranked and (len(ranked) == 1 or ranked[0][0] < ranked[1][0]) else None
    return {"year": int(pd.to_numeric(truth[spec.time]).max()), "years": len(columns), "paths": int(paths),
            "companies": int(found.sum()), "training_rows": int(np.asarray(training, dtype=bool)[at].sum()),
            "by_grade": by_grade,
            "summary": {"year": horizon, "grades": len(judged), **{f"{m}_error": e for m, e in errors.items()},
                        "better": better}}


def lifetime_block(p_of: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame, y: np.ndarray,
                   train_rows: np.ndarray, spec: DatasetSpec, years: int = LIFETIME_YEARS, *,
                   truth: pd.DataFrame | None = None, truth_paths: int = TRUTH_PATHS) -> dict[str, Any]:
    """The term structures and their back-test by cohort and by grade (module notes).

    Parameters
    ----------
    p_of : the run's calibrated PD of a frame of model inputs.
    frame, y : every prepared row of the run (with the id and time columns) and its outcomes.
    train_rows : the positions of the training rows in ``frame``.
    spec : the dataset spec (its id and time columns).
    years : years ahead.
    truth : the demo's known truth (:func:`~riskcore.data.synth.true_lifetime_pd`, ``truth_paths`` paths per
        company), or ``None`` for any other data.

    Returns
    -------
    dict
        ``years``, ``training_rows``, ``training_periods`` ([first, last]), ``term_structures`` (grade, year,
        mean_pd, hazard_pd, migration_pd), ``summary`` (``year``, ``grades`` judged: those with at least 100
        company-years, each method's mean relative error against the realised rate at that year),
        ``by_cohort`` (cohort, in_sample, companies, year, at_risk, defaults, realised, hazard, migration) and
        ``by_grade`` (grade, companies, the same), and with a truth ``truth`` (:func:`truth_block`; absent when
        no company of the truth is in the panel); or ``note`` alone when the panel cannot give them.
    """
    if not spec.id or not spec.time or spec.id not in frame or spec.time not in frame:
        return {"note": "the data has no company id or fiscal year column, so no company can be followed over years"}
    periods = pd.to_numeric(frame[spec.time], errors="coerce")
    keep = periods.notna().to_numpy() & ~pd.MultiIndex.from_arrays([frame[spec.id].astype(str), periods]).duplicated()
    rows = np.flatnonzero(keep)
    p = np.asarray(p_of(frame.iloc[rows]), dtype=float)
    panel = PanelOutcomes(frame[spec.id].astype(str).to_numpy()[rows], periods.to_numpy()[rows].astype(np.int64), p,
                          np.asarray(y)[rows].astype(np.int64))
    in_train = np.isin(rows, np.asarray(train_rows))
    train = PanelOutcomes(panel.ids[in_train], panel.periods[in_train], p[in_train], panel.defaults[in_train])
    try:
        hazards = grade_hazards(train, years)
        migration = migration_matrix(train)
    except ValueError as err:
        return {"note": f"the term structures cannot be estimated from the training rows: {err}"}
    curves = {m: lifetime_curves(p, years, m, hazards=hazards, migration=migration).cumulative  # type: ignore[arg-type]
              for m in LIFETIME_METHODS}
    last_train = int(train.periods.max())
    linked = chains(panel, years)
    by_cohort: list[dict[str, Any]] = []
    for cohort in np.unique(panel.periods):
        starts = np.flatnonzero(panel.periods == cohort)
        at_risk, defaults = cohort_outcomes(panel, starts, years, chained=linked)
        label = {"cohort": int(cohort), "in_sample": bool(cohort + years - 1 <= last_train), "companies": len(starts)}
        by_cohort += _rows(label, at_risk, defaults, {m: c[starts].mean(axis=0) for m, c in curves.items()})
    grades = grade_index(p)
    by_grade: list[dict[str, Any]] = []
    for g in np.unique(grades):
        starts = np.flatnonzero(grades == g)
        at_risk, defaults = cohort_outcomes(panel, starts, years, chained=linked)
        by_grade += _rows({"grade": _GRADES[g], "companies": len(starts)}, at_risk, defaults,
                          {m: c[starts].mean(axis=0) for m, c in curves.items()})
    structures = term_structures(hazards, migration, years)
    horizon = min(SUMMARY_YEAR, years)
    judged = [r for r in by_grade if r["year"] == horizon and r["companies"] >= SUMMARY_MIN_COMPANIES
              and r["realised"]]
    summary = {"year": horizon, "grades": len(judged),
               **{f"{m}_error": (float(np.mean([abs(r[m] / r["realised"] - 1.0) for r in judged])) if judged else None)
                  for m in LIFETIME_METHODS}}
    block = {"years": int(years), "training_rows": int(in_train.sum()), "summary": summary,
             "training_periods": [int(train.periods.min()), last_train],
             "term_structures": [{k: _plain(v) for k, v in r.items()} for r in structures.to_dict("records")],
             "by_cohort": by_cohort, "by_grade": by_grade}
    if truth is not None and spec.time in truth and len(truth):
        year = pd.to_numeric(truth[spec.time], errors="coerce").max()
        start = panel.periods == year
        known = truth_block(p[start], panel.ids[start], truth[pd.to_numeric(truth[spec.time], errors="coerce") == year],
                            spec, hazards=hazards, migration=migration, training=in_train[start], paths=truth_paths,
                            years=years)
        if known is not None:
            block["truth"] = known
    return block
