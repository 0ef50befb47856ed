"""Cost-based cut-offs and the business impact of a cut-off.

A company is **referred** (predicted default) when ``y_prob >= threshold`` and
**accepted** otherwise. Under :class:`riskcore.config.Costs` a missed default
(an accepted defaulter, ``fn``) costs ``costs.fn``, or in ``exposure`` mode
``costs.lgd × exposure`` of that row; a false alarm (a referred company that
would have repaid, ``fp``) costs ``costs.fp``.

:class:`CostSweep` sorts the scores once and keeps, for every distinct
threshold, the confusion counts and the exposure of the missed defaults (the
same sweep as scikit-learn's ``_binary_clf_curve``). Applying a new pair of
costs is then one O(n_thresholds) pass, which is what the dashboard's cost
sliders need on a million scores. :func:`cost_curve` and
:func:`choose_threshold` are one-call shortcuts.

Candidate thresholds are the distinct scores (referring every row at or
above), plus ``np.nextafter(max(y_prob), inf)``: the smallest float above the
largest score, at which nobody is referred. It is finite, so it survives JSON
and slider widgets, unlike ``inf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskcore.config import Costs
from riskcore.errors import Problem, SchemaError
from riskcore.evaluation.curves import top_decile_lift
from riskcore.evaluation.docs import shared_docs
from riskcore.evaluation.inputs import check_inputs, check_numbers, check_threshold
from riskcore.evaluation.outcomes import CutoffCounts, PlainData

__all__ = [
    "BusinessImpact",
    "CostPoint",
    "CostSweep",
    "business_impact",
    "choose_threshold",
    "cost_curve",
]

_CURVE_COLUMNS = ["threshold", "tp", "fp", "tn", "fn", "cost", "referral_rate", "approval_rate", "missed_loss",
                  "false_alarm_cost"]


def _check_exposure(exposure: Any, n: int) -> np.ndarray | None:
    """Exposure as finite non-negative float64 of length ``n`` (or None)."""
    if exposure is None:
        return None
    return check_numbers(exposure, "exposure", low=0.0, n=n)


def _no_exposure() -> SchemaError:
    return SchemaError(Problem(None, "exposure", None,
                               "cost mode 'exposure' prices a missed default at lgd × exposure, but no exposure was "
                               "given; pass exposure= (one amount per row) or use Costs(mode='fixed')"))


@dataclass(frozen=True)
class CostPoint(CutoffCounts):
    """One row of the cost curve: the outcome of one cut-off under one pair of costs."""

    cost: float
    referral_rate: float
    approval_rate: float
    missed_loss: float
    false_alarm_cost: float


@shared_docs("y_true")
class CostSweep:
    """Confusion counts at every candidate threshold, computed once; costs applied per call.

    Parameters
    ----------
    {y_true}
    y_prob : array-like of shape (n,)
        Scores (normally calibrated probabilities); higher means riskier.
    exposure : array-like of shape (n,), optional
        Exposure at default of each row, needed for ``Costs(mode="exposure")``.

    Attributes
    ----------
    thresholds : ndarray of shape (n_thresholds,)
        Ascending: the distinct scores, then ``nextafter(max, inf)`` (nobody referred).
    tp, fp, tn, fn : ndarray of int64, shape (n_thresholds,)
        Confusion counts when rows with ``y_prob >= threshold`` are referred.
    missed_exposure : ndarray of shape (n_thresholds,) or None
        Exposure of the defaults that are accepted (missed), when exposure was given.
    n, n_defaults : int
        Rows and defaults.

    Notes
    -----
    Construction is one O(n log n) sort; :meth:`curve`, :meth:`optimal` and
    :meth:`at` never sort again. The arrays are read-only, so an instance can be
    shared (e.g. cached by the dashboard).

    Examples
    --------
    >>> import numpy as np
    >>> from riskcore.config import Costs
    >>> sweep = CostSweep(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    >>> sweep.optimal(Costs(fn=5.0, fp=1.0))
    (0.35, 1.0)
    """

    def __init__(self, y_true: np.ndarray, y_prob: np.ndarray, exposure: np.ndarray | None = None) -> None:
        y, p, _ = check_inputs(y_true, y_prob, probability=False)
        e = _check_exposure(exposure, len(y))
        order = np.argsort(p, kind="stable")
        ps = p[order]
        starts = np.r_[0, np.flatnonzero(np.diff(ps)) + 1]
        sizes = np.diff(np.r_[starts, len(ps)])
        defaults = np.add.reduceat(y[order].astype(np.int64), starts)
        # accepted = every group below the threshold's group: cumulative sums from the low end
        fn = np.r_[0, np.cumsum(defaults)]
        tn = np.r_[0, np.cumsum(sizes - defaults)]
        self.n = len(y)
        self.n_defaults = int(fn[-1])
        self.thresholds = np.r_[ps[starts], np.nextafter(ps[-1], np.inf)]
        self.fn = fn
        self.tn = tn
        self.tp = self.n_defaults - fn
        self.fp = (self.n - self.n_defaults) - tn
        self.missed_exposure: np.ndarray | None = None
        if e is not None:
            self.missed_exposure = np.r_[0.0, np.cumsum(np.add.reduceat(e[order] * y[order], starts))]
        for arr in (self.thresholds, self.fn, self.tn, self.tp, self.fp, self.missed_exposure):
            if arr is not None:
                arr.setflags(write=False)

    def _losses(self, costs: Costs, at: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """Missed-default loss and false-alarm cost at every threshold (or the ``at`` slice of them)."""
        if costs.mode == "exposure":
            if self.missed_exposure is None:
                raise _no_exposure()
            missed = costs.lgd * self.missed_exposure[at]
        else:
            missed = costs.fn * self.fn[at]
        return missed, costs.fp * self.fp[at]

    @shared_docs("costs")
    def curve(self, costs: Costs) -> pd.DataFrame:
        """Price every candidate threshold.

        Parameters
        ----------
        {costs}

        Returns
        -------
        pandas.DataFrame
            One row per candidate threshold, ascending, with columns ``threshold,
            tp, fp, tn, fn, cost, referral_rate, approval_rate, missed_loss,
            false_alarm_cost`` (``cost = missed_loss + false_alarm_cost``).

        Raises
        ------
        riskcore.errors.SchemaError
            In exposure mode when the sweep was built without exposure.
        """
        missed, alarms = self._losses(costs)
        referred = (self.tp + self.fp) / self.n
        return pd.DataFrame({
            "threshold": self.thresholds, "tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn,
            "cost": missed + alarms, "referral_rate": referred, "approval_rate": (self.tn + self.fn) / self.n,
            "missed_loss": missed, "false_alarm_cost": alarms,
        }, columns=_CURVE_COLUMNS)

    @shared_docs("costs")
    def optimal(self, costs: Costs) -> tuple[float, float]:
        """Find the cheapest threshold and its cost.

        Among thresholds of exactly equal cost, the highest (fewest referrals)
        wins. One O(n_thresholds) pass; nothing is sorted again.

        Parameters
        ----------
        {costs}

        Returns
        -------
        tuple of float
            ``(threshold, cost)``.
        """
        missed, alarms = self._losses(costs)
        cost = missed + alarms
        best = len(cost) - 1 - int(np.argmin(cost[::-1]))
        return float(self.thresholds[best]), float(cost[best])

    @shared_docs("costs")
    def at(self, threshold: float, costs: Costs) -> CostPoint:
        """Give the outcome of an arbitrary threshold (not only a candidate).

        Parameters
        ----------
        threshold : float
            Rows with ``y_prob >= threshold`` are referred; below the lowest
            score everybody is, above the highest nobody.
        {costs}

        Returns
        -------
        CostPoint
            The curve's row for the same referred set, with ``threshold`` as
            given. O(log n_thresholds): a binary search of the thresholds.
        """
        t = check_threshold(threshold)
        k = min(int(np.searchsorted(self.thresholds, t, side="left")), len(self.thresholds) - 1)
        missed, alarms = self._losses(costs, slice(k, k + 1))
        tp, fp, tn, fn = int(self.tp[k]), int(self.fp[k]), int(self.tn[k]), int(self.fn[k])
        return CostPoint(
            threshold=t, tp=tp, fp=fp, tn=tn, fn=fn, cost=float(missed[0] + alarms[0]),
            referral_rate=(tp + fp) / self.n, approval_rate=(tn + fn) / self.n,
            missed_loss=float(missed[0]), false_alarm_cost=float(alarms[0]),
        )


def _sweep(y_true: np.ndarray, y_prob: np.ndarray, costs: Costs, exposure: np.ndarray | None) -> CostSweep:
    """Build the sweep for one call, refusing exposure-mode costs without exposure before sorting anything."""
    if costs.mode == "exposure" and exposure is None:
        raise _no_exposure()
    return CostSweep(y_true, y_prob, exposure)


@shared_docs("priced_scores", "invalid_inputs")
def cost_curve(
    y_true: np.ndarray, y_prob: np.ndarray, costs: Costs, exposure: np.ndarray | None = None
) -> pd.DataFrame:
    """Price every candidate threshold (see :meth:`CostSweep.curve`).

    Parameters
    ----------
    {priced_scores}

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold, tp, fp, tn, fn, cost, referral_rate, approval_rate,
        missed_loss, false_alarm_cost``, ascending by threshold.

    Raises
    ------
    {invalid_inputs}
    """
    return _sweep(y_true, y_prob, costs, exposure).curve(costs)


@shared_docs("priced_scores")
def choose_threshold(
    y_true: np.ndarray, y_prob: np.ndarray, costs: Costs, exposure: np.ndarray | None = None
) -> tuple[float, float]:
    """Choose the threshold of least cost, and return that cost.

    Parameters
    ----------
    {priced_scores}

    Returns
    -------
    tuple of float
        ``(threshold, cost)``; among exact ties, the highest threshold (fewest referrals).
    """
    return _sweep(y_true, y_prob, costs, exposure).optimal(costs)


@dataclass(frozen=True)
class BusinessImpact(PlainData):
    """What a cut-off is worth compared with lending to everyone (no model).

    ``loss_without_model``: every default missed. ``loss_with_model``:
    ``missed_loss + false_alarm_cost`` at the threshold. ``savings`` is their
    difference and ``savings_pct`` its share of ``loss_without_model`` (0 without
    defaults). ``loss_avoided`` is the cost of the caught defaults. ``roi`` is
    ``savings / false_alarm_cost``: net benefit per unit spent on false alarms;
    NaN when there are no false alarms (nothing was spent). ``expected_loss`` is
    ``Σ y_prob · lgd · exposure`` when exposure is given, else ``Σ y_prob · fn``.
    """

    threshold: float
    loss_without_model: float
    loss_with_model: float
    savings: float
    savings_pct: float
    referred: int
    referral_rate: float
    defaults_caught: int
    defaults_missed: int
    false_alarms: int
    missed_loss: float
    false_alarm_cost: float
    loss_avoided: float
    roi: float
    top_decile_lift: float
    expected_loss: float


@shared_docs("y_true", "costs", "exposure", "invalid_inputs")
def business_impact(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    threshold: float,
    costs: Costs,
    exposure: np.ndarray | None = None,
) -> BusinessImpact:
    """Losses with and without the model at a cut-off.

    Parameters
    ----------
    {y_true}
    y_prob : array-like of shape (n,)
        Probabilities of default in [0, 1].
    threshold : float
        Rows with ``y_prob >= threshold`` are referred.
    {costs}
    {exposure}

    Returns
    -------
    BusinessImpact

    Raises
    ------
    {invalid_inputs}
    """
    t = check_threshold(threshold)
    y, p, _ = check_inputs(y_true, y_prob)
    e = _check_exposure(exposure, len(y))
    referred = p >= t
    default = y == 1
    caught, missed = referred & default, ~referred & default
    false_alarms = int(np.count_nonzero(referred & ~default))
    if costs.mode == "exposure":
        if e is None:
            raise _no_exposure()
        without = costs.lgd * float(e[default].sum())
        missed_loss = costs.lgd * float(e[missed].sum())
        avoided = costs.lgd * float(e[caught].sum())
    else:
        without = costs.fn * int(default.sum())
        missed_loss = costs.fn * int(missed.sum())
        avoided = costs.fn * int(caught.sum())
    alarm_cost = costs.fp * false_alarms
    with_model = missed_loss + alarm_cost
    savings = without - with_model
    n_referred = int(referred.sum())
    return BusinessImpact(
        threshold=t,
        loss_without_model=without,
        loss_with_model=with_model,
        savings=savings,
        savings_pct=savings / without if without > 0 else 0.0,
        referred=n_referred,
        referral_rate=n_referred / len(y),
        defaults_caught=int(caught.sum()),
        defaults_missed=int(missed.sum()),
        false_alarms=false_alarms,
        missed_loss=missed_loss,
        false_alarm_cost=alarm_cost,
        loss_avoided=avoided,
        roi=savings / alarm_cost if alarm_cost > 0 else float("nan"),
        top_decile_lift=top_decile_lift(y, p),
        expected_loss=float(np.sum(p * costs.lgd * e)) if e is not None else float(np.sum(p) * costs.fn),
    )
