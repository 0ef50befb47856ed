"""Validation and the data-quality report.

Two steps, used by every face:

* :func:`prepare_frame` matches a file's columns to a :class:`DatasetSpec`
  (ignoring case and surrounding spaces), turns text into numbers and
  categories, and records each cell it could not use (text in a numeric column,
  infinities, unknown categories) as a located problem.
* :func:`check_frame` builds the :class:`QualityReport`: missingness per column
  and per segment, values outside the valid range, outliers, exact duplicate
  rows and duplicate keys, constant columns, target balance, rows per period.

Nothing here prints or raises for a data problem a user can fix: problems are
returned as data (every finding names its columns and the rows by key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskcore.data.parsing import date_ages, fiscal_year_end, fiscal_years, parse_dates, parse_numbers
from riskcore.data.schema import DatasetSpec, FeatureSpec
from riskcore.data.tabular import Table, map_columns, match_columns, text_array
from riskcore.errors import DataFileError, Problem

__all__ = [
    "Finding",
    "Prepared",
    "QualityReport",
    "Severity",
    "binarize_target",
    "check_frame",
    "clean_for_training",
    "freeze_typical_ranges",
    "match_spec_columns",
    "prepare_frame",
    "row_keys",
]

Severity = Literal["error", "warning", "info"]
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_MAX_LISTED = 20
_TRUE = {"1", "1.0", "true", "yes", "y", "t", "default", "defaulted"}
_FALSE = {"0", "0.0", "false", "no", "n", "f", "performing", "non-default", "no default"}
_CELL_COLUMNS = ["row", "id", "column", "value", "check", "problem"]


@dataclass(frozen=True)
class Finding:
    """One result of the quality check, with the rows it concerns.

    ``keys`` lists up to 20 affected rows by key (``C00012 2019``), ``rows`` by
    data-row number; ``count`` is the full number.
    """

    check: str
    severity: Severity
    message: str
    column: str | None = None
    count: int = 0
    keys: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()

    def __str__(self) -> str:
        where = f" [{self.column}]" if self.column else ""
        listed = ""
        if self.keys:
            more = f" (+{self.count - len(self.keys)} more)" if self.count > len(self.keys) else ""
            listed = f" — rows: {', '.join(self.keys)}{more}"
        return f"{self.severity.upper():7s} {self.check}{where}: {self.message}{listed}"


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


@dataclass
class QualityReport:
    """The data-quality report of one frame.

    Tables (all plain DataFrames):

    * ``columns``: column, role, kind, family, n_missing, pct_missing, n_unique,
      min, max, n_invalid, n_outliers;
    * ``cells``: row, id, column, value, check, problem — one line per bad cell;
    * ``duplicates``: row, id, kind (``exact`` or ``key``), first_row;
    * ``missing_by_segment``: share of missing values, segment × column;
    * ``periods``: period, rows, defaults, default_rate;
    * ``target``: a dict with rows, positives, rate (when the target is present).
    """

    n_rows: int
    n_columns: int
    findings: list[Finding]
    columns: pd.DataFrame
    cells: pd.DataFrame
    duplicates: pd.DataFrame
    missing_by_segment: pd.DataFrame
    periods: pd.DataFrame
    target: dict[str, float] | None
    notes: tuple[str, ...] = ()

    @property
    def errors(self) -> list[Finding]:
        """Findings of severity ``error``."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings of severity ``warning``."""
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def has_problems(self) -> bool:
        """True when any finding is an error or a warning."""
        return any(f.severity in ("error", "warning") for f in self.findings)

    def findings_frame(self) -> pd.DataFrame:
        """Findings as a table: severity, check, column, count, message, rows."""
        return pd.DataFrame(
            [{"severity": f.severity, "check": f.check, "column": f.column, "count": f.count,
              "message": f.message, "rows": ", ".join(f.keys)} for f in self.findings],
            columns=["severity", "check", "column", "count", "message", "rows"],
        )

    def to_text(self) -> str:
        """The report as plain text for a terminal."""
        lines = [f"Data quality: {self.n_rows:,} rows × {self.n_columns} columns"]
        for n in self.notes:
            lines.append(f"  note: {n}")
        if self.target:
            t = self.target
            lines.append(f"Target: {int(t['positives']):,} defaults in {int(t['rows']):,} rows "
                         f"({t['rate']:.2%})")
        if len(self.periods):
            per = ", ".join(f"{p}: {int(r):,}" for p, r in zip(self.periods["period"], self.periods["rows"]))
            lines.append(f"Rows per period: {per}")
        n_err, n_warn = len(self.errors), len(self.warnings)
        lines.append(f"Findings: {n_err} error(s), {n_warn} warning(s), "
                     f"{len(self.findings) - n_err - n_warn} note(s)")
        for f in self.findings:
            lines.append("  " + str(f))
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

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
        labels = sorted(set(norm.dropna().unique()))
        shown = ", ".join(map(repr, labels[:10]))
        return y, bad, (f"the target must be 0/1, true/false or yes/no; found {shown}. "
                        "If it has two other labels, name the one meaning default with --positive")
    return y, bad, ""


