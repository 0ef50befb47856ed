"""Population drift of one feature against bins frozen on the training rows: PSI, χ² and KS.

A model is trained once and scored for years. Monitoring asks, feature by feature,
whether the portfolio scored now still looks like the rows the model learnt from.
The bins are fixed at training (:class:`FrozenBins`, stored in the bundle as JSON),
so every later period is counted against the same edges, whatever its size.

Three numbers answer the question in the credit validator's terms:

- :func:`psi`, the population stability index, read with the usual bands
  (:func:`psi_band`: < 0.10 stable, 0.10–0.25 watch, > 0.25 act);
- :func:`chi2_p_value`, a χ² goodness-of-fit test of the current counts against the
  training shares, so a small portfolio's noise is not mistaken for drift;
- :func:`ks_statistic`, the two-sample Kolmogorov–Smirnov test for numbers when
  both raw samples are at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "PSI_ACT",
    "PSI_FLOOR",
    "PSI_WATCH",
    "BinKind",
    "DriftStatus",
    "FeatureDrift",
    "FrozenBins",
    "as_numbers",
    "chi2_p_value",
    "feature_drift",
    "ks_statistic",
    "psi",
    "psi_band",
]

BinKind = Literal["numeric", "categorical"]
DriftStatus = Literal["stable", "watch", "act"]

PSI_FLOOR = 1e-4
"""Smallest share a bin takes in :func:`psi` (0.01 %), so an empty bin adds a large but finite term."""
PSI_WATCH = 0.10
"""From this PSI on a distribution is watched (:func:`psi_band`)."""
PSI_ACT = 0.25
"""Above this PSI a distribution has moved enough to act on (:func:`psi_band`; leakage check (d) warns above it)."""

MISSING = "missing"
OUT_OF_RANGE = "out_of_range"
_N_QUANTILES = 10
_MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class FrozenBins:
    """How one feature's values are binned, fixed on the training rows.

    Numbers fall into the intervals between ``edges`` (decile edges of the training
    values); categories into their ``levels``. Two bins follow in every case:
    ``missing`` (NaN / None) and ``out_of_range`` (numbers outside ``[lo, hi]`` or
    infinite; categories not among the levels).

    Attributes
    ----------
    kind : {"numeric", "categorical"}
        How values are binned.
    edges : tuple of float
        Inner edges, increasing; value bin ``k`` holds ``edges[k-1] <= x < edges[k]``.
    levels : tuple of str
        Category levels, in bin order.
    lo, hi : float or None
        The feature's valid range; None means unbounded on that side.
    reference_counts : tuple of int
        Training rows per bin, in the order of :attr:`labels`.
    """

    kind: BinKind
    edges: tuple[float, ...] = ()
    levels: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None
    reference_counts: tuple[int, ...] = ()

    @classmethod
    def numeric(cls, values: ArrayLike, lo: float | None = None, hi: float | None = None) -> FrozenBins:
        """Freeze decile bins on the finite, in-range training values.

        With ten or fewer distinct values each value gets its own bin (edges at the
        midpoints), since deciles of a few values would repeat and leave empty bins.

        Parameters
        ----------
        values : array-like of float
            The training values of one feature.
        lo, hi : float, optional
            The valid range; values outside it are counted as out of range.

        Returns
        -------
        FrozenBins
            With ``reference_counts`` counted on ``values``.
        """
        x = as_numbers(values)
        finite = x[np.isfinite(x) & _in_range(x, lo, hi)]
        distinct = np.unique(finite)
        if len(distinct) <= _N_QUANTILES:
            edges = (distinct[:-1] + distinct[1:]) / 2
        else:
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, _N_QUANTILES + 1)[1:-1]))
        bins = cls("numeric", edges=tuple(float(e) for e in edges), lo=lo, hi=hi)
        return bins._with_reference(values)

    @classmethod
    def categorical(cls, values: ArrayLike, levels: tuple[str, ...] | list[str] | None = None) -> FrozenBins:
        """Freeze one bin per category level (given, or the sorted levels seen in training).

        Parameters
        ----------
        values : array-like
            The training values of one feature; compared as text.
        levels : sequence of str, optional
            The allowed levels; default the distinct non-missing training values.

        Returns
        -------
        FrozenBins
            With ``reference_counts`` counted on ``values``.
        """
        if levels is None:
            s = _as_text(values)
            levels = sorted(s.dropna().unique())
        bins = cls("categorical", levels=tuple(str(v) for v in levels))
        return bins._with_reference(values)

    def _with_reference(self, values: ArrayLike) -> FrozenBins:
        """Return a copy holding the counts of ``values`` as the reference distribution."""
        counts = self.counts(values)
        return FrozenBins(self.kind, self.edges, self.levels, self.lo, self.hi, tuple(int(c) for c in counts))

    @property
    def labels(self) -> tuple[str, ...]:
        """Names of the bins, in the order of :meth:`counts` (value bins, then missing and out of range)."""
        if self.kind == "categorical":
            return (*self.levels, MISSING, OUT_OF_RANGE)
        bounds = ["-inf", *(f"{e:.6g}" for e in self.edges), "inf"]
        return (*(f"[{a}, {b})" for a, b in zip(bounds[:-1], bounds[1:], strict=True)), MISSING, OUT_OF_RANGE)

    @property
    def n_bins(self) -> int:
        """Number of bins: the value bins, then missing and out of range."""
        return (len(self.levels) if self.kind == "categorical" else len(self.edges) + 1) + 2

    def codes(self, values: ArrayLike) -> np.ndarray:
        """Bin of each value, in the order of :attr:`labels` (``n_bins - 2`` missing, ``n_bins - 1`` out of range).

        Parameters
        ----------
        values : array-like
            Values of the feature.

        Returns
        -------
        ndarray of int64, shape (n,)
        """
        if self.kind == "categorical":
            return category_codes(values, self.levels)
        x = as_numbers(values)
        n_values = len(self.edges) + 1
        codes = np.searchsorted(np.asarray(self.edges, dtype=np.float64), x, side="right")
        outside = ~np.isnan(x) & (~np.isfinite(x) | ~_in_range(x, self.lo, self.hi))
        return np.where(np.isnan(x), n_values, np.where(outside, n_values + 1, codes))

    def counts(self, values: ArrayLike) -> np.ndarray:
        """Count values per bin, in the order of :attr:`labels`.

        Parameters
        ----------
        values : array-like
            Values of the feature (any row order; the counts do not depend on it).

        Returns
        -------
        ndarray of int64, shape (len(labels),)
            Rows per bin.
        """
        return np.bincount(self.codes(values), minlength=self.n_bins).astype(np.int64)

    def as_dict(self) -> dict[str, object]:
        """Return the bins as JSON-able data (see :meth:`from_dict`)."""
        return {
            "kind": self.kind,
            "edges": list(self.edges),
            "levels": list(self.levels),
            "lo": self.lo,
            "hi": self.hi,
            "reference_counts": list(self.reference_counts),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> FrozenBins:
        """Rebuild bins written by :meth:`as_dict`.

        Parameters
        ----------
        data : dict
            Keys ``kind``, ``edges``, ``levels``, ``lo``, ``hi``, ``reference_counts``.

        Returns
        -------
        FrozenBins
        """
        kind = data["kind"]
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"unknown bin kind {kind!r}; expected 'numeric' or 'categorical'")
        lo, hi = data.get("lo"), data.get("hi")
        return cls(
            kind,
            edges=tuple(float(e) for e in _seq(data.get("edges"))),
            levels=tuple(str(v) for v in _seq(data.get("levels"))),
            lo=None if lo is None else float(str(lo)),
            hi=None if hi is None else float(str(hi)),
            reference_counts=tuple(int(c) for c in _seq(data.get("reference_counts"))),
        )


def _seq(value: object) -> list[float | int | str]:
    """Read a JSON list (None as empty)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list, got {value!r}")
    return list(value)


