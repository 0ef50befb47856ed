"""Curves and tables over the score ranking: gains (lift) tables, ROC and PR curves with bands, segments.

Rows are ranked by score, riskiest first, with tied scores kept together
(:class:`riskcore.evaluation.ranking.Ranked`); a curve's band comes from the
same bootstrap resamples as every interval (:mod:`riskcore.evaluation.bootstrap`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from riskcore.errors import Problem, SchemaError
from riskcore.evaluation.bootstrap import bootstrap_ci, resample_counts
from riskcore.evaluation.docs import shared_docs
from riskcore.evaluation.inputs import check_confidence, check_inputs, check_n_bins, check_resamples
from riskcore.evaluation.ranking import Ranked, has_both_classes
from riskcore.evaluation.reliability import expected_calibration_error
from riskcore.numeric import roc_auc

__all__ = ["SMALL_SEGMENT_DEFAULTS", "CurveKind", "curve_with_band", "gains_table", "segment_table", "top_decile_lift"]

CurveKind = Literal["roc", "pr"]

SMALL_SEGMENT_DEFAULTS = 30
"""A segment with fewer defaults than this is flagged ``small``: its AUC and calibration are noisy."""


@shared_docs("scores")
def gains_table(y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Defaults captured by risk decile: the lift / gains table.

    Rows are ranked by ``y_prob`` descending (stable sort) and cut into
    ``n_bins`` groups of near-equal size: the row at position ``i`` (0-based)
    goes to group ``floor(i * n_bins / n) + 1``. Ties never split: every row of
    a run of equal scores joins the group of the run's first row, so the group
    of a row depends only on its score. Heavy ties therefore make groups
    unequal, and groups left empty are omitted (with all scores equal there is
    only decile 1).

    Parameters
    ----------
    {scores}
    n_bins : int, default=10
        Number of groups.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty group with columns ``decile`` (1 = riskiest),
        ``rows``, ``defaults``, ``default_rate``, ``lift`` (default_rate over the
        overall rate; NaN without defaults), ``cum_rows_share``,
        ``cum_defaults_share`` (capture rate), ``mean_pd``.
    """
    n_bins = check_n_bins(n_bins)
    y, p, _ = check_inputs(y_true, y_prob, probability=False)
    n = len(y)
    ranked = Ranked.of(y, p)
    first = np.repeat(ranked.starts, np.diff(np.r_[ranked.starts, n]))
    group = first * n_bins // n
    rows = np.bincount(group, minlength=n_bins)
    defaults = np.bincount(group, weights=ranked.y, minlength=n_bins)
    sum_p = np.bincount(group, weights=p[ranked.order], minlength=n_bins)
    keep = rows > 0
    rows, defaults, sum_p = rows[keep], defaults[keep], sum_p[keep]
    total = defaults.sum()
    overall = total / n
    rate = defaults / rows
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = rate / overall if overall > 0 else np.full(len(rows), np.nan)
        captured = np.cumsum(defaults) / total if total > 0 else np.full(len(rows), np.nan)
    return pd.DataFrame({
        "decile": np.arange(1, n_bins + 1)[keep],
        "rows": rows.astype(np.int64),
        "defaults": defaults.astype(np.int64),
        "default_rate": rate,
        "lift": lift,
        "cum_rows_share": np.cumsum(rows) / n,
        "cum_defaults_share": captured,
        "mean_pd": sum_p / rows,
    })


