"""Back-testing predicted PDs against the defaults that arrived, and the AUC to expect before they do.

Once outcomes are known, a validator checks each rating grade: were there more
defaults than its PD predicts? :func:`grade_backtest` gives, per grade, the Jeffreys
interval of the observed default rate (:func:`jeffreys_interval`), a one-sided
binomial p-value (:func:`binomial_p_value`) and a traffic light (:func:`traffic_light`).
:func:`calibration_in_the_large` compares the portfolio's mean PD with its default rate.

Before outcomes arrive, :func:`expected_auc` estimates the AUC a calibrated model
should reach on the portfolio it scored, by taking its own PDs as the chance of each
company defaulting (confidence-based performance estimation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from scipy.stats import rankdata

from riskcore.evaluation.docs import shared_docs

__all__ = [
    "AMBER_P_VALUE",
    "RED_P_VALUE",
    "CalibrationInTheLarge",
    "TrafficLight",
    "binomial_p_value",
    "calibration_in_the_large",
    "expected_auc",
    "grade_backtest",
    "jeffreys_interval",
    "traffic_light",
]

TrafficLight = Literal["green", "amber", "red"]

AMBER_P_VALUE = 0.05
"""A grade whose one-sided binomial p-value falls below this is amber (too many defaults at 95 %)."""
RED_P_VALUE = 0.001
"""A grade whose one-sided binomial p-value falls below this is red (too many defaults at 99.9 %)."""


def jeffreys_interval(defaults: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Jeffreys interval for a default rate: quantiles of Beta(d + 0.5, n - d + 0.5).

    Follows the usual convention (Brown, Cai and DasGupta 2001): the lower bound is 0
    when there are no defaults and the upper bound 1 when every row defaulted.

    Parameters
    ----------
    defaults : int
        Observed defaults ``d``, ``0 <= d <= n``.
    n : int
        Rows.
    confidence : float
        Two-sided coverage, in (0, 1).

    Returns
    -------
    tuple of float
        ``(lower, upper)``; ``(0.0, 1.0)`` when ``n == 0``.
    """
    _check_counts(defaults, n)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if n == 0:
        return 0.0, 1.0
    alpha = 1 - confidence
    a, b = defaults + 0.5, n - defaults + 0.5
    lower = 0.0 if defaults == 0 else float(stats.beta.ppf(alpha / 2, a, b))
    upper = 1.0 if defaults == n else float(stats.beta.ppf(1 - alpha / 2, a, b))
    return lower, upper


def _check_counts(defaults: int, n: int) -> None:
    """Raise when the default count is impossible for ``n`` rows."""
    if n < 0 or not 0 <= defaults <= n:
        raise ValueError(f"defaults must be between 0 and n; got defaults={defaults!r}, n={n!r}")


_GRADE_COUNTS = """\
defaults : int
    Observed defaults.
n : int
    Rows.
p_default : float
    Predicted PD, in [0, 1]."""


@shared_docs(grade_counts=_GRADE_COUNTS)
def binomial_p_value(defaults: int, n: int, p_default: float) -> float:
    """One-sided binomial p-value of at least ``defaults`` defaults when the PD is ``p_default``.

    Parameters
    ----------
    {grade_counts}

    Returns
    -------
    float
        :func:`scipy.stats.binomtest` with ``alternative="greater"``; 1.0 when ``n == 0``.
    """
    _check_counts(defaults, n)
    if n == 0:
        return 1.0
    return float(stats.binomtest(int(defaults), int(n), float(p_default), alternative="greater").pvalue)


