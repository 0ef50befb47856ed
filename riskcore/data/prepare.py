"""Typing a frame according to a spec, recording every cell that cannot be used.

:func:`prepare_frame` matches a file's columns to a :class:`DatasetSpec`
(ignoring case, surrounding spaces and separators; a feature's label is
accepted as its name), turns text into numbers, dates and categories, and
records each cell it could not use (text in a numeric column, infinities,
unknown categories) as a located problem. :func:`range_cells` then finds the
typed values outside the valid range (errors) and outside the typical range
(outliers). Every sentence about a broken rule comes from
:mod:`riskcore.data.rules`, the same one a single company gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskcore.data.columns import match_columns
from riskcore.data.parsing import date_ages, fiscal_year_end, fiscal_years, parse_dates, parse_numbers
from riskcore.data.rules import (
    category_lookup,
    exposure_negative_message,
    exposure_unusable_message,
    non_finite_message,
    not_a_date_message,
    not_a_number_message,
    outside_range,
    range_message,
    range_text,
    show_value,
    unknown_category_message,
)
from riskcore.data.schema import DatasetSpec, FeatureSpec
from riskcore.data.table import Table, map_columns, text_array
from riskcore.errors import Problem

__all__ = ["CELL_COLUMNS", "Prepared", "binarize_target", "freeze_typical_ranges", "match_spec_columns",
           "prepare_frame", "range_cells", "row_keys"]

#: The columns of a table of located bad cells (``Prepared.cells``, ``QualityReport.cells``).
CELL_COLUMNS = ["row", "id", "column", "value", "check", "problem"]
_TRUE = {"1", "1.0", "true", "yes", "y", "t", "default", "defaulted"}
_FALSE = {"0", "0.0", "false", "no", "n", "f", "performing", "non-default", "no default"}


@dataclass
class Prepared:
    """A frame typed according to a spec, with the cells that could not be used.

    ``frame`` uses the spec's column names; numeric features are float64 (cells
    that were not valid numbers are NaN here and listed in ``cells``);
    categorical features, the id and the name column are text. ``rows`` holds the
    data-row number of each row in the file. ``category_codes`` holds, for each
    categorical feature with a fixed list of categories, every row's position in
    that list (-1 when missing or unknown), so a model can encode the column
    without looking at its text again.
    """

    frame: pd.DataFrame
    rows: np.ndarray
    spec: DatasetSpec
    cells: pd.DataFrame
    unreadable: list[Problem] = field(default_factory=list)
    missing_columns: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    category_codes: dict[str, np.ndarray] = field(default_factory=dict)


def row_keys(frame: pd.DataFrame, spec: DatasetSpec, rows: np.ndarray | None = None) -> pd.Series:
    """A readable key per row: ``id time``, ``id``, or ``row N``."""
    n = len(frame)
    if spec.id and spec.id in frame:
        key = frame[spec.id].astype(object).where(frame[spec.id].notna(), "?").astype(str)
        if spec.time and spec.time in frame:
            t = frame[spec.time]
            if pd.api.types.is_integer_dtype(t):
                tt = t.astype(str)
            elif pd.api.types.is_datetime64_any_dtype(t):
                tt = t.dt.strftime("%Y-%m-%d").fillna("?")
            else:
                tt = t.map(lambda v: "?" if pd.isna(v) else (str(int(v)) if isinstance(v, float) and v == int(v)
                                                             else str(v)))
            key = key + " " + tt.astype(str).to_numpy()
        return key.reset_index(drop=True)
    r = np.arange(1, n + 1) if rows is None else rows
    return pd.Series([f"row {i}" for i in r], dtype=object)


def binarize_target(values: pd.Series, positive: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Turn a target column into 0/1.

    Accepts 0/1, true/false, yes/no, or any two labels when ``positive`` names
    the one meaning "defaulted".

    Returns
    -------
    (y, bad, message) : float array with NaN where unusable, mask of bad cells, and
    an explanation when the column as a whole cannot be used (else "").
    """
    missing = values.isna().to_numpy()
    text = values.astype(object).where(~values.isna(), None)
    norm = text.map(lambda v: str(v).strip().casefold(), na_action="ignore")
    y = np.full(len(values), np.nan)
    if positive is not None:
        pos = str(positive).strip().casefold()
        labels = set(norm.dropna().unique())
        if pos not in labels:
            shown = ", ".join(map(repr, sorted(labels)[:10]))
            return y, ~missing, f"the positive label {positive!r} does not occur in the target; labels found: {shown}"
        others = labels - {pos}
        if len(others) > 1:
            shown = ", ".join(map(repr, sorted(others)[:10]))
            return y, ~missing, (f"the target has more than two labels ({pos!r} and {shown}); "
                                 "a default model needs exactly two")
        y = np.where(norm.to_numpy(dtype=object) == pos, 1.0, 0.0)
        y[missing] = np.nan
        return y, np.zeros(len(values), dtype=bool), ""
    arr = norm.to_numpy(dtype=object)
    is_true = np.isin(arr, list(_TRUE))
    is_false = np.isin(arr, list(_FALSE))
    y[is_true] = 1.0
    y[is_false] = 0.0
    bad = ~missing & ~is_true & ~is_false
    if bad.all() and len(bad):
        found = sorted(set(norm.dropna().unique()))
        shown = ", ".join(map(repr, found[:10]))
        return y, bad, (f"the target must be 0/1, true/false or yes/no; found {shown}. "
                        "If it has two other labels, name the one meaning default with --positive")
    return y, bad, ""


