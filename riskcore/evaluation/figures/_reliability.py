"""Figure data of calibration: observed default rate against mean predicted PD per bin (the reliability diagram).

Computed by :func:`~riskcore.evaluation.reliability.reliability_curve`, as scikit-learn's
``calibration_curve`` sits apart from ``CalibrationDisplay``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from riskcore.evaluation.figures._base import freeze_arrays, scored_columns
from riskcore.evaluation.reliability import BinStrategy, reliability_curve

__all__ = ["ReliabilityCurve", "reliability_curves"]


@dataclass(frozen=True, eq=False)
class ReliabilityCurve:
    """Observed default rate against the mean predicted PD per bin, for one probability column.

    Attributes
    ----------
    label : str
        The probabilities (``Raw model output``, ``Calibrated``, ``Isotonic`` …).
    bin : ndarray of int
        1-based position of each non-empty bin on the edge grid.
    lower, upper : ndarray
        The bin's edges.
    count : ndarray of int
        Rows in the bin.
    mean_predicted, observed_rate : ndarray
        The bin's mean probability and its share of defaults.
    """

    label: str
    bin: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    count: np.ndarray
    mean_predicted: np.ndarray
    observed_rate: np.ndarray

    def __post_init__(self) -> None:
        freeze_arrays(self)

    def frame(self) -> pd.DataFrame:
        """The columns of :func:`~riskcore.evaluation.reliability.reliability_curve`.

        Returns
        -------
        pandas.DataFrame
            ``bin, lower, upper, count, mean_predicted, observed_rate``.
        """
        return pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self) if f.name != "label"})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, label: str = "Model") -> ReliabilityCurve:
        """Read :meth:`frame` (or a reliability curve's frame) back."""
        return cls(label, *(frame[f.name].to_numpy() for f in fields(cls) if f.name != "label"))

    @classmethod
    def from_scores(cls, y_true: ArrayLike, y_prob: ArrayLike, *, label: str = "Model", n_bins: int = 10,
                    strategy: BinStrategy = "quantile") -> ReliabilityCurve:
        """Compute the curve with :func:`~riskcore.evaluation.reliability.reliability_curve`.

        Parameters
        ----------
        y_true : array-like of shape (n,)
            1 for a default, 0 otherwise.
        y_prob : array-like of shape (n,)
            Probabilities in [0, 1].
        label : str, default="Model"
            The name of the probabilities.
        n_bins : int, default=10
            Number of bins.
        strategy : {'quantile', 'uniform'}, default='quantile'
            Equal rows or equal width.

        Returns
        -------
        ReliabilityCurve
        """
        curve = reliability_curve(np.asarray(y_true), np.asarray(y_prob), n_bins=n_bins, strategy=strategy)
        return cls.from_frame(curve, label)


def reliability_curves(rows: pd.DataFrame, columns: Mapping[str, str], *, n_bins: int = 10,
                       strategy: BinStrategy = "quantile") -> tuple[ReliabilityCurve, ...]:
    """The reliability curve of several probability columns of the same rows (``rows`` with ``y``; label → column)."""
    y, scores = scored_columns(rows, columns)
    return tuple(ReliabilityCurve.from_scores(y, p, label=label, n_bins=n_bins, strategy=strategy)
                 for label, p in scores)
