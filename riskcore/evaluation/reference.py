"""The reference profile a bundle keeps for monitoring: what the model's world looked like at training.

Written once, when the model is trained (``reference.json`` in the bundle), and
read by :mod:`riskcore.evaluation.monitoring` every time a later portfolio is
compared with it:

- per feature, bins frozen on the training rows (:class:`~riskcore.evaluation.drift.FrozenBins`:
  deciles for numbers, levels for categories, a missing and an out-of-range bin)
  with the training counts, overall and per segment (sector), a grid of training
  percentiles with their cumulative shares (:class:`CdfGrid`) for the KS statistic,
  and the feature's natural variation: the largest PSI of one training period
  against all of them, overall and per segment;
- the same bins for the calibrated PD and the grade mix, frozen on the held-out
  (validation and test) rows: a boosted model's PDs on its own training rows are
  sharper than on any new portfolio, so they would show drift where there is none;
- per grade, the predicted PD and observed default rate on the test rows, and the
  test metrics (AUC, ECE, default rate), against which realised performance is judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from riskcore.data.schema import DatasetSpec
from riskcore.evaluation.backtest import expected_auc, grade_backtest
from riskcore.evaluation.drift import FrozenBins, psi
from riskcore.evaluation.grading import MASTER_SCALE, grade_of
from riskcore.evaluation.metrics import roc_auc
from riskcore.evaluation.reliability import expected_calibration_error

__all__ = ["GRADE_NAMES", "REFERENCE_FORMAT", "CdfGrid", "FeatureReference", "ReferenceProfile", "build_reference"]

REFERENCE_FORMAT = 1
GRADE_NAMES: tuple[str, ...] = tuple(g.name for g in MASTER_SCALE)
_GRID_LEVELS = np.linspace(0.01, 0.99, 99)


@dataclass(frozen=True)
class CdfGrid:
    """Training percentiles of a number and the share of training values at or below each.

    The KS statistic of a later portfolio is read on these points
    (:meth:`ks_from_counts`): exact at every point, and within the reference mass
    between two neighbouring points (about 1 %) of the KS over all values. Counting
    values per grid cell adds up chunk by chunk, so a file of any size is compared
    in one pass.

    Attributes
    ----------
    points : tuple of float
        Increasing, distinct percentiles (1 % … 99 %) of the finite training values.
    cdf : tuple of float
        Share of the finite training values ``<= points[k]``.
    n : int
        Finite training values.
    """

    points: tuple[float, ...]
    cdf: tuple[float, ...]
    n: int

    @classmethod
    def of(cls, values: ArrayLike) -> CdfGrid:
        """The grid of the finite values of ``values``."""
        x = np.asarray(values, dtype=np.float64).ravel()
        x = np.sort(x[np.isfinite(x)])
        if len(x) == 0:
            return cls((), (), 0)
        points = np.unique(np.quantile(x, _GRID_LEVELS))
        cdf = np.searchsorted(x, points, side="right") / len(x)
        return cls(tuple(float(p) for p in points), tuple(float(c) for c in cdf), int(len(x)))

    def cell_counts(self, values: ArrayLike) -> np.ndarray:
        """Finite values per grid cell: cell ``k`` holds ``points[k-1] < x <= points[k]`` (last cell: above all)."""
        x = np.asarray(values, dtype=np.float64).ravel()
        x = x[np.isfinite(x)]
        codes = np.searchsorted(np.asarray(self.points, dtype=np.float64), x, side="left")
        return np.bincount(codes, minlength=len(self.points) + 1).astype(np.int64)

    def ks_from_counts(self, cell_counts: ArrayLike) -> float:
        """KS statistic ``max_k |F_ref(points[k]) - F_cur(points[k])|`` from :meth:`cell_counts` (NaN if empty)."""
        counts = np.asarray(cell_counts, dtype=np.float64)
        total = counts.sum()
        if total <= 0 or not self.points:
            return float("nan")
        current = np.cumsum(counts)[: len(self.points)] / total
        return float(np.max(np.abs(current - np.asarray(self.cdf))))

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (see :meth:`from_dict`)."""
        return {"points": list(self.points), "cdf": list(self.cdf), "n": self.n}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CdfGrid:
        """Rebuild a grid written by :meth:`as_dict`."""
        return cls(tuple(float(p) for p in data.get("points", [])), tuple(float(c) for c in data.get("cdf", [])),
                   int(data.get("n", 0)))


