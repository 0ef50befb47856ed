"""Figure data over the score ranking: banded ROC and precision-recall curves, the exact ROC, gains and lift, KS.

Each class holds one model's (or one probability column's) curve as read-only
arrays, with a ``label`` naming it in a legend, and documents its ``frame()``.
``from_scores`` computes it from outcomes and scores with the evaluation
functions (:func:`~riskcore.evaluation.curves.curve_with_band`,
:func:`~riskcore.evaluation.curves.gains_table`); ``from_frame``
reads ``frame()`` back. The ``*_curves`` functions compute one curve per score
column of a frame of scored rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import roc_curve as sklearn_roc_curve

from riskcore.evaluation.curves import CurveKind, curve_with_band, gains_table
from riskcore.evaluation.figures._base import freeze_arrays, scored_columns

__all__ = [
    "CurveBand",
    "GainsCurve",
    "KsCurve",
    "RocCurve",
    "curve_bands",
    "gains_curves",
    "ks_curves",
]

_AXES: dict[str, tuple[str, str]] = {"roc": ("fpr", "tpr"), "pr": ("recall", "precision")}


# ---------------------------------------------------------------- ROC and precision-recall with a band

@dataclass(frozen=True, eq=False)
class CurveBand:
    """A ROC or precision-recall curve of one model on a fixed grid, with its bootstrap percentile band.

    Attributes
    ----------
    label : str
        The model (``Model``, ``Logistic baseline``).
    kind : {'roc', 'pr'}
        Which curve.
    x : ndarray
        The grid on [0, 1]: the false-positive rate (ROC) or the recall (PR).
    y : ndarray
        The true-positive rate at ``x`` (ROC: points joined linearly) or the precision
        (PR: a step function, never to be joined linearly).
    lower, upper : ndarray
        The band's percentiles at ``x`` (NaN when no resample held both classes).
    """

    label: str
    kind: CurveKind
    x: np.ndarray
    y: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        freeze_arrays(self)

    @property
    def axes(self) -> tuple[str, str]:
        """The names of ``x`` and ``y``: ``("fpr", "tpr")`` or ``("recall", "precision")``."""
        return _AXES[self.kind]

    def frame(self) -> pd.DataFrame:
        """The columns of :func:`~riskcore.evaluation.curves.curve_with_band`.

        Returns
        -------
        pandas.DataFrame
            ROC: ``fpr, tpr, tpr_lower, tpr_upper``; PR: ``recall, precision, precision_lower, precision_upper``.
        """
        x, y = self.axes
        return pd.DataFrame({x: self.x, y: self.y, f"{y}_lower": self.lower, f"{y}_upper": self.upper})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, label: str = "Model") -> CurveBand:
        """Read :meth:`frame` back (the kind from its columns)."""
        kind: CurveKind = "roc" if "fpr" in frame else "pr"
        x, y = _AXES[kind]
        return cls(label, kind, frame[x].to_numpy(), frame[y].to_numpy(), frame[f"{y}_lower"].to_numpy(),
                   frame[f"{y}_upper"].to_numpy())

    @classmethod
    def from_scores(cls, y_true: ArrayLike, y_prob: ArrayLike, kind: CurveKind = "roc", *, label: str = "Model",
                    n_resamples: int = 200, random_state: int | None = 7) -> CurveBand:
        """Compute the curve with :func:`~riskcore.evaluation.curves.curve_with_band` (101 grid points, 95% band).

        Parameters
        ----------
        y_true : array-like of shape (n,)
            1 for a default, 0 otherwise; both classes must be present.
        y_prob : array-like of shape (n,)
            Scores; higher means riskier.
        kind : {'roc', 'pr'}, default='roc'
            Which curve.
        label : str, default="Model"
            The model's name.
        n_resamples : int, default=200
            Bootstrap resamples of the band.
        random_state : int or None, default=7
            Seed of the resamples.

        Returns
        -------
        CurveBand
        """
        band = curve_with_band(np.asarray(y_true), np.asarray(y_prob), kind, n_resamples=n_resamples,
                               random_state=random_state)
        return cls.from_frame(band, label)


def curve_bands(rows: pd.DataFrame, columns: Mapping[str, str], kind: CurveKind, *, n_resamples: int = 200,
                random_state: int = 7) -> tuple[CurveBand, ...]:
    """The banded ROC or precision-recall curve of several score columns of the same rows.

    Parameters
    ----------
    rows : pandas.DataFrame
        Scored rows with ``y`` and the columns named in ``columns``.
    columns : mapping of str to str
        Label → score column (see :func:`riskcore.evaluation.report.score_columns`).
    kind : {'roc', 'pr'}
        Which curve.
    n_resamples : int, default=200
        Bootstrap resamples of each band; every column uses the same resamples.
    random_state : int, default=7
        Seed of the resamples.

    Returns
    -------
    tuple of CurveBand
        One per column, in the order of ``columns``.
    """
    y, scores = scored_columns(rows, columns)
    return tuple(CurveBand.from_scores(y, p, kind, label=label, n_resamples=n_resamples, random_state=random_state)
                 for label, p in scores)


# ---------------------------------------------------------------- the exact ROC

@dataclass(frozen=True, eq=False)
class RocCurve:
    """scikit-learn's ROC curve of one model, thinned to its corners (``roc_curve(drop_intermediate=True)``).

    Attributes
    ----------
    label : str
        The model.
    fpr, tpr : ndarray
        False- and true-positive rate when every PD at or above ``threshold`` is referred.
    threshold : ndarray
        Decreasing cut-offs; the first is ``inf`` (nobody referred).
    """

    label: str
    fpr: np.ndarray
    tpr: np.ndarray
    threshold: np.ndarray

    def __post_init__(self) -> None:
        freeze_arrays(self)

    def frame(self) -> pd.DataFrame:
        """Columns ``fpr, tpr, threshold``, one row per corner of the curve."""
        return pd.DataFrame({"fpr": self.fpr, "tpr": self.tpr, "threshold": self.threshold})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, label: str = "Model") -> RocCurve:
        """Read :meth:`frame` back."""
        return cls(label, frame["fpr"].to_numpy(), frame["tpr"].to_numpy(), frame["threshold"].to_numpy())

    @classmethod
    def from_scores(cls, y_true: ArrayLike, y_prob: ArrayLike, *, label: str = "Model") -> RocCurve:
        """Compute the curve with :func:`sklearn.metrics.roc_curve` (``drop_intermediate=True``).

        Parameters
        ----------
        y_true : array-like of shape (n,)
            1 for a default, 0 otherwise; both classes must be present.
        y_prob : array-like of shape (n,)
            Scores; higher means riskier.
        label : str, default="Model"
            The model's name.

        Returns
        -------
        RocCurve
        """
        fpr, tpr, thresholds = sklearn_roc_curve(y_true, y_prob, drop_intermediate=True)
        return cls(label, fpr, tpr, thresholds)


# ---------------------------------------------------------------- gains and lift

@dataclass(frozen=True, eq=False)
class GainsCurve:
    """One model's gains (lift) table by risk decile: the data of the lift bars and of the gains (CAP) curve.

    Attributes
    ----------
    label : str
        The model.
    decile : ndarray of int
        1 = riskiest; groups left empty by ties are omitted (see :func:`~riskcore.evaluation.curves.gains_table`).
    rows, defaults : ndarray of int
        Rows and defaults of each group.
    default_rate, lift, cum_rows_share, cum_defaults_share, mean_pd : ndarray
        The group's default rate, its lift (default rate over the overall rate; NaN without defaults), the shares
        of rows and of defaults in this group and the riskier ones, and its mean PD.
    """

    label: str
    decile: np.ndarray
    rows: np.ndarray
    defaults: np.ndarray
    default_rate: np.ndarray
    lift: np.ndarray
    cum_rows_share: np.ndarray
    cum_defaults_share: np.ndarray
    mean_pd: np.ndarray

    def __post_init__(self) -> None:
        freeze_arrays(self)

    @property
    def overall_rate(self) -> float:
        """The default rate of all the rows (where a perfect model's gains curve reaches 1); NaN without rows."""
        n = int(self.rows.sum())
        return float(self.defaults.sum() / n) if n else float("nan")

    def cap(self) -> tuple[np.ndarray, np.ndarray]:
        """The gains (cumulative accuracy profile) curve from the origin: shares of rows and of defaults captured."""
        return np.r_[0.0, self.cum_rows_share], np.r_[0.0, self.cum_defaults_share]

    def frame(self) -> pd.DataFrame:
        """The columns of :func:`~riskcore.evaluation.curves.gains_table`.

        Returns
        -------
        pandas.DataFrame
            ``decile, rows, defaults, default_rate, lift, cum_rows_share, cum_defaults_share, mean_pd``.
        """
        return pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self) if f.name != "label"})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, label: str = "Model") -> GainsCurve:
        """Read :meth:`frame` (or a gains table) back."""
        return cls(label, *(frame[f.name].to_numpy() for f in fields(cls) if f.name != "label"))

    @classmethod
    def from_scores(cls, y_true: ArrayLike, y_prob: ArrayLike, *, label: str = "Model",
                    n_bins: int = 10) -> GainsCurve:
        """Compute the table with :func:`~riskcore.evaluation.curves.gains_table`.

        Parameters
        ----------
        y_true : array-like of shape (n,)
            1 for a default, 0 otherwise.
        y_prob : array-like of shape (n,)
            Scores; higher means riskier.
        label : str, default="Model"
            The model's name.
        n_bins : int, default=10
            Number of groups.

        Returns
        -------
        GainsCurve
        """
        return cls.from_frame(gains_table(np.asarray(y_true), np.asarray(y_prob), n_bins=n_bins), label)


