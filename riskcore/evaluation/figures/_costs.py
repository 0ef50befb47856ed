"""Figure data of the cost model: the cost of every cut-off, a model's operating point, a comparison's curves.

The cost of a cut-off is priced by :class:`~riskcore.evaluation.costs.CostSweep`
(a company is referred when its PD is at or above the cut-off); these classes
keep what a figure draws of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from riskcore.config import Costs
from riskcore.evaluation.costs import CostSweep
from riskcore.evaluation.figures._base import freeze_arrays
from riskcore.evaluation.figures._curves import RocCurve

__all__ = ["CostCurve", "ModelCurves", "OperatingPoint", "comparison_curves"]


@dataclass(frozen=True, eq=False)
class CostCurve:
    """The expected cost of every candidate cut-off under one pair of costs, in its two parts, and the cheapest one.

    Attributes
    ----------
    threshold : ndarray
        Ascending cut-offs (:attr:`CostSweep.thresholds <riskcore.evaluation.costs.CostSweep>`: the distinct
        scores, then one above every score, where nobody is referred).
    cost, missed_loss, false_alarm_cost : ndarray
        The total cost at each cut-off, and its parts: the defaults accepted and the false alarms.
    referral_rate : ndarray
        The share of companies referred at each cut-off.
    optimal_threshold, optimal_cost : float
        The cheapest cut-off (the highest among equal costs) and its cost (:meth:`CostSweep.optimal
        <riskcore.evaluation.costs.CostSweep.optimal>`); always one of the curve's points.
    """

    threshold: np.ndarray
    cost: np.ndarray
    missed_loss: np.ndarray
    false_alarm_cost: np.ndarray
    referral_rate: np.ndarray
    optimal_threshold: float
    optimal_cost: float

    def __post_init__(self) -> None:
        freeze_arrays(self)

    def frame(self) -> pd.DataFrame:
        """Columns ``threshold, cost, missed_loss, false_alarm_cost, referral_rate``, ascending by threshold."""
        return pd.DataFrame({"threshold": self.threshold, "cost": self.cost, "missed_loss": self.missed_loss,
                             "false_alarm_cost": self.false_alarm_cost, "referral_rate": self.referral_rate})

    def thinned(self, max_points: int) -> CostCurve:
        """At most ``max_points`` evenly ranked cut-offs, plus the cheapest one when they miss it.

        Parameters
        ----------
        max_points : int
            How many cut-offs to keep (a sweep has one per distinct score: too many to draw on a large portfolio).

        Returns
        -------
        CostCurve
            The same curve at fewer cut-offs (the first and the last kept), the same optimum.
        """
        n = len(self.threshold)
        best = int(np.searchsorted(self.threshold, self.optimal_threshold))
        keep = np.unique(np.r_[np.linspace(0, n - 1, min(n, max_points)).round(), best]).astype(int)
        return CostCurve(self.threshold[keep], self.cost[keep], self.missed_loss[keep], self.false_alarm_cost[keep],
                         self.referral_rate[keep], self.optimal_threshold, self.optimal_cost)

    @classmethod
    def from_sweep(cls, sweep: CostSweep, costs: Costs) -> CostCurve:
        """Price every cut-off of a sweep (:meth:`CostSweep.curve <riskcore.evaluation.costs.CostSweep.curve>`).

        Parameters
        ----------
        sweep : CostSweep
            The sorted scores (one O(n log n) sort, shared across pairs of costs).
        costs : riskcore.config.Costs
            Prices of a missed default and a false alarm.

        Returns
        -------
        CostCurve

        Raises
        ------
        riskcore.errors.SchemaError
            In exposure mode when the sweep was built without exposure.
        """
        curve = sweep.curve(costs)
        best, best_cost = sweep.optimal(costs)
        return cls(curve["threshold"].to_numpy(), curve["cost"].to_numpy(), curve["missed_loss"].to_numpy(),
                   curve["false_alarm_cost"].to_numpy(), curve["referral_rate"].to_numpy(), best, best_cost)


@dataclass(frozen=True)
class OperatingPoint:
    """A model at one cut-off: where it sits on its ROC curve and what it costs.

    Attributes
    ----------
    threshold : float
        The cut-off (PD at or above → refer).
    fpr, tpr : float
        The share of non-defaulters and of defaulters referred.
    cost : float
        The expected cost at the cut-off.
    """

    threshold: float
    fpr: float
    tpr: float
    cost: float

    @classmethod
    def from_sweep(cls, sweep: CostSweep, threshold: float, costs: Costs) -> OperatingPoint:
        """Read the point off a sweep (:meth:`CostSweep.at <riskcore.evaluation.costs.CostSweep.at>`).

        Parameters
        ----------
        sweep : CostSweep
            The scored rows, with both classes present.
        threshold : float
            The cut-off.
        costs : riskcore.config.Costs
            Prices of a missed default and a false alarm.

        Returns
        -------
        OperatingPoint
        """
        at = sweep.at(threshold, costs)
        return cls(float(threshold), at.fp / (at.fp + at.tn), at.tp / (at.tp + at.fn), at.cost)


@dataclass(frozen=True)
class ModelCurves:
    """One side of a comparison on the shared rows: its ROC curve, its cost per cut-off, its own cut-off.

    Attributes
    ----------
    roc : RocCurve
        scikit-learn's ROC curve, thinned to its corners.
    cost : CostCurve
        The expected cost per cut-off (possibly :meth:`~CostCurve.thinned`), with the cheapest cut-off.
    operating : OperatingPoint
        The model's own cut-off.
    """

    roc: RocCurve
    cost: CostCurve
    operating: OperatingPoint

    def as_dict(self) -> dict[str, Any]:
        """The curves as JSON-ready lists and floats.

        Returns
        -------
        dict
            ``roc`` (``fpr, tpr, threshold`` lists; the first threshold, above every score, is ``None``),
            ``cost`` (``threshold, cost`` lists), ``operating`` (``threshold, fpr, tpr, cost``) and ``minimum``
            (``threshold, cost`` of the cheapest cut-off).
        """
        return {"roc": {"fpr": self.roc.fpr.tolist(), "tpr": self.roc.tpr.tolist(),
                        "threshold": [float(t) if np.isfinite(t) else None for t in self.roc.threshold]},
                "cost": {"threshold": self.cost.threshold.tolist(), "cost": self.cost.cost.tolist()},
                "operating": {"threshold": self.operating.threshold, "fpr": self.operating.fpr,
                              "tpr": self.operating.tpr, "cost": self.operating.cost},
                "minimum": {"threshold": self.cost.optimal_threshold, "cost": self.cost.optimal_cost}}

    @classmethod
    def from_scores(cls, y_true: ArrayLike, y_prob: ArrayLike, threshold: float, costs: Costs,
                    exposure: ArrayLike | None = None, *, label: str = "Model",
                    max_points: int | None = None) -> ModelCurves:
        """Compute one model's curves on scored rows.

        Parameters
        ----------
        y_true : array-like of shape (n,)
            1 for a default, 0 otherwise; both classes must be present.
        y_prob : array-like of shape (n,)
            The model's PDs.
        threshold : float
            The model's own cut-off.
        costs : riskcore.config.Costs
            Prices of a missed default and a false alarm.
        exposure : array-like of shape (n,), optional
            Exposure at default per row; required when ``costs.mode == "exposure"``.
        label : str, default="Model"
            The model's name (of its ROC curve).
        max_points : int, optional
            Thin the cost curve to at most this many cut-offs (plus the cheapest).

        Returns
        -------
        ModelCurves
        """
        y, p = np.asarray(y_true), np.asarray(y_prob)
        sweep = CostSweep(y, p, None if exposure is None else np.asarray(exposure))
        cost = CostCurve.from_sweep(sweep, costs)
        return cls(roc=RocCurve.from_scores(y, p, label=label),
                   cost=cost if max_points is None else cost.thinned(max_points),
                   operating=OperatingPoint.from_sweep(sweep, threshold, costs))


def comparison_curves(y_true: ArrayLike, p_champion: ArrayLike, p_challenger: ArrayLike,
                      thresholds: tuple[float, float], costs: Costs, exposure: ArrayLike | None = None, *,
                      max_points: int | None = None) -> dict[str, ModelCurves]:
    """Both models' ROC curves and expected cost per cut-off on a comparison's shared rows.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        The rows' outcomes.
    p_champion, p_challenger : array-like of shape (n,)
        The two models' PDs of the same rows.
    thresholds : tuple of float
        The champion's and the challenger's own cut-offs.
    costs : riskcore.config.Costs
        The costs the comparison was priced with.
    exposure : array-like of shape (n,), optional
        Exposure per row, used in exposure mode only; a missing exposure counts as 0, as in the comparison.
    max_points : int, optional
        Thin each cost curve to at most this many cut-offs (plus the cheapest).

    Returns
    -------
    dict of str to ModelCurves
        ``{"champion": ..., "challenger": ...}``.
    """
    e = None
    if costs.mode == "exposure" and exposure is not None:
        e = np.nan_to_num(np.asarray(exposure, dtype=float), nan=0.0)
    sides = (("champion", p_champion, thresholds[0]), ("challenger", p_challenger, thresholds[1]))
    return {name: ModelCurves.from_scores(y_true, p, t, costs, e, label=name, max_points=max_points)
            for name, p, t in sides}