def _cells(rows: np.ndarray, ids: pd.Series, column: str, values: pd.Series | np.ndarray, check: str,
           problems: list[str] | str) -> pd.DataFrame:
    """A table of located bad cells (:data:`CELL_COLUMNS`), one sentence per cell or one for all."""
    n = len(rows)
    probs = problems if isinstance(problems, list) else [problems] * n
    return pd.DataFrame({"row": rows.astype(np.int64), "id": ids.to_numpy(dtype=object) if n else [],
                         "column": [column] * n, "value": list(values), "check": [check] * n,
                         "problem": probs}, columns=CELL_COLUMNS)


def prepare_frame(data: Table | pd.DataFrame, spec: DatasetSpec, *, decimal: str | None = None) -> Prepared:
    """Match columns to the spec and type them, recording every unusable cell.

    Text columns read from a file stay in Arrow until they are typed (numbers
    are parsed by pyarrow, categories are matched once per distinct value), and
    the key shown with a problem is built only for the rows that have one, so a
    million-row file costs about as much as reading it.

    Parameters
    ----------
    data : a :class:`~riskcore.data.table.Table` as read from a file, or a frame.
    spec : the dataset spec.
    decimal : decimal mark of text cells; taken from the table when omitted.

    Returns
    -------
    Prepared
    """
    if isinstance(data, Table):
        frame, rows = data.frame, data.rows
        decimal = decimal or data.info.decimal
        unreadable = list(data.problems)
        notes = list(data.info.notes)
    else:
        frame, rows = data.reset_index(drop=True), np.arange(1, len(data) + 1, dtype=np.int64)
        unreadable, notes = [], []
        decimal = decimal or "."
    columns, extra, missing_columns = _spec_columns(frame, spec, notes)
    typing = _Typing(spec, columns, np.asarray(rows, dtype=np.int64), len(frame), decimal, notes)
    observed = typing.time_column()
    category_codes = typing.features(observed)
    typing.exposure()
    typing.never_columns()
    # object arrays stay object (pandas would otherwise turn text into its string dtype, a copy per column)
    out = pd.DataFrame({k: pd.Series(v, dtype=object, copy=False) if isinstance(v, np.ndarray) and v.dtype == object
                        else v for k, v in columns.items()}, index=pd.RangeIndex(len(frame)), copy=False)
    cells = pd.concat(typing.parts, ignore_index=True) if typing.parts else pd.DataFrame(columns=CELL_COLUMNS)
    return Prepared(frame=out, rows=typing.rows, spec=spec, cells=cells,
                    unreadable=unreadable, missing_columns=missing_columns, extra_columns=extra,
                    notes=tuple(notes), category_codes=category_codes)