@shared_docs(grade_counts=_GRADE_COUNTS)
def traffic_light(defaults: int, n: int, p_default: float) -> TrafficLight:
    """Traffic light of a grade's back-test from its one-sided binomial p-value.

    Green when the p-value is at least :data:`AMBER_P_VALUE` (0.05), red below
    :data:`RED_P_VALUE` (0.001), amber between: the Basel-style zones, with the
    red zone at 99.9 % rather than 99.99 % because a grade holds far fewer
    observations than a trading book's 250 days.

    Parameters
    ----------
    {grade_counts}

    Returns
    -------
    {"green", "amber", "red"}
    """
    return _light(binomial_p_value(defaults, n, p_default))


def _light(p_value: float) -> TrafficLight:
    """Map a one-sided binomial p-value to its traffic light."""
    if p_value < RED_P_VALUE:
        return "red"
    return "amber" if p_value < AMBER_P_VALUE else "green"


def grade_backtest(grades: ArrayLike, p_default: ArrayLike, y: ArrayLike) -> pd.DataFrame:
    """Back-test each grade: predicted PD against observed defaults.

    The binomial test uses the grade's mean PD, the usual simplification; it
    assumes independent defaults, so in a stressed year (correlated defaults) the
    lights are stricter than they should be.

    Parameters
    ----------
    grades : array-like of shape (n,)
        Rating grade of each row.
    p_default : array-like of shape (n,)
        Calibrated PD of each row.
    y : array-like of shape (n,)
        Outcome (1 = default).

    Returns
    -------
    DataFrame
        One row per grade (sorted), columns ``grade, n, predicted_pd, defaults,
        observed_rate, jeffreys_low, jeffreys_high, p_value, traffic_light``.
    """
    frame = pd.DataFrame(
        {
            "grade": np.asarray(grades).ravel(),
            "p": np.asarray(p_default, dtype=np.float64).ravel(),
            "y": np.asarray(y, dtype=np.int64).ravel(),
        }
    )
    g = frame.groupby("grade", sort=True, observed=True).agg(
        n=("y", "size"), predicted_pd=("p", "mean"), defaults=("y", "sum")
    )
    rows = []
    for grade, n, pd_, d in zip(g.index, g["n"], g["predicted_pd"], g["defaults"], strict=True):
        low, high = jeffreys_interval(int(d), int(n))
        p_value = binomial_p_value(int(d), int(n), float(pd_))
        rows.append(
            {
                "grade": grade,
                "n": int(n),
                "predicted_pd": float(pd_),
                "defaults": int(d),
                "observed_rate": float(d / n),
                "jeffreys_low": low,
                "jeffreys_high": high,
                "p_value": p_value,
                "traffic_light": _light(p_value),
            }
        )
    columns = ["grade", "n", "predicted_pd", "defaults", "observed_rate", "jeffreys_low", "jeffreys_high", "p_value",
               "traffic_light"]
    return pd.DataFrame(rows, columns=columns)


def _exact_expected_auc(p: np.ndarray) -> float:
    """Ratio of expectations: E[concordant pairs (+0.5 ties)] / E[default × non-default pairs]."""
    values, inverse = np.unique(p, return_inverse=True)
    q = 1 - p
    q_by_value = np.bincount(inverse, weights=q, minlength=len(values))
    q_below = np.cumsum(q_by_value) - q_by_value
    numerator = np.sum(p * (q_below[inverse] + 0.5 * (q_by_value[inverse] - q)))
    denominator = p.sum() * q.sum() - np.sum(p * q)
    return float(numerator / denominator) if denominator > 0 else float("nan")