def as_numbers(values: ArrayLike) -> np.ndarray:
    """Values as float64, text that is not a number as NaN; numeric arrays pass without a copy through pandas."""
    arr = np.asarray(values).ravel()
    if arr.dtype.kind == "f":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind in "iub":
        return arr.astype(np.float64)
    return np.asarray(pd.to_numeric(pd.Series(arr), errors="coerce"), dtype=np.float64)


def category_codes(values: ArrayLike, levels: tuple[str, ...] | list[str]) -> np.ndarray:
    """Position of each value among ``levels``; ``len(levels)`` when missing, ``len(levels) + 1`` when unknown.

    Text is matched as it is; other values (numbers used as categories) as their text.
    One hash lookup per value (:meth:`pandas.Index.get_indexer`), so a million rows take milliseconds.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
    # an object column of numbers (integer-coded classes) is text only once converted
    text = pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty") if s.dtype == object else \
        pd.api.types.is_string_dtype(s.dtype)
    if not text:
        s = _as_text(s)
    missing = s.isna().to_numpy()
    # get_indexer, not pd.Categorical: unknown levels in a Categorical are deprecated in pandas 3 and will raise
    codes = pd.Index(list(levels), dtype=object).get_indexer(pd.Index(s)).astype(np.int64)
    n = len(levels)
    return np.where(missing, n, np.where(codes < 0, n + 1, codes))


def _as_text(values: ArrayLike) -> pd.Series:
    """Values as text, with missing values kept as missing."""
    s = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
    return s.where(s.isna(), s.astype(str))


def _in_range(x: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    """Mask of values inside ``[lo, hi]`` (NaN counts as inside; it is binned as missing)."""
    ok = np.ones(x.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        if lo is not None:
            ok &= ~(x < lo)
        if hi is not None:
            ok &= ~(x > hi)
    return ok


def psi(expected_counts: ArrayLike, actual_counts: ArrayLike, eps: float = PSI_FLOOR) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` over the bin shares.

    Shares below ``eps`` (default 1e-4, i.e. 0.01 %, a common credit convention) are
    raised to ``eps`` in both distributions before the sum, without renormalising, so
    a bin empty on one side adds a large but finite term.

    Parameters
    ----------
    expected_counts, actual_counts : array-like of shape (n_bins,)
        Reference (training) and current counts per bin.
    eps : float
        The share floor.

    Returns
    -------
    float
        The PSI (0 for identical shares); NaN when either side has no rows.
    """
    e = np.asarray(expected_counts, dtype=np.float64)
    a = np.asarray(actual_counts, dtype=np.float64)
    if e.shape != a.shape:
        raise ValueError(f"expected and actual counts differ in length: {e.shape} vs {a.shape}")
    if e.sum() <= 0 or a.sum() <= 0:
        return float("nan")
    pe = np.maximum(e / e.sum(), eps)
    pa = np.maximum(a / a.sum(), eps)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def psi_band(value: float) -> DriftStatus:
    """Read a PSI with the usual credit bands: < 0.10 stable, 0.10–0.25 watch, > 0.25 act.

    Parameters
    ----------
    value : float
        A PSI; NaN (nothing to compare) reads as stable.

    Returns
    -------
    {"stable", "watch", "act"}
    """
    if not value >= PSI_WATCH:
        return "stable"
    return "watch" if value <= PSI_ACT else "act"