def _cells(rows: np.ndarray, ids: pd.Series, column: str, values: pd.Series | np.ndarray, check: str,
           problems: list[str] | str) -> pd.DataFrame:
    n = len(rows)
    probs = problems if isinstance(problems, list) else [problems] * n
    return pd.DataFrame({"row": rows.astype(np.int64), "id": ids.to_numpy(dtype=object) if n else [],
                         "column": [column] * n, "value": list(values), "check": [check] * n,
                         "problem": probs}, columns=_CELL_COLUMNS)


def _show(v: object) -> str:
    """A cell value for a message: numbers plainly, text quoted."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(v)


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10_000 else f"{x:g}"


def _unit_text(f: FeatureSpec) -> str:
    if f.unit == "%":
        return " (a fraction: 0.25 means 25%)"
    return f" ({f.unit})" if f.unit else ""


def _fmt_range(f: FeatureSpec, typical: bool = False) -> str:
    lo = f.typical_min if typical else f.min
    hi = f.typical_max if typical else f.max
    if lo is not None and hi is not None:
        return f"{_num(lo)} to {_num(hi)}"
    if lo is not None:
        return f"at least {_num(lo)}"
    return f"at most {_num(hi)}"


# ---------------------------------------------------------------------------
# prepare
# ---------------------------------------------------------------------------

def prepare_frame(data: Table | pd.DataFrame, spec: DatasetSpec, *, decimal: str | None = None) -> Prepared:
    """Match columns to the spec and type them, recording every unusable cell.

    Text columns read from a file stay in Arrow until they are typed (numbers
    are parsed by pyarrow, categories are matched once per distinct value), and
    the key shown with a problem is built only for the rows that have one, so a
    million-row file costs about as much as reading it.

    Parameters
    ----------
    data : a :class:`~riskcore.data.tabular.Table` as read from a file, or a frame.
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
    rows = np.asarray(rows, dtype=np.int64)
    wanted = list(dict.fromkeys(
        [c for c in (spec.id, spec.time, spec.target, spec.exposure, spec.name_column, spec.segment) if c]
        + list(spec.feature_names) + list(spec.never) + list(spec.post_event)
    ))
    by_name = {str(c): c for c in frame.columns}
    mapping, match_notes = match_spec_columns(list(by_name), wanted, spec)
    notes.extend(match_notes)
    used = set(mapping.values())
    extra = tuple(c for c in by_name if c not in used)
    columns: dict[str, object] = {canon: frame[by_name[actual]].array for canon, actual in mapping.items()}
    columns.update({c: frame[by_name[c]].array for c in extra})
    missing_columns = tuple(c for c in spec.feature_names if c not in mapping)
    parts: list[pd.DataFrame] = []

    if spec.id and spec.id in columns:
        columns[spec.id] = _text_values(pd.Series(columns[spec.id]))
    if spec.name_column and spec.name_column in columns:
        columns[spec.name_column] = _text_series(pd.Series(columns[spec.name_column]))
    # indexed like the file even without key columns, so a bad cell of a keyless file still finds its row
    key_frame = pd.DataFrame({c: pd.Series(columns[c], dtype=object) if c == spec.id else columns[c]
                              for c in spec.key_columns if c in columns}, index=pd.RangeIndex(len(frame)),
                             copy=False)

    def keys(idx: np.ndarray) -> pd.Series:
        return row_keys(key_frame.iloc[idx], spec, rows[idx])

    def bad_cells(col: str, raw: pd.Series, mask: np.ndarray, check: str, problem: str) -> None:
        idx = np.flatnonzero(mask)
        parts.append(_cells(rows[idx], keys(idx), col, raw.iloc[idx].to_numpy(dtype=object), check, problem))

    observed: np.ndarray | None = None  # each row's observation date, for the ages of date features
    if spec.time and spec.time in columns:
        raw = pd.Series(columns[spec.time])
        values, bad = parse_numbers(raw, decimal)
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
                notes.append(f"the time column {spec.time!r} holds {how}; each row's period is its fiscal year "
                             f"({ends})")
                if bad_d.any():
                    bad_cells(spec.time, raw, bad_d, "type",
                              "{!r} is not a date or a year; write a date such as 2024-12-31")
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
            bad_cells(spec.time, raw, bad, "type",
                      "{!r} is not a year or a date; write the fiscal year as a number such as 2024")
    category_codes: dict[str, np.ndarray] = {}
    numeric = [f.name for f in spec.features if f.kind == "numeric" and not f.from_date and f.name in columns]
    parsed = dict(zip(numeric, map_columns(lambda c: parse_numbers(pd.Series(columns[c]), decimal), numeric)))
    for f in spec.features:
        if f.name not in columns:
            continue
        raw = pd.Series(columns[f.name])
        if f.from_date:
            dates, bad, _ = parse_dates(raw)
            if bad.any():
                bad_cells(f.name, raw, bad, "type",
                          "{!r} is not a date; write a date such as 2024-12-31 or leave the cell empty")
            if observed is None:
                notes.append(f"{f.name!r} is the age of a date at the row's observation date, but there is no "
                             f"time column {spec.time!r} to take that date from; it is treated as missing")
            columns[f.name] = date_ages(dates, observed) if observed is not None else np.full(len(raw), np.nan)
        elif f.kind == "numeric":
            values, bad = parsed[f.name]
            if bad.any():
                bad_cells(f.name, raw, bad, "type",
                          f"{'{!r}'} is not a number; write digits (decimal mark {decimal!r}) or leave the cell empty")
            inf = np.isinf(values)
            if inf.any():
                bad_cells(f.name, raw, inf, "non_finite",
                          "{!r} is infinite or too large to represent; give a finite number")
                values = np.where(inf, np.nan, values)
            columns[f.name] = values
        elif f.categories:
            folded, unknown, category_codes[f.name] = _match_categories(raw, f.categories)
            if unknown.any():
                allowed = ", ".join(f.categories[:12]) + (" …" if len(f.categories) > 12 else "")
                bad_cells(f.name, pd.Series(_text_values(raw)), unknown, "unknown_category",
                          f"{'{!r}'} is not a known {f.display_label.lower()}; allowed: {allowed}")
            columns[f.name] = folded
        else:
            columns[f.name] = _text_values(raw)
    if spec.exposure and spec.exposure in columns:
        raw = pd.Series(columns[spec.exposure])
        values, bad = parse_numbers(raw, decimal)
        bad = bad | np.isinf(values)
        if bad.any():
            bad_cells(spec.exposure, raw, bad, "type", "{!r} is not a usable amount; write the exposure as a number")
        columns[spec.exposure] = np.where(bad, np.nan, values)
    for never in spec.never + spec.post_event:
        if never in columns and never != spec.target:
            values, bad = parse_numbers(pd.Series(columns[never]), decimal)
            if not bad.any():
                columns[never] = values
    # object arrays stay object (pandas would otherwise turn text into its string dtype, a copy per column)
    out = pd.DataFrame({k: pd.Series(v, dtype=object, copy=False) if isinstance(v, np.ndarray) and v.dtype == object
                        else v for k, v in columns.items()}, index=pd.RangeIndex(len(frame)), copy=False)
    cells = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=_CELL_COLUMNS)
    if len(cells):
        cells["problem"] = [p.format(v) if "{!r}" in p else p for p, v in zip(cells["problem"], cells["value"])]
    return Prepared(frame=out, rows=rows, spec=spec, cells=cells,
                    unreadable=unreadable, missing_columns=missing_columns, extra_columns=extra,
                    notes=tuple(notes), category_codes=category_codes)


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
    position = {c.casefold(): i for i, c in enumerate(categories)}
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


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------