def expected_auc(
    p_default: ArrayLike, n_draws: int = 200, random_state: int | None = 0, confidence: float = 0.95
) -> tuple[float, tuple[float, float]]:
    """AUC expected when each row defaults with its own calibrated PD, with a simulated interval.

    The estimate is the ratio of expectations ``E[sum over pairs p_i (1 - p_j)
    (1[p_i > p_j] + 0.5 1[p_i = p_j])] / E[number of default × non-default pairs]``,
    computed exactly in O(n log n) by sorting the PDs. It equals the mean AUC over
    outcome draws up to O(1/n). The interval holds the central ``confidence`` of the
    AUCs of ``n_draws`` simulated outcome vectors ``y ~ Bernoulli(p)``, each from the
    defaults' rank sum (equal to :func:`riskcore.numeric.roc_auc`); draws with a single
    class are skipped.

    Parameters
    ----------
    p_default : array-like of shape (n,)
        Calibrated PDs, in [0, 1]; they are also the score that is ranked.
    n_draws : int
        Simulated outcome vectors for the interval.
    random_state : int or None
        Seed of the draws.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    tuple
        ``(estimate, (lower, upper))``; NaN where no pair can be formed.
    """
    p = np.asarray(p_default, dtype=np.float64).ravel()
    if len(p) and (not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1):
        raise ValueError("p_default must be finite probabilities in [0, 1]")
    estimate = _exact_expected_auc(p) if len(p) >= 2 else float("nan")
    aucs = _simulated_aucs(p, n_draws, random_state)
    if len(aucs) == 0:
        return estimate, (float("nan"), float("nan"))
    alpha = 1 - confidence
    lower, upper = np.quantile(aucs, [alpha / 2, 1 - alpha / 2])
    return estimate, (float(lower), float(upper))


def _simulated_aucs(p: np.ndarray, n_draws: int, random_state: int | None) -> np.ndarray:
    """AUCs of outcome vectors drawn from the PDs; draws with one class only are left out.

    The PDs are ranked once (average ranks for ties); each draw's AUC is then the
    Mann-Whitney form ``(R - n1 (n1 + 1) / 2) / (n1 n0)`` of the defaults' rank sum
    ``R``, O(n) per draw and equal to :func:`riskcore.numeric.roc_auc` (a test holds it).
    """
    ranks = rankdata(p)
    rng = np.random.default_rng(random_state)
    out = np.empty(n_draws, dtype=np.float64)
    for k in range(n_draws):
        y = rng.random(len(p), dtype=np.float32) < p  # single precision halves the cost; 2**-24 is plenty
        n1 = int(np.count_nonzero(y))
        n0 = len(p) - n1
        out[k] = (float(ranks[y].sum()) - n1 * (n1 + 1) / 2) / (n1 * n0) if n1 and n0 else np.nan
    return out[np.isfinite(out)]


@dataclass(frozen=True)
class CalibrationInTheLarge:
    """The portfolio's mean PD against its observed default rate.

    Attributes
    ----------
    predicted : float
        Mean calibrated PD.
    observed : float
        Observed default rate.
    difference : float
        ``observed - predicted``.
    p_value : float
        Two-sided binomial p-value of the observed defaults under the mean PD.
    n : int
        Rows.
    """

    predicted: float
    observed: float
    difference: float
    p_value: float
    n: int


def calibration_in_the_large(p_default: ArrayLike, y: ArrayLike) -> CalibrationInTheLarge:
    """Compare the mean predicted PD with the observed default rate (two-sided binomial test).

    Parameters
    ----------
    p_default : array-like of shape (n,)
        Calibrated PDs.
    y : array-like of shape (n,)
        Outcomes (1 = default).

    Returns
    -------
    CalibrationInTheLarge
        NaN rates and a p-value of 1.0 when there are no rows.
    """
    p = np.asarray(p_default, dtype=np.float64).ravel()
    outcomes = np.asarray(y, dtype=np.int64).ravel()
    if len(p) != len(outcomes):
        raise ValueError(f"p_default and y differ in length: {len(p)} vs {len(outcomes)}")
    n = len(p)
    if n == 0:
        return CalibrationInTheLarge(float("nan"), float("nan"), float("nan"), 1.0, 0)
    predicted, d = float(p.mean()), int(outcomes.sum())
    p_value = float(stats.binomtest(d, n, predicted, alternative="two-sided").pvalue)
    return CalibrationInTheLarge(predicted, d / n, d / n - predicted, p_value, n)
