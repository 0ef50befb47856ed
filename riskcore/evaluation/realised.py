"""What the outcomes say once they arrive, and how companies moved between grades.

:func:`realised_performance` joins the outcomes (id, period, 0/1) to the scored
rows and measures the model as a validator does after the fact: AUC, Gini, KS,
ECE, calibration-in-the-large, the per-grade back-test and the back-test by
vintage (period). :func:`grade_migration` counts, for companies scored in two
consecutive periods, the grade they moved from and to.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskcore.evaluation.backtest import (
    binomial_p_value,
    calibration_in_the_large,
    expected_auc,
    grade_backtest,
    jeffreys_interval,
    traffic_light,
)
from riskcore.evaluation.grading import grade_index, grade_of
from riskcore.evaluation.metrics import gini, ks_statistic, roc_auc
from riskcore.evaluation.reference import GRADE_NAMES
from riskcore.evaluation.reliability import expected_calibration_error

__all__ = ["Realised", "grade_migration", "join_outcomes", "realised_performance"]


@dataclass(frozen=True)
class Realised:
    """Realised performance: the summary numbers, the per-grade back-test and the back-test by vintage."""

    summary: dict[str, Any]
    grades: list[dict[str, Any]]
    vintages: list[dict[str, Any]]


def _key(values: pd.Series) -> pd.Series:
    """Join keys as text, whole numbers without a decimal point (``2024.0`` and ``"2024"`` match).

    Text that is already all digits is kept as written, so ids ``"007"`` and ``"7"`` stay two companies.
    """
    values = values.astype(object)
    numbers = pd.to_numeric(values, errors="coerce")
    text = values.astype(str).str.strip()
    whole = numbers.notna() & (numbers % 1 == 0) & ~text.str.fullmatch(r"-?\d+").fillna(False).astype(bool)
    return text.where(~whole, numbers.where(whole).astype("Int64").astype(str))


def join_outcomes(rows: pd.DataFrame, outcomes: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """The scored rows that have an outcome, with column ``y``; say in ``notes`` what did not match.

    Parameters
    ----------
    rows : DataFrame
        ``id``, ``period``, ``p_default`` of the scored rows.
    outcomes : DataFrame
        ``id``, ``period`` (optional), ``y``.
    notes : list of str
        Appended to: outcomes without a scored row, scored rows without an outcome, repeated outcomes.

    Returns
    -------
    DataFrame
        ``id, period, p_default, y`` of the matched rows.
    """
    by_period = "period" in outcomes and outcomes["period"].notna().any()
    keys = ["id", "period"] if by_period else ["id"]
    left = rows.assign(**{f"_{k}": _key(rows[k]) for k in keys})
    right = outcomes.assign(**{f"_{k}": _key(outcomes[k]) for k in keys})
    join = [f"_{k}" for k in keys]
    repeated = right.duplicated(join, keep="first")
    if repeated.any():
        notes.append(f"{int(repeated.sum()):,} outcome row(s) repeat an id{' and period' if by_period else ''}; "
                     "the first of each was used")
        right = right[~repeated]
    merged = left.merge(right[[*join, "y"]], on=join, how="left", indicator=False)
    matched = merged[merged["y"].notna()]
    unmatched = len(right) - len(matched)
    if unmatched:
        notes.append(f"{unmatched:,} outcome(s) match no scored row (by id{' and period' if by_period else ''}) "
                     "and were left out")
    missing = len(merged) - len(matched)
    if missing:
        notes.append(f"{missing:,} scored row(s) have no outcome yet; the realised figures cover "
                     f"{len(matched):,} rows")
    return matched[["id", "period", "p_default", "y"]].assign(y=lambda f: f["y"].astype(np.int64))


def _vintage(period: Hashable, p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The back-test of one period: predicted against observed defaults, with its interval and light."""
    n, d = int(len(y)), int(y.sum())
    predicted = float(p.mean()) if n else float("nan")
    low, high = jeffreys_interval(d, n)
    return {"period": period, "n": n, "predicted_pd": predicted, "defaults": d,
            "observed_rate": d / n if n else float("nan"), "jeffreys_low": low, "jeffreys_high": high,
            "p_value": binomial_p_value(d, n, predicted) if n else 1.0,
            "traffic_light": traffic_light(d, n, predicted) if n else "green",
            "auc": roc_auc(y, p) if n else float("nan"),
            "expected_auc": expected_auc(p, n_draws=0)[0] if n > 1 else float("nan")}