def _keys_of(ids: pd.Series, mask: np.ndarray) -> tuple[tuple[str, ...], tuple[int, ...], int]:
    idx = np.flatnonzero(mask)
    return tuple(ids.iloc[idx[:_MAX_LISTED]].astype(str)), tuple(int(i) for i in idx[:_MAX_LISTED]), len(idx)


def _first_rows(frame: pd.DataFrame, columns: list[str], rows: np.ndarray) -> np.ndarray:
    """For each row, the data-row number of the first row with the same values in ``columns``."""
    group = frame.groupby(columns, dropna=False, sort=False).ngroup().to_numpy()
    return pd.Series(rows).groupby(group).transform("first").to_numpy()


def freeze_typical_ranges(spec: DatasetSpec, frame: pd.DataFrame) -> DatasetSpec:
    """The spec with the typical range of every numeric feature that has none, from these rows.

    Training calls it with its training rows, so the model's bundle says what was
    usual when it learned: scoring then flags the same value as unusual in a file of
    ten rows or of a million, read whole or a chunk at a time.
    """
    from dataclasses import replace

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

    def ids_at(idx: np.ndarray) -> pd.Series:
        return ids.iloc[idx] if ids is not None else row_keys(key_frame.iloc[idx], spec, rows[idx])

    invalid: list[pd.DataFrame] = []
    outliers: list[pd.DataFrame] = []
    for f in spec.features:
        if f.kind != "numeric" or f.name not in frame:
            continue
        v = frame[f.name].to_numpy(dtype=float)
        bad = np.zeros(len(v), dtype=bool)
        if f.min is not None:
            bad |= v < f.min
        if f.max is not None:
            bad |= v > f.max
        if bad.any():
            idx = np.flatnonzero(bad)
            invalid.append(_cells(rows[idx], ids_at(idx), f.name, v[idx], "range",
                                  [f"value {_show(x)} is outside the valid range {_fmt_range(f)}{_unit_text(f)}; "
                                   "correct the value or leave the cell empty" for x in v[idx]]))
        lo = f.typical_min if f.typical_min is not None else None
        hi = f.typical_max if f.typical_max is not None else None
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
            rng_text = (f"{_num(lo)} to {_num(hi)}" if lo is not None and hi is not None else
                        f"at least {_num(lo)}" if lo is not None else
                        f"at most {_num(hi if hi is not None else 0.0)}")
            outliers.append(_cells(rows[idx], ids_at(idx) if outlier_keys else pd.Series([None] * len(idx)),
                                   f.name, v[idx], "outlier",
                                   [f"value {_show(x)} is possible but unusual (typical range {rng_text}); "
                                    "check it is not a typing or unit error" for x in v[idx]]))
    if spec.exposure and spec.exposure in frame:
        v = frame[spec.exposure].to_numpy(dtype=float)
        bad = v < 0
        if bad.any():
            idx = np.flatnonzero(bad)
            invalid.append(_cells(rows[idx], ids_at(idx), spec.exposure, v[idx], "range",
                                  "exposure cannot be negative; give the amount at risk (0 or more)"))
    empty = pd.DataFrame(columns=_CELL_COLUMNS)
    return (pd.concat(invalid, ignore_index=True) if invalid else empty,
            pd.concat(outliers, ignore_index=True) if outliers else empty)


