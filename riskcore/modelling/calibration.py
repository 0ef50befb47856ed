"""Calibration: turn a model's raw score into a probability of default, and measure how well it does.

:func:`fit_calibrator` learns a monotone map from the raw score (log-odds or any
score where higher means riskier) to a probability, either isotonic (a
non-decreasing step-linear function) or Platt (a logistic curve). The result is a
:class:`Calibrator` holding plain arrays and floats, so a model bundle can store
it as JSON (:meth:`Calibrator.to_dict`) instead of a pickle. Its
:meth:`Calibrator.predict` is pure numpy and needs no scikit-learn at scoring time.

:func:`expected_calibration_error`, :func:`reliability_curve` and
:func:`brier_score` measure calibration. Binning convention (shared with
:mod:`riskcore.evaluation.metrics`): bin ``k`` holds ``edges[k] <= y_prob < edges[k + 1]``,
and the last bin also holds its upper edge, so ``1.0`` falls in the last
uniform bin.

Inputs are checked at the door: ``y_true`` must be 0/1, scores finite,
probabilities in [0, 1] and lengths equal. A problem raises
:class:`riskcore.errors.SchemaError` (a ``ValueError``) naming the argument,
the first bad rows and what to pass instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from riskcore.errors import BundleError, Problem, SchemaError

__all__ = [
    "BinStrategy",
    "CalibrationMethod",
    "Calibrator",
    "brier_score",
    "expected_calibration_error",
    "fit_calibrator",
    "reliability_curve",
]

CalibrationMethod = Literal["isotonic", "platt"]
BinStrategy = Literal["uniform", "quantile"]

_METHODS: tuple[str, ...] = ("isotonic", "platt")
_STRATEGIES: tuple[str, ...] = ("uniform", "quantile")
_SHOWN = 3  # bad rows quoted in a message


# ---------------------------------------------------------------- input checks
# Shared with riskcore.evaluation.metrics and riskcore.evaluation.costs, which import these helpers.


def _rows(mask: np.ndarray, values: np.ndarray) -> str:
    """'row 3: 2.0, row 9: -1.0' for the first few rows where ``mask`` holds (1-based)."""
    bad = np.flatnonzero(mask)[:_SHOWN]
    shown = [values[i].item() if isinstance(values[i], np.generic) else values[i] for i in bad]
    return ", ".join(f"row {i + 1}: {v!r}" for i, v in zip(bad, shown, strict=True))


def _values_are(mask: np.ndarray) -> str:
    """Say '1 value is' or '3 values are' for the rows where ``mask`` holds."""
    k = int(mask.sum())
    return "1 value is" if k == 1 else f"{k} values are"


def _check_1d(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D array, or a SchemaError naming ``name``."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise SchemaError(Problem(None, name, None, f"expected a 1-D array, got shape {arr.shape!r}"))
    return arr


def _check_numbers(
    values: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    n: int | None = None,
) -> np.ndarray:
    """``values`` as finite float64 in [low, high] (and of length ``n``), else a SchemaError."""
    arr = _check_1d(values, name)
    if n is not None and len(arr) != n:
        raise SchemaError(Problem(None, name, len(arr),
                                  f"has {len(arr)} values but y_true has {n}; pass one value per row"))
    try:
        out = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise SchemaError(Problem(None, name, None, f"must be numbers, got dtype {arr.dtype}")) from None
    problems = []
    finite = np.isfinite(out)
    if not finite.all():
        problems.append(Problem(None, name, None,
                                f"{_values_are(~finite)} missing or infinite ({_rows(~finite, out)}); "
                                "remove or fill those rows"))
    bad = np.zeros(len(out), dtype=bool)
    if low is not None:
        bad |= finite & (out < low)
    if high is not None:
        bad |= finite & (out > high)
    if bad.any():
        where = f"outside [{low}, {high}]" if high is not None else f"below the minimum {low}"
        problems.append(Problem(None, name, None, f"{_values_are(bad)} {where} ({_rows(bad, out)})"))
    if problems:
        raise SchemaError(problems)
    return out


def _check_labels(y_true: Any, *, allow_empty: bool = False) -> np.ndarray:
    """0/1 outcomes as float64, else a SchemaError (bool and 0.0/1.0 are accepted)."""
    arr = _check_1d(y_true, "y_true")
    if len(arr) == 0 and not allow_empty:
        raise SchemaError(Problem(None, "y_true", None, "is empty; pass at least one row"))
    try:
        y = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise SchemaError(Problem(None, "y_true", None,
                                  f"must be 0/1 numbers, got dtype {arr.dtype}; pass 1 for a default, 0 otherwise")) \
            from None
    bad = (y != 0) & (y != 1)
    if bad.any():
        raise SchemaError(Problem(None, "y_true", None,
                                  f"{_values_are(bad)} not 0 or 1 ({_rows(bad, arr)}); "
                                  "pass 1 for a default and 0 otherwise"))
    return y


def _check_inputs(
    y_true: Any,
    y_prob: Any,
    sample_weight: Any = None,
    *,
    name: str = "y_prob",
    probability: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check and return ``(y, scores, weights)``: float64 arrays of one length (weights may be None)."""
    y = _check_labels(y_true)
    p = _check_numbers(y_prob, name, low=0.0 if probability else None, high=1.0 if probability else None, n=len(y))
    w = None
    if sample_weight is not None:
        w = _check_numbers(sample_weight, "sample_weight", low=0.0, n=len(y))
    return y, p, w


