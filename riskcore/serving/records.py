"""One company's values, without pandas: validation and the model row (the API's hot path).

Scoring (:func:`riskcore.serving.scoring.score_one`) and explanations
(:func:`riskcore.serving.explain.explain_one`) both start from a record a user
typed or sent: keys matched ignoring case and surrounding spaces, text parsed as a
file's cell would be, every problem reported at once. Keeping that here lets both
modules use it without importing each other.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from riskcore.data.columns import normalise_name
from riskcore.data.rules import (
    Check,
    category_lookup,
    exposure_negative_message,
    exposure_unusable_message,
    is_outside_range,
    non_finite_message,
    not_a_finite_number_message,
    not_a_number_message,
    range_message,
    required_message,
    unknown_category_message,
)
from riskcore.errors import Problem, SchemaError

if TYPE_CHECKING:
    from riskcore.data.schema import DatasetSpec, FeatureSpec
    from riskcore.modelling.bundle import ModelBundle

__all__ = ["checked_record", "record_matrix", "records_matrix", "validate_record"]


def validate_record(spec: DatasetSpec, record: dict[str, Any], row: int = 1, *,
                    strict: bool = False) -> tuple[dict[str, Any], list[Problem]]:
    """Check one company's values against the spec; return canonical values and problems.

    Keys are matched ignoring case and surrounding spaces. Missing optional
    features are allowed; required ones, values outside the valid range,
    non-finite numbers and unknown categories are problems, worded by
    :mod:`riskcore.data.rules` exactly as a file's cells are.

    Parameters
    ----------
    spec : the dataset spec.
    record : the company's values (feature name → value).
    row : the row number the problems carry.
    strict : read the record as a machine client's JSON (the API's contract): a
        category only as the spec writes it, and only ``None`` is missing (a blank
        text is a value, and not a known category). By default case and surrounding
        spaces are ignored and blank text is missing, as in a file.

    Returns
    -------
    (clean, problems) : the canonical values (``None`` where missing) and every problem found.
    """
    by_key = {normalise_name(k): v for k, v in record.items()}
    rid = by_key.get(normalise_name(spec.id)) if spec.id else None
    rid = None if rid is None else str(rid)
    clean: dict[str, Any] = {}
    problems: list[Problem] = []

    def problem(column: str, value: Any, check: Check, message: str) -> None:
        problems.append(Problem(row, column, value, message, rid, check))

    for f in spec.features:
        value, check, message = _feature_value(f, by_key.get(normalise_name(f.name)), strict=strict)
        if check is None:
            clean[f.name] = value
        else:
            problem(f.name, value, check, message)
    for pf in spec.panel_features:
        v = by_key.get(normalise_name(pf.name))
        x = None if _is_missing(v) else _number(v)
        if x is None and not _is_missing(v) or (x is not None and np.isinf(x)):
            problem(pf.name, v, "type", not_a_finite_number_message(v))
            x = None
        clean[pf.name] = None if x is None or np.isnan(x) else x
    if spec.exposure:
        v = by_key.get(normalise_name(spec.exposure))
        if not _is_missing(v):
            x = _number(v)
            if x is None or not np.isfinite(x):
                problem(spec.exposure, v, "type", exposure_unusable_message(v))
            elif x < 0:
                problem(spec.exposure, x, "range", exposure_negative_message())
            else:
                clean[spec.exposure] = x
    return clean, problems


def _absent(f: FeatureSpec) -> tuple[Any, Check | None, str]:
    """No value: a problem only when the feature is required."""
    return (None, "required_missing", required_message(f)) if f.required else (None, None, "")


def _feature_value(f: FeatureSpec, v: Any, *, strict: bool) -> tuple[Any, Check | None, str]:
    """One feature's canonical value, or the value shown with a problem, the rule it breaks and its message."""
    if v is None or (not strict and _is_missing(v)):
        return _absent(f)
    if f.kind == "categorical":
        return _category_value(f, v, strict)
    x = _number(v)
    if x is None:
        return v, "type", not_a_number_message(v)
    if math.isnan(x):
        return _absent(f)
    if not math.isfinite(x):
        return v, "non_finite", non_finite_message(v)
    if is_outside_range(f, x):
        return x, "range", range_message(f, x)
    return x, None, ""


def _category_value(f: FeatureSpec, v: Any, strict: bool) -> tuple[Any, Check | None, str]:
    """The category as the spec writes it, or the unknown-category problem."""
    if not f.categories:
        return str(v).strip(), None, ""
    if strict:
        known = isinstance(v, str) and v in f.categories
        return (v, None, "") if known else (v, "unknown_category", unknown_category_message(f, v))
    position = category_lookup(f.categories).get(str(v).strip().casefold())
    if position is None:
        return v, "unknown_category", unknown_category_message(f, v)
    return f.categories[position], None, ""


def _is_missing(v: Any) -> bool:
    """None, NaN, or text holding only spaces."""
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


# what pyarrow's cast accepts, so a cell of a file and a value in a dict parse alike (Python's float() would
# also take "1_000" and non-ASCII digits)
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE | re.ASCII)


def _number(v: Any) -> float | None:
    """A value as a float (text is parsed as a file's cell would be), or None when it is not a number."""
    if isinstance(v, (bool, int, float, np.integer, np.floating)):
        return float(v)
    text = str(v).strip()
    return float(text) if _NUMBER.fullmatch(text) else None


def record_matrix(bundle: ModelBundle, clean: dict[str, Any]) -> np.ndarray:
    """The one-row model matrix of a record checked by :func:`validate_record`, built with NumPy directly.

    Equal to ``bundle.matrix`` of the same row as a DataFrame (a test holds it to that).
    """
    return records_matrix(bundle, [clean])


def records_matrix(bundle: ModelBundle, cleans: list[dict[str, Any]]) -> np.ndarray:
    """The model matrix of records checked by :func:`validate_record`, one row each, built in one pass.

    Row ``i`` equals :func:`record_matrix` of ``cleans[i]``: the engineered features are computed once
    for all rows.
    """
    fb = bundle.features
    layout = fb.layout_
    numeric = np.array([[np.nan if clean.get(c) is None else clean[c] for c in layout.numeric] for clean in cleans],
                       dtype=float).reshape(len(cleans), len(layout.numeric))
    codes = np.array([[fb.categories_[c].index(v) if (v := clean.get(c)) in fb.categories_[c] else np.nan
                       for c in layout.categorical] for clean in cleans],
                     dtype=float).reshape(len(cleans), len(layout.categorical))
    return fb.transform_arrays(numeric, codes)


def checked_record(bundle: ModelBundle, record: dict[str, Any], *,
                   strict: bool = False) -> tuple[dict[str, Any], np.ndarray]:
    """Validate one company's values and build its model row; raise ``SchemaError`` with every problem."""
    clean, problems = validate_record(bundle.spec, record, strict=strict)
    if problems:
        raise SchemaError(problems)
    return clean, record_matrix(bundle, clean)