@dataclass(frozen=True)
class FeatureReference:
    """One feature's training distribution: frozen bins, per-segment counts and (numbers) the KS grid.

    Attributes
    ----------
    name, family, label : str
        The feature, its family (``financial``, ``esg``, ``macro``…) and its label.
    bins : FrozenBins
        Bins with the training counts.
    segments : dict
        Training counts over ``bins`` per segment (sector), for drift within a segment.
    grid : CdfGrid or None
        Training percentiles for KS; None for categories.
    natural_psi : float or None
        The largest PSI of one training period against all the training rows: how much the feature moved
        from year to year while the model was learning (None without periods).
    segment_natural : dict
        The same per segment: a later period's drift within a segment is notable only beyond it.
    """

    name: str
    family: str
    label: str
    bins: FrozenBins
    segments: dict[str, tuple[int, ...]] = field(default_factory=dict)
    grid: CdfGrid | None = None
    natural_psi: float | None = None
    segment_natural: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (see :meth:`from_dict`)."""
        return {"name": self.name, "family": self.family, "label": self.label, "bins": self.bins.as_dict(),
                "segments": {k: list(v) for k, v in self.segments.items()},
                "grid": None if self.grid is None else self.grid.as_dict(), "natural_psi": self.natural_psi,
                "segment_natural": dict(self.segment_natural)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureReference:
        """Rebuild a feature reference written by :meth:`as_dict`."""
        grid = data.get("grid")
        natural = data.get("natural_psi")
        return cls(str(data["name"]), str(data.get("family", "other")), str(data.get("label", data["name"])),
                   FrozenBins.from_dict(data["bins"]),
                   {str(k): tuple(int(c) for c in v) for k, v in (data.get("segments") or {}).items()},
                   None if grid is None else CdfGrid.from_dict(grid), None if natural is None else float(natural),
                   {str(k): float(v) for k, v in (data.get("segment_natural") or {}).items()})


@dataclass(frozen=True)
class ReferenceProfile:
    """Everything monitoring compares a later portfolio with (see the module docstring).

    Attributes
    ----------
    features : dict of str to FeatureReference
        The model's raw input features, in the spec's order.
    score : FrozenBins
        Decile bins of the calibrated PD on the held-out rows.
    grades : FrozenBins
        The master-scale grade mix of the held-out rows.
    segment : str or None
        The segment column the per-segment counts are by.
    test : dict
        ``auc``, ``ece``, ``default_rate``, ``mean_pd``, ``expected_auc``, ``n``, ``defaults`` on the test rows.
    test_grades : list of dict
        Per grade on the test rows: ``grade, n, predicted_pd, defaults, observed_rate``.
    training_rows : int
        Rows the feature bins were frozen on.
    """

    features: dict[str, FeatureReference]
    score: FrozenBins
    grades: FrozenBins
    segment: str | None
    test: dict[str, float]
    test_grades: list[dict[str, Any]]
    training_rows: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form, written to the bundle as ``reference.json``."""
        return {"format": REFERENCE_FORMAT, "features": [f.as_dict() for f in self.features.values()],
                "score": self.score.as_dict(), "grades": self.grades.as_dict(), "segment": self.segment,
                "test": dict(self.test), "test_grades": list(self.test_grades), "training_rows": self.training_rows}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceProfile:
        """Rebuild a profile written by :meth:`as_dict`.

        Raises
        ------
        ValueError
            When the data is not a reference profile of a known format.
        """
        if not isinstance(data, dict) or data.get("format") != REFERENCE_FORMAT:
            raise ValueError(f"not a reference profile of format {REFERENCE_FORMAT}")
        features = [FeatureReference.from_dict(f) for f in data["features"]]
        test = {str(k): float("nan") if v is None else float(v) for k, v in data["test"].items()}
        return cls({f.name: f for f in features}, FrozenBins.from_dict(data["score"]),
                   FrozenBins.from_dict(data["grades"]), data.get("segment"), test, list(data["test_grades"]),
                   int(data.get("training_rows", 0)))


MIN_PERIOD_ROWS = 200
"""A training period counts towards a feature's natural variation only with at least this many rows."""