def _spec_columns(frame: pd.DataFrame, spec: DatasetSpec,
                  notes: list[str]) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    """The file's columns under the spec's names, then the other columns; which are extra and which missing."""
    wanted = list(dict.fromkeys(
        [c for c in (spec.id, spec.time, spec.target, spec.exposure, spec.name_column, spec.segment) if c]
        + list(spec.feature_names) + list(spec.never) + list(spec.post_event)
    ))
    by_name = {str(c): c for c in frame.columns}
    mapping, match_notes = match_spec_columns(list(by_name), wanted, spec)
    notes.extend(match_notes)
    used = set(mapping.values())
    extra = tuple(c for c in by_name if c not in used)
    columns: dict[str, Any] = {canon: frame[by_name[actual]].array for canon, actual in mapping.items()}
    columns.update({c: frame[by_name[c]].array for c in extra})
    return columns, extra, tuple(c for c in spec.feature_names if c not in mapping)


class _Typing:
    """The columns of one frame being typed in place, and the located bad cells found on the way."""

    def __init__(self, spec: DatasetSpec, columns: dict[str, Any], rows: np.ndarray, n: int, decimal: str,
                 notes: list[str]):
        self.spec, self.columns, self.rows, self.decimal, self.notes = spec, columns, rows, decimal, notes
        self.parts: list[pd.DataFrame] = []
        if spec.id and spec.id in columns:
            columns[spec.id] = _text_values(pd.Series(columns[spec.id]))
        if spec.name_column and spec.name_column in columns:
            columns[spec.name_column] = _text_series(pd.Series(columns[spec.name_column]))
        # indexed like the file even without key columns, so a bad cell of a keyless file still finds its row
        self.key_frame = pd.DataFrame({c: pd.Series(columns[c], dtype=object) if c == spec.id else columns[c]
                                       for c in spec.key_columns if c in columns}, index=pd.RangeIndex(n),
                                      copy=False)

    def bad_cells(self, col: str, raw: pd.Series, mask: np.ndarray, check: str,
                  message: Callable[[Any], str]) -> None:
        """Record the cells of ``mask``: row, key, value as written, the rule broken and its sentence."""
        idx = np.flatnonzero(mask)
        values = raw.iloc[idx].to_numpy(dtype=object)
        keys = row_keys(self.key_frame.iloc[idx], self.spec, self.rows[idx])
        self.parts.append(_cells(self.rows[idx], keys, col, values, check, [message(v) for v in values]))

    def time_column(self) -> np.ndarray | None:
        """Type the time column as years (numbers, or the fiscal years of dates); each row's observation date."""
        spec, columns = self.spec, self.columns
        if not spec.time or spec.time not in columns:
            return None
        observed: np.ndarray | None = None  # each row's observation date, for the ages of date features
        raw = pd.Series(columns[spec.time])
        values, bad = parse_numbers(raw, self.decimal)
        present = int(raw.notna().sum())
        if bad.sum() > 0.1 * present:
            # mostly not numbers: dates, perhaps
            dates, bad_d, how = parse_dates(raw)
            if int((~np.isnat(dates)).sum()) >= 0.9 * present:
                observed = dates
                years = fiscal_years(dates, spec.year_end_month)
                columns[spec.time] = years.astype(np.int64) if not np.isnan(years).any() else years
                ends = "the calendar year of its date" if spec.year_end_month == 12 else \
                    f"the fiscal year ending in month {spec.year_end_month} that holds its date"
                self.notes.append(f"the time column {spec.time!r} holds {how}; each row's period is its fiscal "
                                  f"year ({ends})")
                if bad_d.any():
                    self.bad_cells(spec.time, raw, bad_d, "type",
                                   lambda v: f"{v!r} is not a date or a year; write a date such as 2024-12-31")
                bad = np.zeros(len(values), dtype=bool)
            else:
                columns[spec.time] = values
        else:
            columns[spec.time] = values
            finite = values[np.isfinite(values)]
            if len(finite) and np.all(np.mod(finite, 1) == 0) and not np.isnan(values).any():
                columns[spec.time] = values.astype(np.int64)
            if any(f.from_date for f in spec.features):
                observed = fiscal_year_end(values, spec.year_end_month)
        if bad.any():
            self.bad_cells(spec.time, raw, bad, "type",
                           lambda v: f"{v!r} is not a year or a date; write the fiscal year as a number such as 2024")
        return observed

    def features(self, observed: np.ndarray | None) -> dict[str, np.ndarray]:
        """Type every feature column; each fixed-category feature's positions in its list of categories."""
        spec, columns = self.spec, self.columns
        category_codes: dict[str, np.ndarray] = {}
        numeric = [f.name for f in spec.features if f.kind == "numeric" and not f.from_date and f.name in columns]
        parsed = dict(zip(numeric, map_columns(lambda c: parse_numbers(pd.Series(columns[c]), self.decimal),
                                               numeric)))
        for f in spec.features:
            if f.name not in columns:
                continue
            raw = pd.Series(columns[f.name])
            if f.from_date:
                columns[f.name] = self._date_feature(f, raw, observed)
            elif f.kind == "numeric":
                columns[f.name] = self._numeric_feature(f, raw, *parsed[f.name])
            elif f.categories:
                folded, unknown, category_codes[f.name] = _match_categories(raw, f.categories)
                if unknown.any():
                    self.bad_cells(f.name, pd.Series(_text_values(raw)), unknown, "unknown_category",
                                   partial(unknown_category_message, f))
                columns[f.name] = folded
            else:
                columns[f.name] = _text_values(raw)
        return category_codes

    def _date_feature(self, f: FeatureSpec, raw: pd.Series, observed: np.ndarray | None) -> np.ndarray:
        """A date feature as its age in years at each row's observation date."""
        dates, bad, _ = parse_dates(raw)
        if bad.any():
            self.bad_cells(f.name, raw, bad, "type", not_a_date_message)
        if observed is None:
            self.notes.append(f"{f.name!r} is the age of a date at the row's observation date, but there is no "
                              f"time column {self.spec.time!r} to take that date from; it is treated as missing")
            return np.full(len(raw), np.nan)
        return date_ages(dates, observed)

    def _numeric_feature(self, f: FeatureSpec, raw: pd.Series, values: np.ndarray, bad: np.ndarray) -> np.ndarray:
        """A numeric feature's parsed values, NaN where a cell is not a number or not finite."""
        if bad.any():
            self.bad_cells(f.name, raw, bad, "type", lambda v: not_a_number_message(v, self.decimal))
        inf = np.isinf(values)
        if inf.any():
            self.bad_cells(f.name, raw, inf, "non_finite", non_finite_message)
            values = np.where(inf, np.nan, values)
        return values

    def exposure(self) -> None:
        """Type the exposure column as amounts, NaN where unusable."""
        spec = self.spec
        if spec.exposure and spec.exposure in self.columns:
            raw = pd.Series(self.columns[spec.exposure])
            values, bad = parse_numbers(raw, self.decimal)
            bad = bad | np.isinf(values)
            if bad.any():
                self.bad_cells(spec.exposure, raw, bad, "type", exposure_unusable_message)
            self.columns[spec.exposure] = np.where(bad, np.nan, values)

    def never_columns(self) -> None:
        """Columns that are never features become numbers when all their cells are (the leakage check tests them)."""
        spec = self.spec
        for never in spec.never + spec.post_event:
            if never in self.columns and never != spec.target:
                values, bad = parse_numbers(pd.Series(self.columns[never]), self.decimal)
                if not bad.any():
                    self.columns[never] = values


