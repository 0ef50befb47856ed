"""Discrimination metrics, bootstrap intervals, gains tables, segment reports and the evaluation summary.

Conventions used throughout:

* A company is **referred** (predicted default, the positive decision) when
  ``y_prob >= threshold`` and **accepted** otherwise.
* Rank metrics (:func:`roc_auc`, :func:`pr_auc`, :func:`ks_statistic`) accept
  any finite score and return NaN when only one class is present.
* Bootstrap resamples are drawn as a count matrix (resample × row) from
  ``np.random.default_rng(random_state)``: each resample draws ``n`` row
  indices uniformly with replacement, so row ``i`` appears ``counts[b, i]``
  times (multinomial counts). They depend only on ``(n, n_resamples,
  random_state)``, so two models scored on the same rows get the same
  resamples (paired intervals). Every metric is computed for all resamples at
  once as a weighted metric with weights = counts, after ONE descending sort of
  the scores with tied scores grouped; a resample in which a class is absent
  gives NaN and is dropped from intervals.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from riskcore.errors import Problem, SchemaError
from riskcore.modelling.calibration import (
    _bin_edges,
    _bin_index,
    _check_inputs,
    _check_n_bins,
    _check_numbers,
    brier_score,
    expected_calibration_error,
)

__all__ = [
    "BootstrapMetric",
    "CurveKind",
    "ThresholdMetrics",
    "at_threshold",
    "bootstrap_auc_samples",
    "bootstrap_ci",
    "curve_with_band",
    "evaluate",
    "gains_table",
    "gini",
    "ks_statistic",
    "log_loss",
    "oracle_metrics",
    "pr_auc",
    "roc_auc",
    "segment_table",
    "top_decile_lift",
]

BootstrapMetric = Literal["auc", "pr_auc", "brier", "ece", "ks"]
CurveKind = Literal["roc", "pr"]

_BOOTSTRAP_METRICS: tuple[str, ...] = ("auc", "pr_auc", "brier", "ece", "ks")
_RANK_METRICS = frozenset({"auc", "pr_auc", "ks"})
_CHUNK_CELLS = 2**17  # cells of one chunk of resample counts: 1 MB arrays stay in cache, whatever n is
_EPS = 1e-15


# ---------------------------------------------------------------- point metrics


def _has_both_classes(y: np.ndarray, w: np.ndarray | None) -> bool:
    """Whether both classes carry positive weight."""
    if w is None:
        return bool(0 < y.sum() < len(y))
    return bool(w[y == 1].sum() > 0 and w[y == 0].sum() > 0)


def roc_auc(y_true: np.ndarray, y_prob: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Area under the ROC curve.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Scores; higher means riskier.
    sample_weight : array-like of shape (n,), optional
        Non-negative row weights.

    Returns
    -------
    float
        Equal to ``sklearn.metrics.roc_auc_score``; NaN when only one class is present.
    """
    y, p, w = _check_inputs(y_true, y_prob, sample_weight, probability=False)
    if not _has_both_classes(y, w):
        return float("nan")
    return float(roc_auc_score(y, p, sample_weight=w))


