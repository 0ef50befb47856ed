"""Calibration: turn a model's raw score into a probability of default.

:func:`fit_calibrator` learns a monotone map from the raw score (log-odds or any
score where higher means riskier) to a probability, either isotonic (a
non-decreasing step-linear function) or Platt (a logistic curve). The result is a
:class:`Calibrator` holding plain arrays and floats, so a model bundle can store
it as JSON (:meth:`Calibrator.to_dict`) instead of a pickle. Its
:meth:`Calibrator.predict` is numpy and scipy only and needs no scikit-learn at scoring time.

How well the result is calibrated is measured in the evaluation layer
(:mod:`riskcore.evaluation.reliability`: reliability curve, ECE, Brier score).

Inputs are checked at the door (:mod:`riskcore.evaluation.inputs`): ``y_true``
must be 0/1, scores finite and lengths equal. A problem raises
:class:`riskcore.errors.SchemaError` (a ``ValueError``) naming the argument,
the first bad rows and what to pass instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np

from riskcore.errors import BundleError, Problem, SchemaError
from riskcore.evaluation.grading import PD_FLOOR
from riskcore.evaluation.inputs import check_inputs
from riskcore.numeric import expit, logit

__all__ = [
    "CalibrationMethod",
    "Calibrator",
    "calibrated_pd",
    "fit_calibrator",
]

CalibrationMethod = Literal["isotonic", "platt"]

_METHODS: tuple[str, ...] = ("isotonic", "platt")


def _constant_platt(rate: float) -> Calibrator:
    """The Platt calibrator that gives every company the default rate (slope 0)."""
    return Calibrator("platt", a_=0.0, b_=float(logit(rate)))


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
        return expit(cast(float, self.a_) * s + cast(float, self.b_))

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


def calibrated_pd(calibrator: Calibrator, raw: np.ndarray) -> np.ndarray:
    """The calibrated PD, floored at Basel's 0.05% for corporates.

    An isotonic step whose validation rows had no default would otherwise give a
    PD of exactly zero, which no validator accepts as an estimate.
    """
    return np.clip(calibrator.predict(raw), PD_FLOOR, 1.0)


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
    y, s, w = check_inputs(y_true, raw_score, sample_weight, name="raw_score", probability=False)
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
        return _constant_platt(rate)
    from sklearn.linear_model import LogisticRegression

    z = ((s - centre) / scale).reshape(-1, 1)
    lr = LogisticRegression(C=1e6, tol=1e-10, max_iter=1000)
    lr.fit(z, y, sample_weight=w)
    a = float(lr.coef_[0, 0]) / scale
    b = float(lr.intercept_[0]) - a * centre
    if a < 0:
        return _constant_platt(rate)
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
