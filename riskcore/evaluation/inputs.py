"""Checks every metric applies to its inputs before computing anything.

Outcomes must be 0/1, scores finite, probabilities in [0, 1], weights
non-negative and all of one length. A problem raises
:class:`riskcore.errors.SchemaError` (a ``ValueError``) naming the argument, the
first bad rows (1-based) and what to pass instead; a bad setting such as
``n_bins`` or ``threshold`` raises a plain ``ValueError`` saying what to pass.
The calibration, cost and metric modules all call these, so every function of
the evaluation layer words the same problem the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from riskcore.errors import Problem, SchemaError

__all__ = [
    "check_1d",
    "check_confidence",
    "check_inputs",
    "check_labels",
    "check_n_bins",
    "check_numbers",
    "check_resamples",
    "check_threshold",
]

_SHOWN = 3  # bad rows quoted in a message


def _rows(mask: np.ndarray, values: np.ndarray) -> str:
    """'row 3: 2.0, row 9: -1.0' for the first few rows where ``mask`` holds (1-based)."""
    bad = np.flatnonzero(mask)[:_SHOWN]
    shown = [values[i].item() if isinstance(values[i], np.generic) else values[i] for i in bad]
    return ", ".join(f"row {i + 1}: {v!r}" for i, v in zip(bad, shown, strict=True))


def _values_are(mask: np.ndarray) -> str:
    """Say '1 value is' or '3 values are' for the rows where ``mask`` holds."""
    k = int(mask.sum())
    return "1 value is" if k == 1 else f"{k} values are"


def check_1d(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D array, or a SchemaError naming ``name``."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise SchemaError(Problem(None, name, None, f"expected a 1-D array, got shape {arr.shape!r}"))
    return arr


def check_numbers(
    values: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    n: int | None = None,
) -> np.ndarray:
    """``values`` as finite float64 in [low, high] (and of length ``n``), else a SchemaError."""
    arr = check_1d(values, name)
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


def check_labels(y_true: Any, *, allow_empty: bool = False) -> np.ndarray:
    """0/1 outcomes as float64, else a SchemaError (bool and 0.0/1.0 are accepted)."""
    arr = check_1d(y_true, "y_true")
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


def check_inputs(
    y_true: Any,
    y_prob: Any,
    sample_weight: Any = None,
    *,
    name: str = "y_prob",
    probability: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check and return ``(y, scores, weights)``: float64 arrays of one length (weights may be None)."""
    y = check_labels(y_true)
    p = check_numbers(y_prob, name, low=0.0 if probability else None, high=1.0 if probability else None, n=len(y))
    w = None
    if sample_weight is not None:
        w = check_numbers(sample_weight, "sample_weight", low=0.0, n=len(y))
    return y, p, w


def check_n_bins(n_bins: int) -> int:
    """``n_bins`` as a positive int, else a ValueError."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins={n_bins!r} must be a positive integer, e.g. 10")
    return int(n_bins)


def check_threshold(threshold: float) -> float:
    """``threshold`` as a float, else a ValueError."""
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold={threshold!r} must be a number, e.g. 0.2") from None
    if np.isnan(t):
        raise ValueError("threshold is NaN; pass a number, e.g. 0.2")
    return t


def check_resamples(n_resamples: int) -> int:
    """``n_resamples`` as a positive int, else a ValueError."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples={n_resamples!r} must be a positive integer, e.g. 1000")
    return int(n_resamples)


def check_confidence(confidence: float) -> float:
    """``confidence`` in (0, 1), else a ValueError."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must be between 0 and 1, e.g. 0.95")
    return float(confidence)
