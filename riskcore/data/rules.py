"""The rules a :class:`~riskcore.data.schema.FeatureSpec` declares, each checked and worded once.

A feature's spec says whether a value is required, which range is possible at
all, which categories exist and in which unit the value is written. A file
(:func:`riskcore.data.prepare.prepare_frame`, :func:`riskcore.data.prepare.range_cells`),
one company typed into the dashboard or sent to the API
(:func:`riskcore.serving.records.validate_record`) are all checked against those
rules, and a user who makes the same mistake on any face reads the same sentence:
every message below is written in exactly one function, and the checks that both
paths share (:func:`outside_range`, :func:`category_lookup`) are written once too.

Each rule has a short name, the ``check`` of a located
:class:`~riskcore.errors.Problem` and of a row in a quality report's ``cells``
table: ``required_missing``, ``type``, ``non_finite``, ``range``,
``unknown_category``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from riskcore.data.schema import FeatureSpec

__all__ = [
    "Check",
    "category_lookup",
    "exposure_negative_message",
    "exposure_unusable_message",
    "is_outside_range",
    "non_finite_message",
    "not_a_date_message",
    "not_a_finite_number_message",
    "not_a_number_message",
    "outside_range",
    "range_message",
    "range_text",
    "required_message",
    "show_value",
    "unknown_category_message",
]

Check = Literal["required_missing", "type", "non_finite", "range", "unknown_category"]
_SHOWN_CATEGORIES = 12
_SHOWN_CHARS = 60


def _quoted(value: Any) -> str:
    """A value as the user wrote it, quoted, cut short so a pasted paragraph does not flood the message."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 1] + "…"


def show_value(v: object) -> str:
    """A value for a message: numbers plainly (``7``, ``0.5``), text quoted (``'abc'``)."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    return _quoted(v)


def _bound(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10_000 else f"{x:g}"


def range_text(lo: float | None, hi: float | None) -> str:
    """``0 to 5``, ``at least 0``, ``at most 1``: a range as a sentence says it (large bounds with commas)."""
    if lo is not None and hi is not None:
        return f"{_bound(lo)} to {_bound(hi)}"
    if lo is not None:
        return f"at least {_bound(lo)}"
    return f"at most {_bound(hi if hi is not None else 0.0)}"


def _unit_text(f: FeatureSpec) -> str:
    """The unit after a range; a percentage is written as a fraction, which users get wrong most often."""
    if f.unit == "%":
        return " (a fraction: 0.25 means 25%)"
    return f" ({f.unit})" if f.unit else ""


# ---------------------------------------------------------------------------
# the checks both paths share
# ---------------------------------------------------------------------------

def outside_range(f: FeatureSpec, values: np.ndarray | float) -> np.ndarray:
    """Mask of the values outside the feature's valid range (NaN is never outside: it is missing)."""
    v = np.asarray(values, dtype=float)
    bad = np.zeros(v.shape, dtype=bool)
    if f.min is not None:
        bad |= v < f.min
    if f.max is not None:
        bad |= v > f.max
    return bad


def is_outside_range(f: FeatureSpec, value: float) -> bool:
    """:func:`outside_range` for one number, without NumPy (one company's record is the API's hot path)."""
    return (f.min is not None and value < f.min) or (f.max is not None and value > f.max)


@functools.lru_cache(maxsize=256)
def category_lookup(categories: tuple[str, ...]) -> dict[str, int]:
    """Each category's position, keyed by its case-folded name: case and surrounding spaces never matter.

    Cached per tuple of categories; callers only read the dict.
    """
    return {c.casefold(): i for i, c in enumerate(categories)}


# ---------------------------------------------------------------------------
# one sentence per rule
# ---------------------------------------------------------------------------

def required_message(f: FeatureSpec) -> str:
    """A required feature without a value."""
    return f"{f.display_label} is required; fill it in"


def not_a_number_message(value: Any, decimal: str = ".") -> str:
    """Text in a numeric feature."""
    return f"{_quoted(value)} is not a number; write digits (decimal mark {decimal!r}) or leave it empty"


def non_finite_message(value: Any) -> str:
    """An infinite number (or one too large for a float) in a numeric feature."""
    return f"{_quoted(value)} is infinite or too large to represent; give a finite number"


def not_a_finite_number_message(value: Any) -> str:
    """A change or volatility the data brings itself that is not a finite number."""
    return f"{_quoted(value)} is not a finite number; write digits or leave it empty"


def range_message(f: FeatureSpec, value: float) -> str:
    """A number outside the feature's valid range, with the range and its unit."""
    return (f"value {show_value(value)} is outside the valid range {range_text(f.min, f.max)}{_unit_text(f)}; "
            "correct the value or leave it empty")


def unknown_category_message(f: FeatureSpec, value: Any) -> str:
    """A value that is none of the feature's categories, with (the first of) the allowed ones."""
    allowed = ", ".join(f.categories[:_SHOWN_CATEGORIES]) + (" …" if len(f.categories) > _SHOWN_CATEGORIES else "")
    return f"{_quoted(value)} is not a known {f.display_label.lower()}; allowed: {allowed}"


def not_a_date_message(value: Any) -> str:
    """Text that is not a date in a feature computed from dates (its age in years)."""
    return f"{_quoted(value)} is not a date; write a date such as 2024-12-31 or leave it empty"


def exposure_unusable_message(value: Any) -> str:
    """An exposure that is not a finite number."""
    return f"{_quoted(value)} is not a usable amount; write the exposure as a finite number, 0 or more"


def exposure_negative_message() -> str:
    """A negative exposure."""
    return "exposure cannot be negative; give the amount at risk (0 or more)"
