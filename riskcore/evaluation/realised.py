"""What the outcomes say once they arrive, and how companies moved between grades.

:func:`realised_performance` joins the outcomes (id, period, 0/1) to the scored
rows and measures the model as a validator does after the fact: AUC, Gini, KS,
ECE, calibration-in-the-large, the per-grade back-test and the back-test by
vintage (period). :func:`grade_migration` counts, for companies scored in two
consecutive periods, the grade they moved from and to.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
    """Realised performance: the summary numbers, the per-grade back-test, the back-test by vintage, the rows.

    ``matched``: the scored rows that have an outcome (``p_default``, ``y``, …), which the validation
    battery tests.
    """

    summary: dict[str, Any]
    grades: list[dict[str, Any]]
    vintages: list[dict[str, Any]]
    matched: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


_WHOLE_DECIMAL = r"^(-?\d+)\.0*$"


def _key(values: pd.Series) -> pd.Series:
    """Join keys as text, whole numbers without a decimal point (``2024.0`` and ``"2024"`` match).

    Text that is already all digits is kept as written, so ids ``"007"`` and ``"7"`` stay two companies.
    Each distinct value is normalised once (a million ids take a fraction of a second).
    """
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    kind = pd.api.types.infer_dtype(uniques, skipna=True)
    if kind == "string":
        text = pc.replace_substring_regex(pc.utf8_trim_whitespace(pa.array(uniques, type=pa.large_string())),
                                          _WHOLE_DECIMAL, r"\1")
        normalised = np.asarray(text.to_pylist(), dtype=object)
    else:
        normalised = np.array([_one_key(v) for v in uniques], dtype=object)
    if not len(normalised):
        return pd.Series([None] * len(values), index=values.index, dtype=object)
    out = normalised[np.maximum(codes, 0)]
    out[codes < 0] = None
    return pd.Series(out, index=values.index, dtype=object)


def _one_key(value: Any) -> str:
    """One key as text: a whole number without its decimal point, anything else as written (trimmed)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    match = re.match(_WHOLE_DECIMAL, text)
    return match.group(1) if match else text


def join_outcomes(rows: pd.DataFrame, outcomes: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """The scored rows that have an outcome, with column ``y``; say in ``notes`` what did not match.

    Parameters
    ----------
    rows : DataFrame
        ``id``, ``period``, ``p_default`` of the scored rows (other columns are kept).
    outcomes : DataFrame
        ``id``, ``period`` (optional), ``y``.
    notes : list of str
        Appended to: outcomes without a scored row, scored rows without an outcome, repeated outcomes.

    Returns
    -------
    DataFrame
        The matched rows: their columns and ``y``.
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
    return matched[[*rows.columns, "y"]].assign(y=lambda f: f["y"].astype(np.int64))


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
        ``id``, ``period``, ``p_default`` of the scored rows (other columns are kept).
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
    return Realised(summary, grades, vintages, matched)


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
    ids, _ = pd.factorize(rows["id"].astype(object), use_na_sentinel=True)
    period_codes, period_values = pd.factorize(rows["period"].astype(object), use_na_sentinel=True)
    position = {v: j for j, v in enumerate(period_values)}
    grades = grade_index(rows["p_default"].to_numpy(dtype=np.float64))
    k = len(GRADE_NAMES)
    matrix = np.zeros((k, k), dtype=np.int64)
    pairs = []
    n_ids = int(ids.max()) + 1 if len(ids) else 0

    def grade_in(period: Hashable) -> np.ndarray:
        """Each company's grade in ``period`` (its last row there), -1 when it was not scored in it."""
        at = np.full(n_ids, -1, dtype=np.int64)
        rows_in = np.flatnonzero((period_codes == position.get(period, -2)) & (ids >= 0))
        at[ids[rows_in]] = grades[rows_in]  # later rows overwrite earlier ones: the last row stands
        return at

    for before, after in zip(periods[:-1], periods[1:], strict=True):
        a, b = grade_in(before), grade_in(after)
        both = (a >= 0) & (b >= 0)
        if both.any():
            np.add.at(matrix, (a[both], b[both]), 1)
            pairs.append({"from": before, "to": after, "companies": int(both.sum())})
    total = int(matrix.sum())
    if total == 0:
        return None
    return {"grades": list(GRADE_NAMES), "matrix": matrix.tolist(), "pairs": pairs, "companies": total,
            "upgrades": int(np.tril(matrix, -1).sum()), "downgrades": int(np.triu(matrix, 1).sum()),
            "unchanged": int(np.trace(matrix))}