def check_frame(
    data: Prepared | Table | pd.DataFrame,
    spec: DatasetSpec | None = None,
    *,
    positive: str | None = None,
) -> QualityReport:
    """Build the data-quality report.

    Parameters
    ----------
    data : a :class:`Prepared` frame, a :class:`~riskcore.data.tabular.Table`, or a frame.
    spec : required unless ``data`` is already prepared.
    positive : the target label meaning default, when the target is not 0/1.

    Returns
    -------
    QualityReport
    """
    if not isinstance(data, Prepared):
        if spec is None:
            raise TypeError("check_frame needs a spec for an unprepared frame")
        data = prepare_frame(data, spec)
    spec = data.spec
    frame, rows = data.frame, data.rows
    ids = row_keys(frame, spec, rows)
    findings: list[Finding] = []
    n = len(frame)

    for p in data.unreadable:
        findings.append(Finding("unreadable_row", "error", p.problem, None, 1, (f"row {p.row}",),
                                (p.row or 0,)))
    for col in data.missing_columns:
        f = spec.feature(col)
        sev: Severity = "error" if f.required else "warning"
        findings.append(Finding("missing_column", sev,
                                f"the {'required ' if f.required else ''}feature {col!r} ({f.display_label}) is not "
                                "in the file; add the column"
                                + ("" if f.required else " or accept that it is treated as missing"), col, n))
    for role, col in (("target", spec.target), ("id", spec.id), ("time", spec.time)):
        if col and col not in frame:
            findings.append(Finding("missing_column", "warning" if role != "target" else "info",
                                    f"the {role} column {col!r} is not in the file", col, n))

    invalid, outliers = range_cells(frame, spec, rows, ids)
    cells = pd.concat([c for c in (data.cells, invalid, outliers) if len(c)], ignore_index=True) \
        if (len(data.cells) or len(invalid) or len(outliers)) else pd.DataFrame(columns=_CELL_COLUMNS)
    if len(cells):
        for (check, col), grp in cells.groupby(["check", "column"], sort=False):
            sev = "warning" if check == "outlier" else "error"
            listed = tuple(f"{i} ({_show(v)})" for i, v in zip(grp["id"].astype(str)[:_MAX_LISTED],
                                                        grp["value"][:_MAX_LISTED]))
            example = grp["problem"].iloc[0]
            findings.append(Finding(str(check), sev,
                                    f"{len(grp)} cell(s); e.g. {example}", str(col), len(grp), listed,
                                    tuple(int(r) for r in grp["row"][:_MAX_LISTED])))

    # required values missing
    for f in spec.features:
        if f.required and f.name in frame:
            miss = frame[f.name].isna().to_numpy()
            if miss.any():
                keys, _, count = _keys_of(ids, miss)
                findings.append(Finding("required_missing", "error",
                                        f"{count} row(s) have no value for the required feature "
                                        f"{f.display_label!r}; fill it in", f.name, count, keys))

    # missingness
    feature_cols = [c for c in spec.feature_names if c in frame]
    miss_counts = frame[feature_cols].isna().sum() if feature_cols else pd.Series(dtype=int)
    for col, cnt in miss_counts.items():
        if cnt and not spec.feature(str(col)).required:
            keys, _, count = _keys_of(ids, frame[col].isna().to_numpy())
            sev = "warning" if cnt == n else "info"
            findings.append(Finding("missing", sev, f"{int(cnt):,} of {n:,} values missing ({cnt / max(n, 1):.1%})",
                                    str(col), int(cnt), keys))

    # duplicates
    dup_rows: list[dict[str, object]] = []
    compare = [c for c in frame.columns]
    exact = frame.duplicated(subset=compare, keep="first").to_numpy() if n else np.zeros(0, dtype=bool)
    if exact.any():
        first = _first_rows(frame, compare, rows)
        for i in np.flatnonzero(exact):
            dup_rows.append({"row": int(rows[i]), "id": ids.iloc[i], "kind": "exact", "first_row": int(first[i])})
        keys, _, count = _keys_of(ids, exact)
        findings.append(Finding("duplicate_row", "warning",
                                f"{count} row(s) repeat an earlier row exactly; remove the copies", None, count, keys,
                                tuple(int(rows[i]) for i in np.flatnonzero(exact)[:_MAX_LISTED])))
    key_cols = [c for c in spec.key_columns if c in frame]
    if spec.id and spec.id in frame:
        dkey = frame.duplicated(subset=key_cols, keep="first").to_numpy() & ~exact
        if dkey.any():
            first = _first_rows(frame, key_cols, rows)
            for i in np.flatnonzero(dkey):
                dup_rows.append({"row": int(rows[i]), "id": ids.iloc[i], "kind": "key", "first_row": int(first[i])})
            keys, _, count = _keys_of(ids, dkey)
            what = " and ".join(key_cols)
            findings.append(Finding("duplicate_key", "error",
                                    f"{count} row(s) repeat the {what} of an earlier row with different values; "
                                    "keep one row per key", ",".join(key_cols), count, keys))
    duplicates = pd.DataFrame(dup_rows, columns=["row", "id", "kind", "first_row"])

    # constant columns
    for col in feature_cols:
        if n and frame[col].nunique(dropna=True) <= 1 and frame[col].notna().any():
            findings.append(Finding("constant", "warning", "the column has a single value and carries no information",
                                    col, n))

    # target
    target_info: dict[str, float] | None = None
    if spec.target in frame:
        y, bad, msg = binarize_target(frame[spec.target], positive or spec.positive)
        if msg:
            findings.append(Finding("target", "error", msg, spec.target, int(bad.sum())))
        else:
            if bad.any():
                keys, _, count = _keys_of(ids, bad)
                findings.append(Finding("target", "error", f"{count} target value(s) are not 0/1, true/false or yes/no",
                                        spec.target, count, keys))
            miss = np.isnan(y) & ~bad
            if miss.any():
                keys, _, count = _keys_of(ids, miss)
                findings.append(Finding("target", "error",
                                        f"{count} row(s) have no target value; they cannot be used for training",
                                        spec.target, count, keys))
            ok = ~np.isnan(y)
            pos = float(np.nansum(y))
            target_info = {"rows": float(ok.sum()), "positives": pos, "rate": pos / max(ok.sum(), 1)}
            sev2: Severity = "info"
            extra = ""
            if pos < 30:
                sev2, extra = "warning", "; fewer than 30 defaults is too few to train or validate reliably"
            if pos == ok.sum() or pos == 0:
                sev2, extra = "error", "; the target has a single class"
            findings.append(Finding("target_balance", sev2,
                                    f"{int(pos):,} defaults in {int(ok.sum()):,} rows "
                                    f"({target_info['rate']:.2%}){extra}",
                                    spec.target, int(pos)))
            frame = frame.assign(**{"__y": y})

    # periods
    periods = pd.DataFrame(columns=["period", "rows", "defaults", "default_rate"])
    if spec.time and spec.time in frame:
        t = frame[spec.time]
        period = t.dt.year if pd.api.types.is_datetime64_any_dtype(t) else t
        g = frame.assign(__p=period).groupby("__p", dropna=True)
        periods = pd.DataFrame({"period": g.size().index, "rows": g.size().to_numpy()})
        if "__y" in frame:
            d = g["__y"].sum()
            r = g["__y"].mean()
            periods["defaults"] = d.to_numpy()
            periods["default_rate"] = r.to_numpy()
        else:
            periods["defaults"] = np.nan
            periods["default_rate"] = np.nan
        findings.append(Finding("periods", "info",
                                f"{len(periods)} period(s) from {periods['period'].min()} to {periods['period'].max()}",
                                spec.time, len(periods)))
        frame = frame.drop(columns=[c for c in ("__y",) if c in frame])

    # missing by segment
    seg = spec.segment
    if seg and seg in frame and feature_cols:
        miss_cols = [c for c in feature_cols if miss_counts.get(c, 0) > 0]
        if miss_cols:
            missing_by_segment = frame[miss_cols].isna().groupby(frame[seg].fillna("(missing)")).mean()
        else:
            missing_by_segment = pd.DataFrame(index=pd.Index(sorted(frame[seg].dropna().unique()), name=seg))
    else:
        missing_by_segment = pd.DataFrame()

    # per-column table
    n_invalid = invalid.groupby("column").size() if len(invalid) else pd.Series(dtype=int)
    n_type = data.cells.groupby("column").size() if len(data.cells) else pd.Series(dtype=int)
    n_out = outliers.groupby("column").size() if len(outliers) else pd.Series(dtype=int)
    col_rows = []
    for f in spec.features:
        if f.name not in frame:
            continue
        s = frame[f.name]
        numeric = f.kind == "numeric"
        col_rows.append({
            "column": f.name, "role": "feature", "kind": f.kind, "family": f.family,
            "n_missing": int(s.isna().sum()), "pct_missing": float(s.isna().mean()) if n else 0.0,
            "n_unique": int(s.nunique(dropna=True)),
            "min": float(np.nanmin(s)) if numeric and s.notna().any() else np.nan,
            "max": float(np.nanmax(s)) if numeric and s.notna().any() else np.nan,
            "n_invalid": int(n_invalid.get(f.name, 0) + n_type.get(f.name, 0)),
            "n_outliers": int(n_out.get(f.name, 0)),
        })
    columns = pd.DataFrame(col_rows, columns=["column", "role", "kind", "family", "n_missing", "pct_missing",
                                              "n_unique", "min", "max", "n_invalid", "n_outliers"])
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f.severity], f.check, f.column or ""))
    notes = list(dict.fromkeys([*spec.notes, *data.notes]))
    if data.extra_columns:
        shown = ", ".join(map(repr, data.extra_columns[:10]))
        notes.append(f"{len(data.extra_columns)} column(s) not in the spec were ignored: {shown}"
                     + (" …" if len(data.extra_columns) > 10 else ""))
    return QualityReport(
        n_rows=n, n_columns=len(frame.columns), findings=findings, columns=columns, cells=cells,
        duplicates=duplicates, missing_by_segment=missing_by_segment, periods=periods, target=target_info,
        notes=tuple(notes),
    )