def chi2_p_value(expected_counts: ArrayLike, actual_counts: ArrayLike) -> float:
    """χ² goodness-of-fit p-value of the current counts against the reference shares.

    Bins with no reference rows are dropped (a share of 0 admits no test; PSI flags
    them). The expected counts are the reference shares scaled to the current rows in
    the kept bins. Bins expected to hold fewer than 5 rows are pooled into one, and
    a pool still below 5 is merged into the smallest other bin, the usual condition
    for the χ² approximation. Equal to :func:`scipy.stats.chisquare` (a test holds it).

    Parameters
    ----------
    expected_counts, actual_counts : array-like of shape (n_bins,)
        Reference (training) and current counts per bin.

    Returns
    -------
    float
        The p-value; 1.0 when fewer than 2 usable bins or no current rows remain.
    """
    e = np.asarray(expected_counts, dtype=np.float64)
    a = np.asarray(actual_counts, dtype=np.float64)
    keep = e > 0
    e, a = e[keep], a[keep]
    n = a.sum()
    if len(e) < 2 or n <= 0:
        return 1.0
    f_exp = e / e.sum() * n
    small = f_exp < _MIN_EXPECTED
    if small.any():
        f_exp = np.append(f_exp[~small], f_exp[small].sum())
        a = np.append(a[~small], a[small].sum())
        if f_exp[-1] < _MIN_EXPECTED and len(f_exp) > 2:
            j = int(np.argmin(f_exp[:-1]))
            f_exp[j] += f_exp[-1]
            a[j] += a[-1]
            f_exp, a = f_exp[:-1], a[:-1]
    if len(f_exp) < 2:
        return 1.0
    # the statistic and p-value of scipy.stats.chisquare(a, f_exp), without its per-call
    # overhead (a monitoring run tests thousands of segment × feature × period bins)
    statistic = float(np.sum((a - f_exp) ** 2 / f_exp))
    return float(stats.chi2.sf(statistic, len(f_exp) - 1))


