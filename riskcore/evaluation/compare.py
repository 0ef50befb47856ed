"""Two models scored on the same rows: whether the challenger beats the champion, and by how much.

The statistics a promotion decision needs, each paired (both models, the same
rows, the same resamples), since the two models' errors are correlated and an
unpaired comparison would call most real differences noise:

- :func:`auc_difference`: ΔAUC with DeLong's variance (the fast mid-rank form of
  Sun and Xu, 2014), its interval and two-sided p-value;
- :func:`cost_difference`: Δ cost at each model's own cut-off with a paired
  percentile bootstrap (the resamples of :mod:`riskcore.evaluation.bootstrap`);
- :func:`swap_set`: the companies one model accepts and the other refers, with
  their observed default rates — where the two models disagree, and who was right;
- :func:`score_shift`: the PSI of the challenger's PDs over the champion's deciles.

Differences are always *challenger minus champion*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from riskcore.config import Costs
from riskcore.evaluation.bootstrap import percentile_interval, resample_counts
from riskcore.evaluation.drift import FrozenBins, psi
from riskcore.evaluation.outcomes import PlainData
from riskcore.evaluation.ranking import matvec

__all__ = ["AucDifference", "CostDifference", "SwapSet", "auc_difference", "auc_standard_error", "cost_difference",
           "row_costs", "score_shift", "swap_set"]


@dataclass(frozen=True)
class AucDifference(PlainData):
    """ΔAUC of two models on the same rows, with DeLong's standard error.

    Attributes
    ----------
    auc_champion, auc_challenger : float
        Each model's AUC.
    difference : float
        ``auc_challenger - auc_champion``.
    se : float
        DeLong's standard error of the difference.
    low, high : float
        The two-sided interval at ``confidence``.
    p_value : float
        Two-sided p-value of no difference.
    confidence : float
        The interval's coverage.
    """

    auc_champion: float
    auc_challenger: float
    difference: float
    se: float
    low: float
    high: float
    p_value: float
    confidence: float


def _placements(pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's placement values of one score vector, from mid-ranks (O(n log n)).

    ``v10[i]`` is the share of negatives that positive ``i`` outscores (ties count half);
    ``v01[j]`` the share of positives that outscore negative ``j``.
    """
    m, n = len(pos), len(neg)
    ranks_all = stats.rankdata(np.concatenate([pos, neg]))
    ranks_pos, ranks_neg = stats.rankdata(pos), stats.rankdata(neg)
    v10 = (ranks_all[:m] - ranks_pos) / n
    v01 = 1.0 - (ranks_all[m:] - ranks_neg) / m
    return float(v10.mean()), v10, v01