def clean_for_training(prepared: Prepared, report: QualityReport,
                       positive: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Apply the training-data policy and say what it did.

    * exact duplicate rows: the copies are removed;
    * rows sharing a key with different values: all of them are removed (which one
      is right is unknown);
    * cells that are not numbers, infinite, outside the valid range or of an unknown
      category: set to missing (the models handle missing values);
    * rows without a usable target: removed.

    Returns the clean frame (with the target as 0/1 integers) and one note per action.

    Raises
    ------
    DataFileError
        When no usable target remains.
    """
    spec = prepared.spec
    frame = prepared.frame.copy()
    notes: list[str] = []
    if spec.target not in frame:
        raise DataFileError(f"the target column {spec.target!r} is not in the file; name it with --target")
    y, bad, msg = binarize_target(frame[spec.target], positive or spec.positive)
    if msg:
        raise DataFileError(f"column {spec.target!r}: {msg}")
    row_pos = pd.Series(np.arange(len(frame)), index=prepared.rows)
    bad_cells = report.cells[report.cells["check"].isin(["type", "non_finite", "range", "unknown_category"])]
    if len(bad_cells):
        for col, grp in bad_cells.groupby("column"):
            if col in frame:
                pos = row_pos.loc[grp["row"].to_numpy()].to_numpy()
                frame.loc[pos, col] = np.nan
        notes.append(f"{len(bad_cells)} invalid cell(s) set to missing")
    drop = np.zeros(len(frame), dtype=bool)
    dups = report.duplicates
    if len(dups):
        exact = dups[dups["kind"] == "exact"]
        if len(exact):
            drop[row_pos.loc[exact["row"].to_numpy()].to_numpy()] = True
            notes.append(f"{len(exact)} exact duplicate row(s) removed")
        keyd = dups[dups["kind"] == "key"]
        if len(keyd):
            bad_rows = set(keyd["row"]) | set(keyd["first_row"])
            drop[row_pos.loc[sorted(bad_rows)].to_numpy()] = True
            notes.append(f"{len(bad_rows)} row(s) sharing a key with different values removed")
    no_target = np.isnan(y)
    if no_target.any():
        drop |= no_target
        notes.append(f"{int(no_target.sum())} row(s) without a usable target removed")
    frame[spec.target] = np.where(np.isnan(y), 0, y).astype(np.int64)
    frame = frame.loc[~drop].reset_index(drop=True)
    if len(frame) == 0:
        raise DataFileError("no usable rows remain after cleaning; see the quality report")
    return frame, notes