def ks_statistic(reference: ArrayLike, current: ArrayLike) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov test on the finite values (:func:`scipy.stats.ks_2samp`).

    Parameters
    ----------
    reference, current : array-like of float
        The two samples; NaN and infinite values are ignored.

    Returns
    -------
    tuple of float
        ``(statistic, p_value)``; ``(nan, nan)`` when a sample has no finite value.
    """
    r = np.asarray(reference, dtype=np.float64).ravel()
    c = np.asarray(current, dtype=np.float64).ravel()
    r, c = r[np.isfinite(r)], c[np.isfinite(c)]
    if len(r) == 0 or len(c) == 0:
        return float("nan"), float("nan")
    res = stats.ks_2samp(r, c)
    return float(res.statistic), float(res.pvalue)


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature's current values against its frozen training bins.

    Attributes
    ----------
    psi : float
        Population stability index (:func:`psi`).
    status : {"stable", "watch", "act"}
        :func:`psi_band` of ``psi``.
    p_value : float
        :func:`chi2_p_value` for the same bins.
    missing_share, out_of_range_share : float
        Shares of the current rows in the missing and out-of-range bins.
    n : int
        Current rows.
    """

    psi: float
    status: DriftStatus
    p_value: float
    missing_share: float
    out_of_range_share: float
    n: int


def feature_drift(bins: FrozenBins, current_values: ArrayLike) -> FeatureDrift:
    """Compare a feature's current values with its training distribution over the frozen bins.

    Parameters
    ----------
    bins : FrozenBins
        The bins with their ``reference_counts``.
    current_values : array-like
        The feature's values in the portfolio being monitored.

    Returns
    -------
    FeatureDrift
    """
    actual = bins.counts(current_values)
    expected = np.asarray(bins.reference_counts, dtype=np.int64)
    value = psi(expected, actual)
    n = int(actual.sum())
    share = (lambda k: float(actual[k] / n)) if n else (lambda k: float("nan"))
    return FeatureDrift(
        psi=value,
        status=psi_band(value),
        p_value=chi2_p_value(expected, actual),
        missing_share=share(-2),
        out_of_range_share=share(-1),
        n=n,
    )
