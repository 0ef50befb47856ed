"""Bootstrap intervals, computed for every resample at once.

Resamples are drawn as a count matrix (resample × row) from
``np.random.default_rng(random_state)``: each resample draws ``n`` row indices
uniformly with replacement, so row ``i`` appears ``counts[b, i]`` times
(multinomial counts). They depend only on ``(n, n_resamples, random_state)``,
so two models scored on the same rows get the same resamples (paired
intervals). Every metric is computed for all resamples at once as a weighted
metric with weights = counts, after ONE descending sort of the scores with tied
scores grouped (:class:`riskcore.evaluation.ranking.Ranked`); a resample in
which a class is absent gives NaN and is dropped from intervals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np

from riskcore.evaluation.docs import shared_docs
from riskcore.evaluation.inputs import check_confidence, check_inputs, check_n_bins, check_resamples
from riskcore.evaluation.ranking import Ranked, matvec, rank_metrics
from riskcore.evaluation.reliability import bin_edges, bin_index

__all__ = [
    "BootstrapMetric",
    "bootstrap_auc_samples",
    "bootstrap_ci",
    "bootstrap_samples",
    "percentile_interval",
    "resample_counts",
]

BootstrapMetric = Literal["auc", "pr_auc", "brier", "ece", "ks"]

_BOOTSTRAP_METRICS: tuple[str, ...] = ("auc", "pr_auc", "brier", "ece", "ks")
_RANK_METRICS = frozenset({"auc", "pr_auc", "ks"})
_CHUNK_CELLS = 2**17  # cells of one chunk of resample counts: 1 MB arrays stay in cache, whatever n is


def resample_counts(n: int, n_resamples: int, random_state: int | None) -> Iterator[np.ndarray]:
    """Bootstrap count matrices in chunks of rows (resample × data row); each row sums to ``n``."""
    rng = np.random.default_rng(random_state)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        idx += np.arange(b)[:, None] * n
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n)


def bootstrap_samples(
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
    ranked = Ranked.of(y, p) if rank else None
    sq = (p - y) ** 2
    if "ece" in metrics:
        bins = bin_index(p, bin_edges(p, n_bins, "uniform"))
        bin_order = np.argsort(bins, kind="stable")
        bin_starts = np.r_[0, np.flatnonzero(np.diff(bins[bin_order])) + 1]
        gap = (p - y)[bin_order]
    done = 0
    for counts in resample_counts(len(y), n_resamples, random_state):
        weights = counts.astype(np.float64)
        if w is not None:
            weights *= w
        rows = slice(done, done + len(weights))
        done += len(weights)
        total = weights.sum(axis=1)
        valid = (matvec(weights, y) > 0) & (matvec(weights, 1.0 - y) > 0)
        if ranked is not None:
            for name, values in rank_metrics(*ranked.group_sums(weights), rank).items():
                out[name][rows] = values
        if "brier" in metrics:
            out["brier"][rows] = matvec(weights, sq) / total
        if "ece" in metrics:
            per_bin = np.add.reduceat(weights[:, bin_order] * gap, bin_starts, axis=1)
            out["ece"][rows] = np.abs(per_bin).sum(axis=1) / total
        for values in out.values():
            values[rows][~valid] = np.nan
    return out


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of the finite samples; NaN, NaN when there are none."""
    kept = samples[np.isfinite(samples)]
    if len(kept) == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(kept, [50 * (1 - confidence), 50 * (1 + confidence)])
    return float(lo), float(max(hi, lo))


@shared_docs("scores", "resample_weight")
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
    {scores}
    n_resamples : int, default=1000
        Number of resamples.
    random_state : int or None, default=7
        Seed of ``np.random.default_rng``; the resamples depend only on
        ``(n, n_resamples, random_state)``, so two models scored on the same
        rows are compared on the same resamples.
    {resample_weight}

    Returns
    -------
    ndarray of shape (n_resamples,)
        NaN for a resample that holds only one class, aligned with the resample order.

    Notes
    -----
    One sort, then O(n_resamples · n): for each resample, the weighted
    Mann-Whitney statistic over the tie groups (see the module docstring).
    """
    n_resamples = check_resamples(n_resamples)
    y, p, w = check_inputs(y_true, y_prob, sample_weight, probability=False)
    return bootstrap_samples(y, p, w, ("auc",), n_resamples, random_state)["auc"]


@shared_docs("y_true", "resample_weight")
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
    {y_true}
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
    {resample_weight}
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
    n_resamples = check_resamples(n_resamples)
    confidence = check_confidence(confidence)
    n_bins = check_n_bins(n_bins)
    y, p, w = check_inputs(y_true, y_prob, sample_weight, probability=metric in ("brier", "ece"))
    samples = bootstrap_samples(y, p, w, (metric,), n_resamples, random_state, n_bins)[metric]
    return percentile_interval(samples, confidence)