def pr_auc(y_true: np.ndarray, y_prob: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Area under the precision-recall curve, as average precision.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Scores; higher means riskier.
    sample_weight : array-like of shape (n,), optional
        Non-negative row weights.

    Returns
    -------
    float
        Equal to ``sklearn.metrics.average_precision_score``; NaN when only one class is present.
    """
    y, p, w = _check_inputs(y_true, y_prob, sample_weight, probability=False)
    if not _has_both_classes(y, w):
        return float("nan")
    return float(average_precision_score(y, p, sample_weight=w))


def ks_statistic(y_true: np.ndarray, y_prob: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between TPR and FPR over all thresholds.

    This equals the two-sample KS statistic between the score distributions of
    defaulters and non-defaulters (``scipy.stats.ks_2samp(...).statistic``).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Scores; higher means riskier.
    sample_weight : array-like of shape (n,), optional
        Non-negative row weights.

    Returns
    -------
    float
        In [0, 1]; NaN when only one class is present.
    """
    y, p, w = _check_inputs(y_true, y_prob, sample_weight, probability=False)
    if not _has_both_classes(y, w):
        return float("nan")
    weights = np.ones((1, len(y))) if w is None else w[None, :]
    pos, neg = _Ranked.of(y, p).group_sums(weights)
    return float(_rank_metrics(pos, neg, ("ks",))["ks"][0])


def gini(auc: float) -> float:
    """Gini coefficient (accuracy ratio) of an AUC: ``2 * auc - 1``."""
    return 2.0 * auc - 1.0


def log_loss(y_true: np.ndarray, y_prob: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Mean negative log-likelihood of the outcomes.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Probabilities in [0, 1]; clipped to ``[1e-15, 1 - 1e-15]`` so that a
        confident mistake costs a large but finite amount.
    sample_weight : array-like of shape (n,), optional
        Non-negative row weights.

    Returns
    -------
    float
    """
    y, p, w = _check_inputs(y_true, y_prob, sample_weight)
    q = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.average(y * np.log(q) + (1 - y) * np.log1p(-q), weights=w))


@dataclass(frozen=True)
class ThresholdMetrics:
    """Confusion counts and rates at one cut-off (referred when ``y_prob >= threshold``).

    Rates with an empty denominator are 0 (e.g. precision when nobody is referred).
    """

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    precision: float
    recall: float
    f1: float
    specificity: float
    referral_rate: float
    approval_rate: float

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return asdict(self)


def _ratio(a: float, b: float) -> float:
    """Divide ``a`` by ``b``, or give 0 when ``b`` is 0."""
    return float(a / b) if b > 0 else 0.0


def _check_threshold(threshold: float) -> float:
    """``threshold`` as a float, else a ValueError."""
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold={threshold!r} must be a number, e.g. 0.2") from None
    if np.isnan(t):
        raise ValueError("threshold is NaN; pass a number, e.g. 0.2")
    return t


def at_threshold(y_true: np.ndarray, y_prob: np.ndarray, threshold: float) -> ThresholdMetrics:
    """Confusion counts and rates when every row with ``y_prob >= threshold`` is referred.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Scores; higher means riskier.
    threshold : float
        The cut-off.

    Returns
    -------
    ThresholdMetrics
    """
    t = _check_threshold(threshold)
    y, p, _ = _check_inputs(y_true, y_prob, probability=False)
    referred = p >= t
    pos = y == 1
    tp = int(np.count_nonzero(referred & pos))
    fp = int(np.count_nonzero(referred & ~pos))
    fn = int(np.count_nonzero(~referred & pos))
    tn = len(y) - tp - fp - fn
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return ThresholdMetrics(
        threshold=t, tp=tp, fp=fp, tn=tn, fn=fn, precision=precision, recall=recall,
        f1=_ratio(2 * precision * recall, precision + recall), specificity=_ratio(tn, tn + fp),
        referral_rate=(tp + fp) / len(y), approval_rate=(tn + fn) / len(y),
    )


# ---------------------------------------------------------------- the shared sort


@dataclass(frozen=True)
class _Ranked:
    """Rows sorted once by descending score, with runs of tied scores as groups."""

    order: np.ndarray
    starts: np.ndarray
    y: np.ndarray

    @classmethod
    def of(cls, y: np.ndarray, p: np.ndarray) -> _Ranked:
        """Sort ``p`` descending (stable) and find where the score changes."""
        order = np.argsort(-p, kind="stable")
        starts = np.r_[0, np.flatnonzero(np.diff(p[order])) + 1]
        return cls(order, starts, y[order])

    def group_sums(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per tie group, riskiest first: weight of positives and of negatives, each (b, n_groups)."""
        ws = weights[:, self.order]
        pos = ws * self.y
        neg = ws - pos  # exact: y is 0/1, so each cell of pos is 0 or the weight itself
        if len(self.starts) == len(self.y):  # no ties: every row is its own group
            return pos, neg
        return np.add.reduceat(pos, self.starts, axis=1), np.add.reduceat(neg, self.starts, axis=1)


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two (b, m) arrays."""
    out: np.ndarray = np.einsum("ij,ij->i", a, b)
    return out


def _matvec(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Multiply ``a @ v`` without BLAS, whose threaded gemv is slow on these wide, short matrices."""
    out: np.ndarray = np.einsum("ij,j->i", a, v)
    return out


def _rank_metrics(pos: np.ndarray, neg: np.ndarray, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
    """AUC, average precision and KS of every row of grouped weights; NaN where a class is absent.

    With ``cpos``/``cneg`` the weights at or above each group (riskiest first),
    AUC = Σ_g pos_g (W_neg − cneg_g + ½ neg_g) / (W_pos W_neg) (ties count ½),
    AP = Σ_g (pos_g / W_pos) · precision_g and KS = max_g |TPR_g − FPR_g|.
    """
    cneg = np.cumsum(neg, axis=1)
    total_neg = cneg[:, -1]
    total_pos = pos.sum(axis=1)
    valid = (total_pos > 0) & (total_neg > 0)
    wp = np.where(valid, total_pos, 1.0)
    wn = np.where(valid, total_neg, 1.0)
    out: dict[str, np.ndarray] = {}
    if "auc" in metrics:
        # integer counts keep every product and sum exact in float64 (below 2**53)
        out["auc"] = (wp * wn - _rowdot(pos, cneg) + 0.5 * _rowdot(pos, neg)) / (wp * wn)
    if "ks" in metrics or "pr_auc" in metrics:
        cpos = np.cumsum(pos, axis=1)
        if "ks" in metrics:
            out["ks"] = np.abs(cpos / wp[:, None] - cneg / wn[:, None]).max(axis=1)
        if "pr_auc" in metrics:
            referred = cpos + cneg
            precision = np.divide(cpos, referred, out=np.zeros_like(cpos), where=referred > 0)
            out["pr_auc"] = _rowdot(pos, precision) / wp
    for values in out.values():
        values[~valid] = np.nan
    return out


# ---------------------------------------------------------------- bootstrap


def _check_resamples(n_resamples: int) -> int:
    """``n_resamples`` as a positive int, else a ValueError."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples={n_resamples!r} must be a positive integer, e.g. 1000")
    return int(n_resamples)


def _resample_counts(n: int, n_resamples: int, random_state: int | None) -> Iterator[np.ndarray]:
    """Bootstrap count matrices in chunks of rows (resample × data row); each row sums to ``n``."""
    rng = np.random.default_rng(random_state)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        idx += np.arange(b)[:, None] * n
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n)


def _bootstrap(
    y: np.ndarray,
    p: np.ndarray,
    w: np.ndarray | None,
    metrics: tuple[str, ...],
    n_resamples: int,
    random_state: int | None,
    n_bins: int = 10,
) -> dict[str, np.ndarray]:
    """Every requested metric for every resample, shape (n_resamples,) each; NaN where a class is absent."""
    out = {m: np.empty(n_resamples) for m in metrics}
    rank = tuple(m for m in metrics if m in _RANK_METRICS)
    ranked = _Ranked.of(y, p) if rank else None
    sq = (p - y) ** 2
    if "ece" in metrics:
        bins = _bin_index(p, _bin_edges(p, n_bins, "uniform"))
        bin_order = np.argsort(bins, kind="stable")
        bin_starts = np.r_[0, np.flatnonzero(np.diff(bins[bin_order])) + 1]
        gap = (p - y)[bin_order]
    done = 0
    for counts in _resample_counts(len(y), n_resamples, random_state):
        weights = counts.astype(np.float64)
        if w is not None:
            weights *= w
        rows = slice(done, done + len(weights))
        done += len(weights)
        total = weights.sum(axis=1)
        valid = (_matvec(weights, y) > 0) & (_matvec(weights, 1.0 - y) > 0)
        if ranked is not None:
            for name, values in _rank_metrics(*ranked.group_sums(weights), rank).items():
                out[name][rows] = values
        if "brier" in metrics:
            out["brier"][rows] = _matvec(weights, sq) / total
        if "ece" in metrics:
            per_bin = np.add.reduceat(weights[:, bin_order] * gap, bin_starts, axis=1)
            out["ece"][rows] = np.abs(per_bin).sum(axis=1) / total
        for values in out.values():
            values[rows][~valid] = np.nan
    return out


def _interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of the finite samples; NaN, NaN when there are none."""
    kept = samples[np.isfinite(samples)]
    if len(kept) == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(kept, [50 * (1 - confidence), 50 * (1 + confidence)])
    return float(lo), float(max(hi, lo))


def _check_confidence(confidence: float) -> float:
    """``confidence`` in (0, 1), else a ValueError."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must be between 0 and 1, e.g. 0.95")
    return float(confidence)


def bootstrap_auc_samples(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    n_resamples: int = 1000,
    random_state: int | None = 7,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """AUC of every bootstrap resample, computed all at once.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Scores; higher means riskier.
    n_resamples : int, default=1000
        Number of resamples.
    random_state : int or None, default=7
        Seed of ``np.random.default_rng``; the resamples depend only on
        ``(n, n_resamples, random_state)``, so two models scored on the same
        rows are compared on the same resamples.
    sample_weight : array-like of shape (n,), optional
        Row weights, multiplied into the resample counts.

    Returns
    -------
    ndarray of shape (n_resamples,)
        NaN for a resample that holds only one class, aligned with the resample order.

    Notes
    -----
    One sort, then O(n_resamples · n): for each resample, the weighted
    Mann-Whitney statistic over the tie groups (see the module docstring).
    """
    n_resamples = _check_resamples(n_resamples)
    y, p, w = _check_inputs(y_true, y_prob, sample_weight, probability=False)
    return _bootstrap(y, p, w, ("auc",), n_resamples, random_state)["auc"]


def bootstrap_ci(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    metric: BootstrapMetric = "auc",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state: int | None = 7,
    sample_weight: np.ndarray | None = None,
    *,
    n_bins: int = 10,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of a metric.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Predicted probabilities (any score for the rank metrics ``auc``, ``pr_auc``, ``ks``).
    metric : {'auc', 'pr_auc', 'brier', 'ece', 'ks'}, default='auc'
        ``ece`` uses ``n_bins`` uniform bins fixed on the full sample.
    n_resamples : int, default=1000
        Number of resamples.
    confidence : float, default=0.95
        Coverage of the interval.
    random_state : int or None, default=7
        Seed; the same seed gives the same interval.
    sample_weight : array-like of shape (n,), optional
        Row weights, multiplied into the resample counts.
    n_bins : int, default=10
        Bins of the ECE.

    Returns
    -------
    tuple of float
        ``(lower, upper)`` with ``lower <= upper``; ``(nan, nan)`` when every
        resample lacks a class. Resamples without both classes are dropped.
    """
    if metric not in _BOOTSTRAP_METRICS:
        raise ValueError(f"metric={metric!r} is unknown; use one of {', '.join(_BOOTSTRAP_METRICS)}")
    n_resamples = _check_resamples(n_resamples)
    confidence = _check_confidence(confidence)
    n_bins = _check_n_bins(n_bins)
    y, p, w = _check_inputs(y_true, y_prob, sample_weight, probability=metric in ("brier", "ece"))
    samples = _bootstrap(y, p, w, (metric,), n_resamples, random_state, n_bins)[metric]
    return _interval(samples, confidence)


# ---------------------------------------------------------------- gains, curves, segments


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
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Scores; higher means riskier.
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
    n_bins = _check_n_bins(n_bins)
    y, p, _ = _check_inputs(y_true, y_prob, probability=False)
    n = len(y)
    ranked = _Ranked.of(y, p)
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
    n_resamples = _check_resamples(n_resamples)
    confidence = _check_confidence(confidence)
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 2:
        raise ValueError(f"grid={grid!r} must be an integer of at least 2, e.g. 101")
    y, p, _ = _check_inputs(y_true, y_prob, probability=False)
    if not _has_both_classes(y, None):
        raise SchemaError(Problem(None, "y_true", None,
                                  "holds a single class; a ROC or PR curve needs defaults (1) and non-defaults (0)"))
    x = np.linspace(0.0, 1.0, int(grid))
    ranked = _Ranked.of(y, p)
    centre = _curves(*ranked.group_sums(np.ones((1, len(y)))), kind, x)[0]
    bands = []
    for counts in _resample_counts(len(y), n_resamples, random_state):
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


def segment_table(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    segments: np.ndarray | pd.Series,
    *,
    n_resamples: int = 1000,
    random_state: int | None = 7,
    min_defaults: int = 30,
    n_bins: int = 10,
) -> pd.DataFrame:
    """Discrimination and calibration per segment (e.g. sector or size band).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Predicted probabilities in [0, 1].
    segments : array-like of shape (n,)
        Segment label of each row; missing labels form the segment ``"(missing)"``.
    n_resamples : int, default=1000
        Resamples of each segment's AUC interval.
    random_state : int or None, default=7
        Seed, the same for every segment.
    min_defaults : int, default=30
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
    n_resamples = _check_resamples(n_resamples)
    n_bins = _check_n_bins(n_bins)
    y, p, _ = _check_inputs(y_true, y_prob)
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
        auc = roc_auc(ys, ps)
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


def oracle_metrics(y_true: np.ndarray, y_prob: np.ndarray, true_pd: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """How close the model gets to the known truth of a synthetic portfolio.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        The model's probabilities.
    true_pd : array-like of shape (n,)
        The probabilities the outcomes were drawn from.
    n_bins : int, default=10
        Uniform bins on ``y_prob``.

    Returns
    -------
    dict
        ``auc``: AUC of ``true_pd`` against ``y_true``, the ceiling any model can
        expect; ``ece_vs_true_pd``: count-weighted mean over bins of ``y_prob`` of
        ``|mean y_prob - mean true_pd|``, a calibration error without outcome noise.
    """
    n_bins = _check_n_bins(n_bins)
    y, p, _ = _check_inputs(y_true, y_prob)
    truth = _check_numbers(true_pd, "true_pd", low=0.0, high=1.0, n=len(y))
    bins = _bin_index(p, _bin_edges(p, n_bins, "uniform"))
    gap = np.bincount(bins, weights=p - truth, minlength=n_bins)
    return {"auc": roc_auc(y, truth), "ece_vs_true_pd": float(np.abs(gap).sum() / len(y))}


def _plain(value: float) -> float | None:
    """Make a JSON-safe float: None for NaN or infinity."""
    value = float(value)
    return value if np.isfinite(value) else None


def evaluate(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    threshold: float,
    *,
    n_resamples: int = 1000,
    random_state: int | None = 7,
    y_raw: np.ndarray | None = None,
    n_bins: int = 10,
) -> dict[str, Any]:
    """Every headline metric of a scored sample, ready for JSON.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Calibrated probabilities in [0, 1].
    threshold : float
        Cut-off: rows with ``y_prob >= threshold`` are referred.
    n_resamples : int, default=1000
        Bootstrap resamples of the intervals (all intervals use the same resamples).
    random_state : int or None, default=7
        Seed of the resamples.
    y_raw : array-like of shape (n,), optional
        The model's uncalibrated probabilities for the same rows, to report ``ece_raw``.
    n_bins : int, default=10
        Uniform bins of the ECE.

    Returns
    -------
    dict
        Keys ``n, defaults, default_rate, auc, auc_ci, pr_auc, pr_auc_ci, ks,
        gini, gini_ci, brier, brier_ci, log_loss, ece_calibrated,
        ece_calibrated_ci, ece_raw, precision, recall, f1, specificity,
        referral_rate, top_decile_lift, threshold``. Values are ints, floats,
        lists of two floats or None; an undefined value (NaN, e.g. AUC with one
        class) is None.
    """
    n_resamples = _check_resamples(n_resamples)
    n_bins = _check_n_bins(n_bins)
    t = _check_threshold(threshold)
    y, p, _ = _check_inputs(y_true, y_prob)
    ece_raw = None
    if y_raw is not None:
        raw = _check_numbers(y_raw, "y_raw", low=0.0, high=1.0, n=len(y))
        ece_raw = expected_calibration_error(y, raw, n_bins=n_bins)
    samples = _bootstrap(y, p, None, ("auc", "pr_auc", "brier", "ece"), n_resamples, random_state, n_bins)
    ci = {name: _interval(values, 0.95) for name, values in samples.items()}
    auc = roc_auc(y, p)
    at = at_threshold(y, p, t)
    return {
        "n": len(y),
        "defaults": int(y.sum()),
        "default_rate": float(y.mean()),
        "auc": _plain(auc),
        "auc_ci": [_plain(v) for v in ci["auc"]],
        "pr_auc": _plain(pr_auc(y, p)),
        "pr_auc_ci": [_plain(v) for v in ci["pr_auc"]],
        "ks": _plain(ks_statistic(y, p)),
        "gini": _plain(gini(auc)),
        "gini_ci": [_plain(gini(v)) for v in ci["auc"]],
        "brier": _plain(brier_score(y, p)),
        "brier_ci": [_plain(v) for v in ci["brier"]],
        "log_loss": _plain(log_loss(y, p)),
        "ece_calibrated": _plain(expected_calibration_error(y, p, n_bins=n_bins)),
        "ece_calibrated_ci": [_plain(v) for v in ci["ece"]],
        "ece_raw": None if ece_raw is None else _plain(ece_raw),
        "precision": at.precision,
        "recall": at.recall,
        "f1": at.f1,
        "specificity": at.specificity,
        "referral_rate": at.referral_rate,
        "top_decile_lift": _plain(top_decile_lift(y, p)),
        "threshold": t,
    }
