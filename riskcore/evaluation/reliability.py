"""How well probabilities match outcomes: reliability curves, expected calibration error, Brier score.

Binning convention (shared by :mod:`riskcore.evaluation.bootstrap` and
:func:`riskcore.evaluation.metrics.oracle_metrics`): bin ``k`` holds
``edges[k] <= y_prob < edges[k + 1]``, and the last bin also holds its upper
edge, so ``1.0`` falls in the last uniform bin.

Inputs are checked by :mod:`riskcore.evaluation.inputs`: ``y_true`` must be 0/1,
probabilities in [0, 1] and lengths equal; a problem raises
:class:`riskcore.errors.SchemaError` naming the argument and the first bad rows.
The calibrators that these measures judge live in :mod:`riskcore.modelling.calibration`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from riskcore.evaluation.docs import shared_docs
from riskcore.evaluation.inputs import check_inputs, check_n_bins

__all__ = [
    "BinStrategy",
    "bin_edges",
    "bin_index",
    "brier_score",
    "expected_calibration_error",
    "reliability_curve",
]

BinStrategy = Literal["uniform", "quantile"]

_INPUT_ERRORS = """\
riskcore.errors.SchemaError
    For invalid inputs (see the module docstring)."""


def bin_edges(p: np.ndarray, n_bins: int, strategy: BinStrategy) -> np.ndarray:
    """Bin edges: equal width on [0, 1], or the distinct quantiles of ``p``."""
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
        return edges if len(edges) > 1 else np.array([edges[0], edges[0]])
    raise ValueError(f"strategy={strategy!r} is unknown; use 'uniform' or 'quantile'")


def bin_index(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each probability: ``edges[k] <= p < edges[k + 1]``, the last bin closed."""
    return np.searchsorted(edges[1:-1], p, side="right")


def _binned(
    y_true: np.ndarray, y_prob: np.ndarray, n_bins: int, strategy: BinStrategy
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check the inputs once and bin them: ``(y, p, edges, bin of each row)``, as every reliability measure needs."""
    n_bins = check_n_bins(n_bins)
    y, p, _ = check_inputs(y_true, y_prob)
    edges = bin_edges(p, n_bins, strategy)
    return y, p, edges, bin_index(p, edges)


@shared_docs("probabilities", input_errors=_INPUT_ERRORS)
def reliability_curve(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    n_bins: int = 10,
    strategy: BinStrategy = "uniform",
) -> pd.DataFrame:
    """Observed default rate against mean predicted probability, bin by bin.

    Parameters
    ----------
    {probabilities}
    n_bins : int, default=10
        Number of bins before empty ones are dropped.
    strategy : {'uniform', 'quantile'}, default='uniform'
        Equal-width bins on [0, 1] (1.0 falls in the last bin), or equal-mass
        bins at the quantiles of ``y_prob`` (repeated quantiles merge, so there
        may be fewer bins).

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin, lowest probabilities first, with columns
        ``bin`` (1-based position on the edge grid), ``lower``, ``upper`` (bin
        edges), ``count``, ``mean_predicted``, ``observed_rate``.

    Raises
    ------
    {input_errors}
    """
    y, p, edges, k = _binned(y_true, y_prob, n_bins, strategy)
    m = len(edges) - 1
    count = np.bincount(k, minlength=m)
    sum_p = np.bincount(k, weights=p, minlength=m)
    sum_y = np.bincount(k, weights=y, minlength=m)
    keep = count > 0
    c = count[keep]
    return pd.DataFrame({
        "bin": np.arange(1, m + 1)[keep],
        "lower": edges[:-1][keep],
        "upper": edges[1:][keep],
        "count": c.astype(np.int64),
        "mean_predicted": sum_p[keep] / c,
        "observed_rate": sum_y[keep] / c,
    })


@shared_docs("probabilities", input_errors=_INPUT_ERRORS)
def expected_calibration_error(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    n_bins: int = 10,
    strategy: BinStrategy = "uniform",
) -> float:
    """Measure the expected calibration error: the count-weighted mean gap between predicted and observed rates.

    ``ECE = sum over non-empty bins of (count / n) * |mean_predicted - observed_rate|``,
    with the bins of :func:`reliability_curve`.

    Parameters
    ----------
    {probabilities}
    n_bins : int, default=10
        Number of bins.
    strategy : {'uniform', 'quantile'}, default='uniform'
        Equal-width or equal-mass bins, as in :func:`reliability_curve`.

    Returns
    -------
    float
        In [0, 1]; 0 is perfectly calibrated at this binning.

    Raises
    ------
    {input_errors}
    """
    y, p, edges, k = _binned(y_true, y_prob, n_bins, strategy)
    gap = np.bincount(k, weights=p - y, minlength=len(edges) - 1)
    return float(np.abs(gap).sum() / len(y))


@shared_docs("probabilities", "sample_weight")
def brier_score(y_true: np.ndarray, y_prob: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Mean squared difference between predicted probability and outcome.

    Parameters
    ----------
    {probabilities}
    {sample_weight}

    Returns
    -------
    float
        Equal to ``sklearn.metrics.brier_score_loss``; lower is better.
    """
    y, p, w = check_inputs(y_true, y_prob, sample_weight)
    return float(np.average((p - y) ** 2, weights=w))