def gains_curves(rows: pd.DataFrame, columns: Mapping[str, str], n_bins: int = 10) -> tuple[GainsCurve, ...]:
    """The gains table of several score columns of the same rows (``rows`` with ``y``; label → column)."""
    y, scores = scored_columns(rows, columns)
    return tuple(GainsCurve.from_scores(y, p, label=label, n_bins=n_bins) for label, p in scores)


# ---------------------------------------------------------------- Kolmogorov-Smirnov

@dataclass(frozen=True, eq=False)
class KsCurve:
    """Cumulative score distributions of defaulters and non-defaulters, and their gap.

    Row ``k`` is the cut-off at the ``k``-th distinct score (ascending): the share of
    defaulters and of non-defaulters scored below it; a last row above every score.

    Attributes
    ----------
    label : str
        The model.
    threshold, defaults_below, non_defaults_below, gap : ndarray
        The cut-off, the two shares below it, and ``non_defaults_below - defaults_below``.
    """

    label: str
    threshold: np.ndarray
    defaults_below: np.ndarray
    non_defaults_below: np.ndarray
    gap: np.ndarray

    def __post_init__(self) -> None:
        freeze_arrays(self)

    @property
    def peak(self) -> int:
        """The row of the largest absolute gap (the first of equal ones), where the KS statistic is read."""
        return int(np.abs(self.gap).argmax()) if len(self.gap) else 0

    @property
    def statistic(self) -> float:
        """The KS statistic: the largest absolute gap (:func:`riskcore.evaluation.metrics.ks_statistic`)."""
        return float(abs(self.gap[self.peak])) if len(self.gap) else float("nan")

    def frame(self) -> pd.DataFrame:
        """Columns ``threshold, defaults_below, non_defaults_below, gap``."""
        return pd.DataFrame({"threshold": self.threshold, "defaults_below": self.defaults_below,
                             "non_defaults_below": self.non_defaults_below, "gap": self.gap})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, label: str = "Model") -> KsCurve:
        """Read :meth:`frame` back."""
        return cls(label, frame["threshold"].to_numpy(), frame["defaults_below"].to_numpy(),
                   frame["non_defaults_below"].to_numpy(), frame["gap"].to_numpy())

    @classmethod
    def from_scores(cls, y_true: ArrayLike, y_prob: ArrayLike, *, label: str = "Model") -> KsCurve:
        """Compute the two distributions at every distinct score.

        Parameters
        ----------
        y_true : array-like of shape (n,)
            1 for a default, 0 otherwise.
        y_prob : array-like of shape (n,)
            Scores; higher means riskier.
        label : str, default="Model"
            The model's name.

        Returns
        -------
        KsCurve
        """
        y = np.asarray(y_true, dtype=float)
        p = np.asarray(y_prob, dtype=float)
        order = np.argsort(p, kind="stable")
        ps, ys = p[order], y[order]
        starts = np.r_[0, np.flatnonzero(np.diff(ps)) + 1]
        pos = np.add.reduceat(ys, starts) if len(ys) else np.zeros(0)
        size = np.diff(np.r_[starts, len(ps)])
        n_pos, n_neg = ys.sum(), len(ys) - ys.sum()
        below_pos = np.r_[0.0, np.cumsum(pos)] / max(n_pos, 1)
        below_neg = np.r_[0.0, np.cumsum(size - pos)] / max(n_neg, 1)
        thresholds = np.r_[ps[starts], np.nextafter(ps[-1], np.inf)] if len(ps) else np.zeros(1)
        return cls(label, thresholds, below_pos, below_neg, below_neg - below_pos)


def ks_curves(rows: pd.DataFrame, columns: Mapping[str, str]) -> tuple[KsCurve, ...]:
    """The KS curve of several score columns of the same rows (``rows`` with ``y``; label → column)."""
    y, scores = scored_columns(rows, columns)
    return tuple(KsCurve.from_scores(y, p, label=label) for label, p in scores)