def _natural_psi(codes: np.ndarray, periods: np.ndarray | None, n_bins: int) -> float | None:
    """The largest PSI of one period's rows against all of them (periods with fewer rows are left out)."""
    if periods is None or len(codes) == 0:
        return None
    pooled = np.bincount(codes, minlength=n_bins)
    found = [psi(pooled, np.bincount(codes[periods == p], minlength=n_bins)) for p in np.unique(periods)
             if np.count_nonzero(periods == p) >= MIN_PERIOD_ROWS]
    return max(found) if found else None


def _feature_reference(spec: DatasetSpec, name: str, frame: pd.DataFrame, segments: np.ndarray | None,
                       levels: list[str], periods: np.ndarray | None) -> FeatureReference:
    """Freeze one feature's bins, per-segment counts, natural variation and (numbers) KS grid on the training rows."""
    f = spec.feature(name)
    values = frame[name].to_numpy()
    if f.kind == "categorical":
        bins = FrozenBins.categorical(values, list(f.categories) or None)
        grid = None
    else:
        x = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        bins = FrozenBins.numeric(x, f.min, f.max)
        grid = CdfGrid.of(x)
        values = x
    codes = bins.codes(values)
    by_segment: dict[str, tuple[int, ...]] = {}
    natural: dict[str, float] = {}
    if segments is not None:
        for level in levels:
            mask = segments == level
            by_segment[level] = tuple(int(c) for c in np.bincount(codes[mask], minlength=bins.n_bins))
            found = _natural_psi(codes[mask], None if periods is None else periods[mask], bins.n_bins)
            if found is not None:
                natural[level] = found
    return FeatureReference(name, f.family, f.display_label, bins, by_segment, grid,
                            _natural_psi(codes, periods, bins.n_bins), natural)


def build_reference(spec: DatasetSpec, train_frame: pd.DataFrame, holdout_pd: ArrayLike, test_pd: ArrayLike,
                    test_y: ArrayLike) -> ReferenceProfile:
    """Freeze the reference profile at training.

    Parameters
    ----------
    spec : DatasetSpec
        The model's data contract (feature kinds and valid ranges).
    train_frame : DataFrame
        The prepared training rows (raw features; the segment column when the spec has one).
    holdout_pd : array-like
        Calibrated PDs of the validation and test rows (the score and grade reference).
    test_pd, test_y : array-like
        Calibrated PDs and outcomes of the test rows.

    Returns
    -------
    ReferenceProfile
    """
    seg = spec.segment if spec.segment and spec.segment in train_frame else None
    segments = None if seg is None else train_frame[seg].astype(object).to_numpy()
    levels = [] if segments is None else sorted({str(v) for v in segments if v is not None and v == v})
    if segments is not None:
        segments = np.array([str(v) if v is not None and v == v else "" for v in segments], dtype=object)
    periods = (train_frame[spec.time].astype(str).to_numpy(dtype=object)
               if spec.time and spec.time in train_frame else None)
    features = {n: _feature_reference(spec, n, train_frame, segments, levels, periods)
                for n in spec.feature_names if n in train_frame}
    p_hold = np.asarray(holdout_pd, dtype=np.float64)
    p_test = np.asarray(test_pd, dtype=np.float64)
    y_test = np.asarray(test_y, dtype=np.int64)
    score = FrozenBins.numeric(p_hold, 0.0, 1.0)
    grades = FrozenBins.categorical(grade_of(p_hold), list(GRADE_NAMES))
    backtest = grade_backtest(grade_of(p_test), p_test, y_test)
    test_grades = [{"grade": str(g), "n": int(n), "predicted_pd": float(pd_), "defaults": int(d),
                    "observed_rate": float(rate)}
                   for g, n, pd_, d, rate in zip(backtest["grade"], backtest["n"], backtest["predicted_pd"],
                                                 backtest["defaults"], backtest["observed_rate"], strict=True)]
    test_grades.sort(key=lambda g: GRADE_NAMES.index(g["grade"]))
    expected, _ = expected_auc(p_test, n_draws=0)
    test = {"auc": roc_auc(y_test, p_test), "ece": float(expected_calibration_error(y_test, p_test)),
            "default_rate": float(y_test.mean()) if len(y_test) else float("nan"),
            "mean_pd": float(p_test.mean()) if len(p_test) else float("nan"), "expected_auc": expected,
            "n": float(len(y_test)), "defaults": float(y_test.sum())}
    return ReferenceProfile(features, score, grades, seg, test, test_grades, int(len(train_frame)))