def match_spec_columns(columns: list[str], wanted: list[str], spec: DatasetSpec) -> tuple[dict[str, str], list[str]]:
    """The file's column for each wanted name; a feature's plain-language label matches it too."""
    return match_columns(columns, wanted, aliases={f.name: (f.label,) for f in spec.features if f.label})


def _trimmed_text(s: pd.Series) -> pa.ChunkedArray:
    """Cells as Arrow text, surrounding spaces removed, empty cells missing.

    Numbers of a typed frame are shown as a person would write them (``7``, not ``7.0``).
    """
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        obj = s.astype(object).where(s.notna(), None).to_numpy()
        text = pa.chunked_array([pa.array(
            [None if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)) for v in obj],
            type=pa.large_string())])
    else:
        text = text_array(s)
    text = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)


def _text_values(s: pd.Series) -> np.ndarray:
    """Trimmed text as an object array (``None`` where missing)."""
    return np.asarray(_trimmed_text(s).to_numpy(zero_copy_only=False), dtype=object)


def _text_series(s: pd.Series) -> pd.Series:
    """Trimmed text as a pandas string column (Arrow-backed when pyarrow is, as here, installed)."""
    return _trimmed_text(s).to_pandas()


def _match_categories(raw: pd.Series, categories: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical category per cell, the mask of unknown cells, and each cell's position in ``categories``.

    Case and surrounding spaces are ignored; a missing or unknown cell has
    position -1. Each distinct value is looked up once; cells are then mapped
    by their code.
    """
    position = category_lookup(categories)
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        raw = pd.Series(_text_values(raw), dtype=object)
    # the distinct values are few: encode the cells as they are, then trim and look up each distinct value once
    encoded = pc.dictionary_encode(text_array(raw).combine_chunks())
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    distinct = [str(u).strip() for u in encoded.dictionary.to_pylist()]
    found = np.array([position.get(u.casefold(), -1) for u in distinct] + [-1])
    cell_position = found[codes]  # code -1 (missing) takes the last slot
    known = np.array([i >= 0 or not u for i, u in zip(found[:-1], distinct)] + [True])  # blank is missing
    names = np.array([*categories, None], dtype=object)
    return names[cell_position], ~known[codes], cell_position


def freeze_typical_ranges(spec: DatasetSpec, frame: pd.DataFrame) -> DatasetSpec:
    """The spec with the typical range of every numeric feature that has none, from these rows.

    Training calls it with its training rows, so the model's bundle says what was
    usual when it learned: scoring then flags the same value as unusual in a file of
    ten rows or of a million, read whole or a chunk at a time.
    """
    changed = []
    for f in spec.features:
        if (f.kind == "numeric" and f.name in frame and f.typical_min is None and f.typical_max is None
                and f.min is None and f.max is None):
            v = pd.to_numeric(frame[f.name], errors="coerce").to_numpy(dtype=float)
            lo, hi = _typical_range(v[np.isfinite(v)], f)
            if lo is not None or hi is not None:
                f = replace(f, typical_min=lo, typical_max=hi)
        changed.append(f)
    return replace(spec, features=tuple(changed))


def _typical_range(finite: np.ndarray, f: FeatureSpec) -> tuple[float | None, float | None]:
    """The typical range of a feature without declared bounds, from the data's robust quantiles.

    Fences six interquartile ranges beyond the quartiles, widened to the 0.1th and
    99.9th percentiles (so a skewed column flags at most about 0.1% of its cells on
    each side), then clipped to what the column can hold: a column whose values are
    all at least 0 (a count, an amount) is never typically negative, and an integer
    column's range is whole. ``(None, None)`` below 20 values or without spread.
    """
    if len(finite) < 20:
        return None, None
    p_lo, q1, q3, p_hi = np.percentile(finite, [0.1, 25, 75, 99.9])
    iqr = q3 - q1
    if iqr <= 0:
        return None, None
    lo, hi = min(q1 - 6 * iqr, p_lo), max(q3 + 6 * iqr, p_hi)
    floor = f.min if f.min is not None else (0.0 if finite.min() >= 0 else None)
    ceiling = f.max if f.max is not None else (0.0 if finite.max() <= 0 else None)
    if floor is not None:
        lo = max(lo, floor)
    if ceiling is not None:
        hi = min(hi, ceiling)
    if f.integer:
        lo, hi = float(np.floor(lo)), float(np.ceil(hi))
    return float(lo), float(hi)


def range_cells(frame: pd.DataFrame, spec: DatasetSpec, rows: np.ndarray,
                ids: pd.Series | None = None, *, outlier_keys: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cells outside the valid range (errors) and outside the typical range (outliers).

    ``ids`` holds every row's key; when omitted, keys are built only for the rows
    listed. With ``outlier_keys=False`` outliers get no key (their ``id`` is
    missing): scoring only flags them, and a large file can have many.
    """
    key_frame = frame[[c for c in spec.key_columns if c in frame]]
    # (column, positions, values, problems) of each feature's bad cells; keys and frames are built once at the end
    invalid: list[tuple[str, np.ndarray, np.ndarray, list[str] | str]] = []
    outliers: list[tuple[str, np.ndarray, np.ndarray, list[str] | str]] = []
    for f in spec.features:
        if f.kind != "numeric" or f.name not in frame:
            continue
        v = frame[f.name].to_numpy(dtype=float)
        bad = outside_range(f, v)
        if bad.any():
            idx = np.flatnonzero(bad)
            invalid.append((f.name, idx, v[idx], [range_message(f, x) for x in v[idx]]))
        lo = f.typical_min
        hi = f.typical_max
        if lo is None and hi is None and f.min is None and f.max is None:
            lo, hi = _typical_range(v[np.isfinite(v)], f)
        out = np.zeros(len(v), dtype=bool)
        if lo is not None:
            out |= v < lo
        if hi is not None:
            out |= v > hi
        out &= ~bad
        if out.any():
            idx = np.flatnonzero(out)
            rng_text = range_text(lo, hi)
            outliers.append((f.name, idx, v[idx],
                             [f"value {show_value(x)} is possible but unusual (typical range {rng_text}); "
                              "check it is not a typing or unit error" for x in v[idx]]))
    if spec.exposure and spec.exposure in frame:
        v = frame[spec.exposure].to_numpy(dtype=float)
        bad = v < 0
        if bad.any():
            idx = np.flatnonzero(bad)
            invalid.append((spec.exposure, idx, v[idx], exposure_negative_message()))
    # every key needed, built in one go (a key depends on its own row only)
    keyed = [idx for _, idx, _, _ in invalid + (outliers if outlier_keys else [])]
    union = np.unique(np.concatenate(keyed)) if keyed else np.zeros(0, dtype=np.int64)
    union_keys = (ids.iloc[union] if ids is not None else row_keys(key_frame.iloc[union], spec, rows[union])) \
        .to_numpy(dtype=object)

    def cell_frame(found: list[tuple[str, np.ndarray, np.ndarray, list[str] | str]], check: str,
                   keys: bool) -> pd.DataFrame:
        if not found:
            return pd.DataFrame(columns=CELL_COLUMNS)
        idx = np.concatenate([i for _, i, _, _ in found])
        n = len(idx)
        problems: list[str] = []
        for _, i, _, p in found:
            problems.extend(p if isinstance(p, list) else [p] * len(i))
        return pd.DataFrame({"row": rows[idx].astype(np.int64),
                             "id": union_keys[np.searchsorted(union, idx)] if keys else np.full(n, None, dtype=object),
                             "column": [c for c, i, _, _ in found for _ in range(len(i))],
                             "value": np.concatenate([x for _, _, x, _ in found]), "check": [check] * n,
                             "problem": problems}, columns=CELL_COLUMNS)

    return cell_frame(invalid, "range", True), cell_frame(outliers, "outlier", outlier_keys)
