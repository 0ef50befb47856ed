"""Discrimination and threshold metrics, and the evaluation summary of a scored sample.

Conventions used throughout the evaluation layer:

* A company is **referred** (predicted default, the positive decision) when
  ``y_prob >= threshold`` and **accepted** otherwise.
* Rank metrics (:func:`roc_auc`, :func:`pr_auc`, :func:`ks_statistic`) accept
  any finite score and return NaN when only one class is present.
* Intervals are percentile bootstrap intervals on shared resamples
  (:mod:`riskcore.evaluation.bootstrap`); gains tables, curves and segment
  tables live in :mod:`riskcore.evaluation.curves`, calibration measures in
  :mod:`riskcore.evaluation.reliability`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

from riskcore import numeric
from riskcore.evaluation.bootstrap import bootstrap_samples, percentile_interval
from riskcore.evaluation.curves import top_decile_lift
from riskcore.evaluation.docs import shared_docs
from riskcore.evaluation.inputs import check_inputs, check_n_bins, check_numbers, check_resamples, check_threshold
from riskcore.evaluation.outcomes import CutoffCounts
from riskcore.evaluation.ranking import Ranked, has_both_classes, rank_metrics
from riskcore.evaluation.reliability import bin_edges, bin_index, brier_score, expected_calibration_error

__all__ = [
    "ThresholdMetrics",
    "at_threshold",
    "evaluate",
    "gini",
    "ks_statistic",
    "log_loss",
    "oracle_metrics",
    "pr_auc",
    "roc_auc",
]

_EPS = 1e-15


@shared_docs("weighted_scores")
def roc_auc(y_true: np.ndarray, y_prob: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Area under the ROC curve.

    Parameters
    ----------
    {weighted_scores}

    Returns
    -------
    auc : float
        Equal to ``sklearn.metrics.roc_auc_score``; NaN when only one class is present.
    """
    y, p, w = check_inputs(y_true, y_prob, sample_weight, probability=False)
    return numeric.roc_auc(y, p, w)


@shared_docs("weighted_scores")
def pr_auc(y_true: np.ndarray, y_prob: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Area under the precision-recall curve, as average precision.

    Parameters
    ----------
    {weighted_scores}

    Returns
    -------
    average_precision : float
        Equal to ``sklearn.metrics.average_precision_score``; NaN when only one class is present.
    """
    y, p, w = check_inputs(y_true, y_prob, sample_weight, probability=False)
    if not has_both_classes(y, w):
        return float("nan")
    return float(average_precision_score(y, p, sample_weight=w))


@shared_docs("weighted_scores")
def ks_statistic(y_true: np.ndarray, y_prob: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between TPR and FPR over all thresholds.

    This equals the two-sample KS statistic between the score distributions of
    defaulters and non-defaulters (``scipy.stats.ks_2samp(...).statistic``).

    Parameters
    ----------
    {weighted_scores}

    Returns
    -------
    ks : float
        In [0, 1]; NaN when only one class is present.
    """
    y, p, w = check_inputs(y_true, y_prob, sample_weight, probability=False)
    if not has_both_classes(y, w):
        return float("nan")
    weights = np.ones((1, len(y))) if w is None else w[None, :]
    pos, neg = Ranked.of(y, p).group_sums(weights)
    return float(rank_metrics(pos, neg, ("ks",))["ks"][0])


def gini(auc: float) -> float:
    """Gini coefficient (accuracy ratio) of an AUC: ``2 * auc - 1``."""
    return 2.0 * auc - 1.0


@shared_docs("y_true", "sample_weight")
def log_loss(y_true: np.ndarray, y_prob: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Mean negative log-likelihood of the outcomes.

    Parameters
    ----------
    {y_true}
    y_prob : array-like of shape (n,)
        Probabilities in [0, 1]; clipped to ``[1e-15, 1 - 1e-15]`` so that a
        confident mistake costs a large but finite amount.
    {sample_weight}

    Returns
    -------
    float
    """
    y, p, w = check_inputs(y_true, y_prob, sample_weight)
    q = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.average(y * np.log(q) + (1 - y) * np.log1p(-q), weights=w))


@dataclass(frozen=True)
class ThresholdMetrics(CutoffCounts):
    """Confusion counts and rates at one cut-off (referred when ``y_prob >= threshold``).

    Rates with an empty denominator are 0 (e.g. precision when nobody is referred).
    """

    precision: float
    recall: float
    f1: float
    specificity: float
    referral_rate: float
    approval_rate: float


def _ratio(a: float, b: float) -> float:
    """Divide ``a`` by ``b``, or give 0 when ``b`` is 0."""
    return float(a / b) if b > 0 else 0.0


@shared_docs("scores")
def at_threshold(y_true: np.ndarray, y_prob: np.ndarray, threshold: float) -> ThresholdMetrics:
    """Confusion counts and rates when every row with ``y_prob >= threshold`` is referred.

    Parameters
    ----------
    {scores}
    threshold : float
        The cut-off.

    Returns
    -------
    ThresholdMetrics
    """
    t = check_threshold(threshold)
    y, p, _ = check_inputs(y_true, y_prob, probability=False)
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


@shared_docs("y_true")
def oracle_metrics(y_true: np.ndarray, y_prob: np.ndarray, true_pd: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """How close the model gets to the known truth of a synthetic portfolio.

    Parameters
    ----------
    {y_true}
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
    n_bins = check_n_bins(n_bins)
    y, p, _ = check_inputs(y_true, y_prob)
    truth = check_numbers(true_pd, "true_pd", low=0.0, high=1.0, n=len(y))
    bins = bin_index(p, bin_edges(p, n_bins, "uniform"))
    gap = np.bincount(bins, weights=p - truth, minlength=n_bins)
    return {"auc": roc_auc(y, truth), "ece_vs_true_pd": float(np.abs(gap).sum() / len(y))}


def _plain(value: float) -> float | None:
    """Make a JSON-safe float: None for NaN or infinity."""
    value = float(value)
    return value if np.isfinite(value) else None


@shared_docs("y_true")
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
    {y_true}
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
    n_resamples = check_resamples(n_resamples)
    n_bins = check_n_bins(n_bins)
    t = check_threshold(threshold)
    y, p, _ = check_inputs(y_true, y_prob)
    ece_raw = None
    if y_raw is not None:
        raw = check_numbers(y_raw, "y_raw", low=0.0, high=1.0, n=len(y))
        ece_raw = expected_calibration_error(y, raw, n_bins=n_bins)
    samples = bootstrap_samples(y, p, None, ("auc", "pr_auc", "brier", "ece"), n_resamples, random_state, n_bins)
    ci = {name: percentile_interval(values, 0.95) for name, values in samples.items()}
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