def _check_n_bins(n_bins: int) -> int:
    """``n_bins`` as a positive int, else a ValueError."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins={n_bins!r} must be a positive integer, e.g. 10")
    return int(n_bins)


# ---------------------------------------------------------------- calibrator


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function without overflow warnings for large |z|."""
    e = np.exp(-np.abs(z))
    out: np.ndarray = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out


def _logit(p: float) -> float:
    """Log-odds of ``p``, clipped away from 0 and 1."""
    p = min(max(p, 1e-15), 1 - 1e-15)
    return float(np.log(p / (1 - p)))


@dataclass(frozen=True, eq=False)
class Calibrator:
    """A fitted monotone map from raw score to probability of default.

    Attributes
    ----------
    method : {'isotonic', 'platt'}
        Which family was fitted.
    x_, y_ : ndarray of shape (n_thresholds,) or None
        Isotonic only: ascending raw-score knots and their probabilities — the
        centres of the isotonic blocks by default, or scikit-learn's
        ``IsotonicRegression.X_thresholds_`` / ``y_thresholds_`` (``centred=False``).
        Between knots the map is linear; outside them it is clipped to the end values.
    a_, b_ : float or None
        Platt only: ``p = 1 / (1 + exp(-(a_ * score + b_)))`` with ``a_ >= 0``.

    Notes
    -----
    Instances compare equal when method and parameters are equal; they are not
    hashable (they hold arrays). The arrays are read-only.
    """

    method: CalibrationMethod
    x_: np.ndarray | None = field(default=None, repr=False)
    y_: np.ndarray | None = field(default=None, repr=False)
    a_: float | None = None
    b_: float | None = None

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"method={self.method!r} is unknown; use 'isotonic' or 'platt'")
        if self.method == "isotonic":
            if self.x_ is None or self.y_ is None:
                raise ValueError("an isotonic Calibrator needs both x_ and y_")
            x = np.array(self.x_, dtype=np.float64).ravel()
            y = np.array(self.y_, dtype=np.float64).ravel()
            if len(x) == 0 or len(x) != len(y):
                raise ValueError(f"x_ and y_ must be non-empty and of equal length, got {len(x)} and {len(y)}")
            if not (np.isfinite(x).all() and np.isfinite(y).all()):
                raise ValueError("x_ and y_ must be finite")
            if np.any(np.diff(x) <= 0):
                raise ValueError("x_ must be strictly increasing")
            if np.any(np.diff(y) < 0) or y[0] < 0 or y[-1] > 1:
                raise ValueError("y_ must be non-decreasing and within [0, 1]")
            x.setflags(write=False)
            y.setflags(write=False)
            object.__setattr__(self, "x_", x)
            object.__setattr__(self, "y_", y)
        else:
            if self.a_ is None or self.b_ is None:
                raise ValueError("a platt Calibrator needs both a_ and b_")
            a, b = float(self.a_), float(self.b_)
            if not (np.isfinite(a) and np.isfinite(b)) or a < 0:
                raise ValueError(f"a_={a!r} must be finite and >= 0, b_={b!r} finite")
            object.__setattr__(self, "a_", a)
            object.__setattr__(self, "b_", b)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Calibrator):
            return NotImplemented
        if self.method != other.method:
            return False
        if self.method == "platt":
            return self.a_ == other.a_ and self.b_ == other.b_
        pairs = ((self.x_, other.x_), (self.y_, other.y_))
        return all(a is not None and b is not None and np.array_equal(a, b) for a, b in pairs)

    __hash__ = None  # type: ignore[assignment]

    def predict(self, raw_score: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of default.

        Parameters
        ----------
        raw_score : array-like of shape (n,)
            Raw model scores on the scale the calibrator was fitted on. NaN stays NaN.

        Returns
        -------
        ndarray of shape (n,)
            Probabilities in [0, 1], non-decreasing in ``raw_score``. For isotonic
            this equals ``IsotonicRegression(out_of_bounds="clip").predict``.
        """
        s = np.asarray(raw_score, dtype=np.float64)
        if self.method == "isotonic":
            out: np.ndarray = np.interp(s, cast(np.ndarray, self.x_), cast(np.ndarray, self.y_))
            return out
        return _sigmoid(cast(float, self.a_) * s + cast(float, self.b_))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: ``{"method", "x", "y"}`` (isotonic) or ``{"method", "a", "b"}`` (platt)."""
        if self.method == "isotonic":
            x, y = cast(np.ndarray, self.x_), cast(np.ndarray, self.y_)
            return {"method": "isotonic", "x": x.tolist(), "y": y.tolist()}
        return {"method": "platt", "a": cast(float, self.a_), "b": cast(float, self.b_)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Rebuild a calibrator from :meth:`to_dict` output.

        Raises
        ------
        riskcore.errors.BundleError
            When keys are missing or the parameters are not a valid calibrator.
        """
        try:
            method = data["method"]
            if method == "isotonic":
                return cls("isotonic", x_=np.asarray(data["x"], dtype=np.float64),
                           y_=np.asarray(data["y"], dtype=np.float64))
            if method == "platt":
                return cls("platt", a_=float(data["a"]), b_=float(data["b"]))
            raise ValueError(f"method={method!r} is unknown; use 'isotonic' or 'platt'")
        except (KeyError, TypeError, ValueError) as err:
            raise BundleError(f"the stored calibrator is not valid: {err}") from None


def fit_calibrator(
    raw_score: np.ndarray,
    y_true: np.ndarray,
    method: CalibrationMethod = "isotonic",
    *,
    sample_weight: np.ndarray | None = None,
    centred: bool = True,
) -> Calibrator:
    """Fit a monotone calibrator on held-out scores.

    Parameters
    ----------
    raw_score : array-like of shape (n,)
        The model's raw score (log-odds or any score where higher means riskier).
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    method : {'isotonic', 'platt'}, default='isotonic'
        Isotonic regression (``out_of_bounds="clip"``, output in [0, 1],
        increasing), or Platt scaling: an effectively unpenalised logistic
        regression on the score.
    sample_weight : array-like of shape (n,), optional
        Non-negative row weights.
    centred : bool, default=True
        Isotonic only. Interpolate between the *centres* of the isotonic blocks
        (centred isotonic regression, Oron & Flournoy 2017) instead of along their
        flat steps. Same fitted values at the centres, same monotonicity, but no
        plateaus: companies with different scores get different PDs, and a
        company's explanation is not flattened to zero by a step. ``False`` gives
        scikit-learn's step function exactly.

    Returns
    -------
    Calibrator

    Raises
    ------
    riskcore.errors.SchemaError
        (a ``ValueError``) when lengths differ, ``y_true`` is not 0/1 or holds
        a single class, or scores are not finite.
    ValueError
        When ``method`` is unknown.

    Notes
    -----
    Platt scaling is constrained to be non-decreasing: if the unconstrained fit
    has a negative slope (the score ranks backwards), the constrained maximum
    likelihood fit is the constant ``logit(default rate)``, i.e. ``a_ = 0``.
    The score is standardised before fitting for numerical conditioning and the
    coefficients are mapped back to the raw scale.

    Examples
    --------
    >>> import numpy as np
    >>> cal = fit_calibrator(np.array([-2.0, -1.0, 0.0, 1.0]), np.array([0, 0, 1, 1]))
    >>> cal.predict(np.array([-5.0, 5.0])).tolist()
    [0.0, 1.0]
    """
    if method not in _METHODS:
        raise ValueError(f"method={method!r} is unknown; use 'isotonic' or 'platt'")
    y, s, w = _check_inputs(y_true, raw_score, sample_weight, name="raw_score", probability=False)
    classes = np.unique(y if w is None else y[w > 0])
    if len(classes) < 2:
        only = "none" if len(classes) == 0 else f"only {int(classes[0])}"
        raise SchemaError(Problem(None, "y_true", None,
                                  f"holds {only} of the two classes in {len(y)} rows; calibration needs both "
                                  "defaults (1) and non-defaults (0), so use a larger or stratified calibration set"))
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
        iso.fit(s, y, sample_weight=w)
        if not centred:
            return Calibrator("isotonic", x_=iso.X_thresholds_, y_=iso.y_thresholds_)
        centres, values = _block_centres(s, iso.predict(s), w)
        return Calibrator("isotonic", x_=centres, y_=values)

    rate = float(np.average(y, weights=w))
    centre, scale = float(np.mean(s)), float(np.std(s))
    if not scale > 0:
        return Calibrator("platt", a_=0.0, b_=_logit(rate))
    from sklearn.linear_model import LogisticRegression

    z = ((s - centre) / scale).reshape(-1, 1)
    lr = LogisticRegression(C=1e6, tol=1e-10, max_iter=1000)
    lr.fit(z, y, sample_weight=w)
    a = float(lr.coef_[0, 0]) / scale
    b = float(lr.intercept_[0]) - a * centre
    if a < 0:
        return Calibrator("platt", a_=0.0, b_=_logit(rate))
    return Calibrator("platt", a_=a, b_=b)


def _block_centres(s: np.ndarray, fitted: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean score and fitted value of each isotonic block (runs of equal fitted value)."""
    order = np.argsort(s, kind="stable")
    ss, ff = s[order], fitted[order]
    ww = np.ones(len(ss)) if w is None else w[order]
    new_block = np.r_[True, ff[1:] != ff[:-1]]
    block = np.cumsum(new_block) - 1
    weight = np.bincount(block, weights=ww)
    centre = np.bincount(block, weights=ww * ss) / np.where(weight > 0, weight, 1.0)
    value = ff[new_block]
    keep = weight > 0
    return centre[keep], value[keep]


# ---------------------------------------------------------------- calibration measures


def _bin_edges(p: np.ndarray, n_bins: int, strategy: BinStrategy) -> np.ndarray:
    """Bin edges: equal width on [0, 1], or the distinct quantiles of ``p``."""
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
        return edges if len(edges) > 1 else np.array([edges[0], edges[0]])
    raise ValueError(f"strategy={strategy!r} is unknown; use 'uniform' or 'quantile'")


def _bin_index(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each probability: ``edges[k] <= p < edges[k + 1]``, the last bin closed."""
    return np.searchsorted(edges[1:-1], p, side="right")


def reliability_curve(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    n_bins: int = 10,
    strategy: BinStrategy = "uniform",
) -> pd.DataFrame:
    """Observed default rate against mean predicted probability, bin by bin.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Predicted probabilities in [0, 1].
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
    riskcore.errors.SchemaError
        For invalid inputs (see the module docstring).
    """
    n_bins = _check_n_bins(n_bins)
    y, p, _ = _check_inputs(y_true, y_prob)
    edges = _bin_edges(p, n_bins, strategy)
    k = _bin_index(p, edges)
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
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Predicted probabilities in [0, 1].
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
    riskcore.errors.SchemaError
        For invalid inputs (see the module docstring).
    """
    n_bins = _check_n_bins(n_bins)
    y, p, _ = _check_inputs(y_true, y_prob)
    edges = _bin_edges(p, n_bins, strategy)
    gap = np.bincount(_bin_index(p, edges), weights=p - y, minlength=len(edges) - 1)
    return float(np.abs(gap).sum() / len(y))


def brier_score(y_true: np.ndarray, y_prob: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Mean squared difference between predicted probability and outcome.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for a default, 0 otherwise.
    y_prob : array-like of shape (n,)
        Predicted probabilities in [0, 1].
    sample_weight : array-like of shape (n,), optional
        Non-negative row weights.

    Returns
    -------
    float
        Equal to ``sklearn.metrics.brier_score_loss``; lower is better.
    """
    y, p, w = _check_inputs(y_true, y_prob, sample_weight)
    return float(np.average((p - y) ** 2, weights=w))