def top_decile_lift(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Default rate of the riskiest tenth over the overall rate (decile 1 of :func:`gains_table`)."""
    return float(gains_table(y_true, y_prob, n_bins=10)["lift"].iloc[0])


def _roc_on_grid(fpr: np.ndarray, tpr: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """TPR of each row's ROC (points joined linearly) at the FPR grid; on a vertical step, its top."""
    out = np.empty((len(fpr), len(grid)))
    last = fpr.shape[1] - 1
    for r in range(len(fpr)):
        x, v = fpr[r], tpr[r]
        j = np.searchsorted(x, grid, side="right") - 1
        k = np.minimum(j + 1, last)
        dx = x[k] - x[j]
        slope = np.divide(v[k] - v[j], dx, out=np.zeros_like(dx), where=dx > 0)
        out[r] = v[j] + (grid - x[j]) * slope
    return out


def _pr_on_grid(recall: np.ndarray, precision: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Precision at the highest threshold whose recall reaches each grid value, row by row."""
    out = np.empty((len(recall), len(grid)))
    for r in range(len(recall)):
        out[r] = precision[r][np.searchsorted(recall[r], grid, side="left")]
    return out


def _curves(pos: np.ndarray, neg: np.ndarray, kind: CurveKind, grid: np.ndarray) -> np.ndarray:
    """ROC (TPR at FPR grid) or PR (precision at recall grid) for every row of grouped weights."""
    cpos, cneg = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    if kind == "roc":
        zero = np.zeros((len(pos), 1))
        fpr = np.hstack([zero, cneg / cneg[:, -1:]])
        tpr = np.hstack([zero, cpos / cpos[:, -1:]])
        return _roc_on_grid(fpr, tpr, grid)
    referred = cpos + cneg
    precision = np.divide(cpos, referred, out=np.zeros_like(cpos), where=referred > 0)
    # groups above the first row with weight are not operating points: keep them out of the search
    recall = np.where(referred > 0, cpos / cpos[:, -1:], -1.0)
    recall[:, -1] = 1.0
    return _pr_on_grid(recall, precision, grid)


def curve_with_band(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    kind: CurveKind = "roc",
    n_resamples: int = 200,
    grid: int = 101,
    random_state: int | None = 7,
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """ROC or precision-recall curve on a fixed grid, with a bootstrap percentile band.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise; both classes must be present.
    y_prob : array-like of shape (n,)
        Scores; higher means riskier.
    kind : {'roc', 'pr'}, default='roc'
        Which curve.
    n_resamples : int, default=200
        Bootstrap resamples for the band (resamples without both classes are dropped).
    grid : int, default=101
        Number of equally spaced points on [0, 1] (FPR for ROC, recall for PR).
    random_state : int or None, default=7
        Seed of the resamples.
    confidence : float, default=0.95
        Coverage of the band (0.95: the 2.5th and 97.5th percentiles).

    Returns
    -------
    pandas.DataFrame
        ROC: columns ``fpr, tpr, tpr_lower, tpr_upper``; the ROC points (one per
        distinct score) are joined linearly, so tied scores give a diagonal
        segment, and at an FPR where the curve steps up the top of the step is used.
        PR: columns ``recall, precision, precision_lower, precision_upper``;
        the precision at each recall is that of the highest threshold whose
        recall reaches it (a step function: PR points must not be joined linearly).

    Raises
    ------
    riskcore.errors.SchemaError
        When only one class is present.
    """
    if kind not in ("roc", "pr"):
        raise ValueError(f"kind={kind!r} is unknown; use 'roc' or 'pr'")
    n_resamples = check_resamples(n_resamples)
    confidence = check_confidence(confidence)
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 2:
        raise ValueError(f"grid={grid!r} must be an integer of at least 2, e.g. 101")
    y, p, _ = check_inputs(y_true, y_prob, probability=False)
    if not has_both_classes(y, None):
        raise SchemaError(Problem(None, "y_true", None,
                                  "holds a single class; a ROC or PR curve needs defaults (1) and non-defaults (0)"))
    x = np.linspace(0.0, 1.0, int(grid))
    ranked = Ranked.of(y, p)
    centre = _curves(*ranked.group_sums(np.ones((1, len(y)))), kind, x)[0]
    bands = []
    for counts in resample_counts(len(y), n_resamples, random_state):
        pos, neg = ranked.group_sums(counts.astype(np.float64))
        valid = (pos.sum(axis=1) > 0) & (neg.sum(axis=1) > 0)
        if valid.any():
            bands.append(_curves(pos[valid], neg[valid], kind, x))
    if bands:
        lower, upper = np.percentile(np.vstack(bands), [50 * (1 - confidence), 50 * (1 + confidence)], axis=0)
    else:
        lower = upper = np.full(len(x), np.nan)
    names = ("fpr", "tpr") if kind == "roc" else ("recall", "precision")
    return pd.DataFrame({names[0]: x, names[1]: centre, f"{names[1]}_lower": lower,
                         f"{names[1]}_upper": np.maximum(upper, lower)})


@shared_docs("probabilities")
def segment_table(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    segments: np.ndarray | pd.Series,
    *,
    n_resamples: int = 1000,
    random_state: int | None = 7,
    min_defaults: int = SMALL_SEGMENT_DEFAULTS,
    n_bins: int = 10,
) -> pd.DataFrame:
    """Discrimination and calibration per segment (e.g. sector or size band).

    Parameters
    ----------
    {probabilities}
    segments : array-like of shape (n,)
        Segment label of each row; missing labels form the segment ``"(missing)"``.
    n_resamples : int, default=1000
        Resamples of each segment's AUC interval.
    random_state : int or None, default=7
        Seed, the same for every segment.
    min_defaults : int, default=SMALL_SEGMENT_DEFAULTS (30)
        Segments with fewer defaults are flagged ``small``: their metrics are noisy.
    n_bins : int, default=10
        Uniform bins of the ECE.

    Returns
    -------
    pandas.DataFrame
        One row per segment, sorted by the segment label as text, with columns
        ``segment, rows, defaults, observed_rate, mean_pd, auc, auc_lower,
        auc_upper, ece, small``. AUC and its interval are NaN for a segment with one class.
    """
    n_resamples = check_resamples(n_resamples)
    n_bins = check_n_bins(n_bins)
    y, p, _ = check_inputs(y_true, y_prob)
    labels = pd.Series(np.asarray(segments, dtype=object))
    if len(labels) != len(y):
        raise SchemaError(Problem(None, "segments", len(labels),
                                  f"has {len(labels)} values but y_true has {len(y)}; pass one label per row"))
    labels = labels.where(labels.notna(), "(missing)")
    codes, uniques = pd.factorize(labels)
    records = []
    for code in sorted(range(len(uniques)), key=lambda c: str(uniques[c])):
        idx = np.flatnonzero(codes == code)
        ys, ps = y[idx], p[idx]
        auc = roc_auc(ys, ps)  # inputs checked above
        lo, hi = bootstrap_ci(ys, ps, "auc", n_resamples, random_state=random_state) if np.isfinite(auc) \
            else (np.nan, np.nan)
        defaults = int(ys.sum())
        records.append({
            "segment": uniques[code], "rows": len(idx), "defaults": defaults,
            "observed_rate": float(ys.mean()), "mean_pd": float(ps.mean()),
            "auc": auc, "auc_lower": lo, "auc_upper": hi,
            "ece": expected_calibration_error(ys, ps, n_bins=n_bins), "small": defaults < min_defaults,
        })
    columns = ["segment", "rows", "defaults", "observed_rate", "mean_pd", "auc", "auc_lower", "auc_upper", "ece",
               "small"]
    return pd.DataFrame.from_records(records, columns=columns)