def _paired(y_true: ArrayLike, *scores: ArrayLike) -> tuple[np.ndarray, list[np.ndarray]]:
    """Outcomes as 0/1 and the score vectors as floats, all of one length."""
    y = np.asarray(y_true).ravel().astype(np.int64)
    out = [np.asarray(s, dtype=np.float64).ravel() for s in scores]
    if any(len(s) != len(y) for s in out):
        raise ValueError(f"the outcomes and the scores differ in length: {[len(y), *(len(s) for s in out)]}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("the outcomes must be 0 or 1")
    if any(not np.all(np.isfinite(s)) for s in out):
        raise ValueError("the scores must be finite numbers")
    return y, out


def auc_difference(y_true: ArrayLike, p_champion: ArrayLike, p_challenger: ArrayLike,
                   confidence: float = 0.95) -> AucDifference:
    """ΔAUC of two models on the same rows, with DeLong's variance (DeLong, DeLong and Clarke-Pearson, 1988).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes (1 = default).
    p_champion, p_challenger : array-like of shape (n,)
        The two models' scores of the same rows (any monotone score; PDs here).
    confidence : float
        Coverage of the normal interval.

    Returns
    -------
    AucDifference
        NaN throughout when only one outcome class is present.
    """
    y, (a, b) = _paired(y_true, p_champion, p_challenger)
    pos, neg = y == 1, y == 0
    m, n = int(pos.sum()), int(neg.sum())
    if m == 0 or n == 0:
        nan = float("nan")
        return AucDifference(nan, nan, nan, nan, nan, nan, nan, confidence)
    auc_a, v10_a, v01_a = _placements(a[pos], a[neg])
    auc_b, v10_b, v01_b = _placements(b[pos], b[neg])
    s10 = np.cov(np.vstack([v10_a, v10_b])) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(np.vstack([v01_a, v01_b])) if n > 1 else np.zeros((2, 2))
    s = s10 / m + s01 / n
    var = float(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    diff = auc_b - auc_a
    se = float(np.sqrt(max(var, 0.0)))
    z = stats.norm.ppf(0.5 + confidence / 2)
    p_value = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else (1.0 if diff == 0 else 0.0)
    return AucDifference(auc_a, auc_b, diff, se, diff - z * se, diff + z * se, p_value, confidence)


def auc_standard_error(y_true: ArrayLike, y_score: ArrayLike) -> tuple[float, float]:
    """One model's AUC and DeLong's standard error of it (the one-model case of :func:`auc_difference`).

    ``var = var(v10) / m + var(v01) / n`` over the placement values of the ``m`` defaults and ``n``
    non-defaults (DeLong, DeLong and Clarke-Pearson, 1988), in the mid-rank form.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes (1 = default).
    y_score : array-like of shape (n,)
        The model's scores (PDs here).

    Returns
    -------
    tuple of float
        ``(auc, se)``; NaN for both when only one outcome class is present.
    """
    y, (s,) = _paired(y_true, y_score)
    pos, neg = y == 1, y == 0
    m, n = int(pos.sum()), int(neg.sum())
    if m == 0 or n == 0:
        return float("nan"), float("nan")
    auc, v10, v01 = _placements(s[pos], s[neg])
    var = (float(np.var(v10, ddof=1)) / m if m > 1 else 0.0) + (float(np.var(v01, ddof=1)) / n if n > 1 else 0.0)
    return auc, float(np.sqrt(max(var, 0.0)))


def row_costs(y_true: ArrayLike, p_default: ArrayLike, threshold: float, costs: Costs,
              exposure: ArrayLike | None = None) -> np.ndarray:
    """What each row costs at a cut-off: a missed default (accepted, defaulted) or a false alarm (referred, repaid).

    A missed default costs ``costs.fn``, or ``costs.lgd × exposure`` in exposure mode; a
    false alarm ``costs.fp``; a right decision nothing. The sum over rows is the cost
    of :class:`riskcore.evaluation.costs.CostSweep` at that cut-off.
    """
    y, (p,) = _paired(y_true, p_default)
    refer = p >= threshold
    if costs.mode == "exposure":
        if exposure is None:
            raise ValueError("exposure cost mode needs the exposure of every row")
        missed = costs.lgd * np.nan_to_num(np.asarray(exposure, dtype=np.float64).ravel(), nan=0.0)
    else:
        missed = np.full(len(y), costs.fn)
    return np.where(refer, np.where(y == 0, costs.fp, 0.0), np.where(y == 1, missed, 0.0))


@dataclass(frozen=True)
class CostDifference(PlainData):
    """Cost of two models' decisions on the same rows, each at its own cut-off, with a paired bootstrap interval.

    Attributes
    ----------
    cost_champion, cost_challenger : float
        Total cost of each model's decisions.
    difference : float
        ``cost_challenger - cost_champion`` (negative: the challenger saves money).
    low, high : float
        Percentile interval of the difference over paired resamples.
    per_company : float
        ``difference`` per row.
    n_resamples, confidence : int, float
        The bootstrap's size and coverage.
    """

    cost_champion: float
    cost_challenger: float
    difference: float
    low: float
    high: float
    per_company: float
    n_resamples: int
    confidence: float


def cost_difference(y_true: ArrayLike, p_champion: ArrayLike, p_challenger: ArrayLike, *,
                    threshold_champion: float, threshold_challenger: float, costs: Costs,
                    exposure: ArrayLike | None = None, n_resamples: int = 1000, confidence: float = 0.95,
                    random_state: int | None = 7) -> CostDifference:
    """Δ cost of the challenger's decisions against the champion's, with a paired percentile bootstrap.

    Each model decides at its own cut-off (the one its training run chose on validation
    rows, so neither is tuned on the rows compared). Every resample draws the same rows
    for both models, so the interval reflects how much the two disagree, not how noisy
    each one's cost is. Reproducible by ``random_state``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes (1 = default).
    p_champion, p_challenger : array-like of shape (n,)
        The two models' PDs of the same rows.
    threshold_champion, threshold_challenger : float
        Each model's cut-off: refer at or above.
    costs : Costs
        What a missed default and a false alarm cost.
    exposure : array-like, optional
        Exposure per row, for the exposure cost mode.
    n_resamples, confidence, random_state
        The bootstrap.

    Returns
    -------
    CostDifference
    """
    a = row_costs(y_true, p_champion, threshold_champion, costs, exposure)
    b = row_costs(y_true, p_challenger, threshold_challenger, costs, exposure)
    delta = b - a
    samples = np.concatenate([matvec(c.astype(np.float64), delta) for c in resample_counts(len(delta), n_resamples,
                                                                                          random_state)])
    low, high = percentile_interval(samples, confidence)
    total = float(delta.sum())
    return CostDifference(float(a.sum()), float(b.sum()), total, low, high, total / max(len(delta), 1),
                          int(n_resamples), confidence)


@dataclass(frozen=True)
class SwapSet(PlainData):
    """Where two models' decisions differ, and what happened there.

    Attributes
    ----------
    champion_refers_challenger_accepts, challenger_refers_champion_accepts : int
        Companies in each half of the swap set.
    default_rate_challenger_accepts, default_rate_champion_accepts : float
        Observed default rate of each half (NaN when it is empty): low where a model
        accepts means it was right to.
    agree : int
        Companies both models decide alike.
    """

    champion_refers_challenger_accepts: int
    challenger_refers_champion_accepts: int
    default_rate_challenger_accepts: float
    default_rate_champion_accepts: float
    agree: int


def swap_set(y_true: ArrayLike, p_champion: ArrayLike, p_challenger: ArrayLike, *, threshold_champion: float,
             threshold_challenger: float) -> SwapSet:
    """The companies one model accepts and the other refers, with their observed default rates."""
    y, (a, b) = _paired(y_true, p_champion, p_challenger)
    refer_a, refer_b = a >= threshold_champion, b >= threshold_challenger
    only_b_accepts = refer_a & ~refer_b
    only_a_accepts = ~refer_a & refer_b

    def rate(mask: np.ndarray) -> float:
        return float(y[mask].mean()) if mask.any() else float("nan")

    return SwapSet(int(only_b_accepts.sum()), int(only_a_accepts.sum()), rate(only_b_accepts), rate(only_a_accepts),
                   int((refer_a == refer_b).sum()))


def score_shift(p_champion: ArrayLike, p_challenger: ArrayLike) -> float:
    """PSI of the challenger's PDs over the deciles of the champion's, on the same rows.

    How differently the two models spread the same portfolio: near 0, the challenger
    mostly reorders companies within the same risk levels; above 0.25, it moves the
    portfolio's PD distribution itself (and with it grades, limits and provisions).
    """
    bins = FrozenBins.numeric(np.asarray(p_champion, dtype=np.float64), 0.0, 1.0)
    return psi(bins.reference_counts, bins.counts(np.asarray(p_challenger, dtype=np.float64)))