def realised_performance(rows: pd.DataFrame, outcomes: pd.DataFrame, periods: list[Hashable],
                         notes: list[str]) -> Realised:
    """Measure the scored rows against the outcomes that arrived (see the module docstring).

    Parameters
    ----------
    rows : DataFrame
        ``id``, ``period``, ``p_default`` of the scored rows.
    outcomes : DataFrame
        ``id``, ``period``, ``y``.
    periods : list
        The periods, in order.
    notes : list of str
        Appended to (see :func:`join_outcomes`).

    Returns
    -------
    Realised
    """
    matched = join_outcomes(rows, outcomes, notes)
    p, y = matched["p_default"].to_numpy(dtype=np.float64), matched["y"].to_numpy()
    n = int(len(y))
    auc = roc_auc(y, p) if n else float("nan")
    citl = calibration_in_the_large(p, y)
    summary = {"n": n, "defaults": int(y.sum()), "default_rate": float(y.mean()) if n else float("nan"),
               "auc": auc, "gini": gini(auc), "ks": ks_statistic(y, p) if n else float("nan"),
               "ece": float(expected_calibration_error(y, p)) if n else float("nan"),
               "calibration_in_the_large": {"predicted": citl.predicted, "observed": citl.observed,
                                            "difference": citl.difference, "p_value": citl.p_value}}
    table = grade_backtest(grade_of(p), p, y) if n else pd.DataFrame(columns=["grade"])
    records: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in table.to_dict(orient="records")]
    grades = sorted(records, key=lambda g: GRADE_NAMES.index(str(g["grade"])))
    period_of = matched["period"].to_numpy(dtype=object)
    vintages = [_vintage(lab, p[period_of == lab], y[period_of == lab]) for lab in periods
                if (period_of == lab).any()]
    return Realised(summary, grades, vintages)


def grade_migration(rows: pd.DataFrame, periods: list[Hashable]) -> dict[str, Any] | None:
    """Grade migration of the companies scored in two consecutive periods, pooled over the pairs.

    Parameters
    ----------
    rows : DataFrame
        ``id``, ``period``, ``p_default``; a company's last row in a period stands for it.
    periods : list
        The periods, in order.

    Returns
    -------
    dict or None
        ``grades`` (the master scale), ``matrix`` (``matrix[i][j]``: companies from grade ``i`` to ``j``;
        a higher grade is a higher PD, so ``j > i`` is a downgrade),
        ``pairs`` (the period pairs), ``companies``, ``upgrades``, ``downgrades``, ``unchanged``; None when no
        company appears in two consecutive periods.
    """
    if len(periods) < 2 or rows["id"].isna().all():
        return None
    frame = rows.dropna(subset=["id"]).assign(id=lambda f: f["id"].astype(str))
    frame = frame.drop_duplicates(["id", "period"], keep="last")
    frame["g"] = grade_index(frame["p_default"].to_numpy(dtype=np.float64))
    k = len(GRADE_NAMES)
    matrix = np.zeros((k, k), dtype=np.int64)
    pairs = []
    for before, after in zip(periods[:-1], periods[1:], strict=True):
        a = frame[frame["period"] == before].set_index("id")["g"]
        b = frame[frame["period"] == after].set_index("id")["g"]
        both = a.index.intersection(b.index)
        if len(both):
            np.add.at(matrix, (a.loc[both].to_numpy(), b.loc[both].to_numpy()), 1)
            pairs.append({"from": before, "to": after, "companies": int(len(both))})
    total = int(matrix.sum())
    if total == 0:
        return None
    return {"grades": list(GRADE_NAMES), "matrix": matrix.tolist(), "pairs": pairs, "companies": total,
            "upgrades": int(np.tril(matrix, -1).sum()), "downgrades": int(np.triu(matrix, 1).sum()),
            "unchanged": int(np.trace(matrix))}
