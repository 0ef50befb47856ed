"""The data-quality report: what is wrong with a file, by check, with the rows it concerns.

:func:`check_frame` types the frame (:func:`riskcore.data.prepare.prepare_frame`)
and builds the :class:`QualityReport`, one function per check: unreadable rows,
missing columns, bad cells (not a number, unknown category, outside the valid
range, outliers), required values missing, missingness, exact duplicate rows and
duplicate keys, constant columns, the target and its balance, rows per period,
and columns that look like personal data (:mod:`riskcore.data.personal`).
:func:`clean_for_training` then applies the training-data policy to the report.

Nothing here prints or raises for a data problem a user can fix: problems are
returned as data (every finding names its columns and the rows by key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from riskcore.data.personal import PersonalColumn, find_personal_data
from riskcore.data.prepare import (
    CELL_COLUMNS,
    Prepared,
    binarize_target,
    freeze_typical_ranges,
    match_spec_columns,
    prepare_frame,
    range_cells,
    row_keys,
)
from riskcore.data.rules import show_value
from riskcore.data.schema import DatasetSpec
from riskcore.data.table import Table
from riskcore.errors import DataFileError, MissingColumnError

__all__ = [
    "Finding",
    "PersonalColumn",
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
class QualityReport:
    """The data-quality report of one frame.

    Tables (all plain DataFrames):

    * ``columns``: column, role, kind, family, n_missing, pct_missing, n_unique,
      min, max, n_invalid, n_outliers;
    * ``cells``: row, id, column, value, check, problem — one line per bad cell;
    * ``duplicates``: row, id, kind (``exact`` or ``key``), first_row;
    * ``missing_by_segment``: share of missing values, segment × column;
    * ``periods``: period, rows, defaults, default_rate;
    * ``target``: a dict with rows, positives, rate (when the target is present);
    * ``personal``: the columns that look like personal data (:class:`~riskcore.data.personal.PersonalColumn`),
      as a table in :meth:`personal_frame`.
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
    personal: tuple[PersonalColumn, ...] = ()

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

    def personal_frame(self) -> pd.DataFrame:
        """The columns that look like personal data: column, kind, role, share, count, example (masked), advice."""
        return pd.DataFrame([{"column": p.column, "kind": p.kind, "role": p.role, "share": p.share, "count": p.count,
                              "example": p.example, "advice": p.advice} for p in self.personal],
                            columns=["column", "kind", "role", "share", "count", "example", "advice"])

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


def _keys_of(ids: pd.Series, mask: np.ndarray) -> tuple[tuple[str, ...], tuple[int, ...], int]:
    idx = np.flatnonzero(mask)
    return tuple(ids.iloc[idx[:_MAX_LISTED]].astype(str)), tuple(int(i) for i in idx[:_MAX_LISTED]), len(idx)


def _first_rows(frame: pd.DataFrame, columns: list[str], rows: np.ndarray) -> np.ndarray:
    """For each row, the data-row number of the first row with the same values in ``columns``."""
    group = frame.groupby(columns, dropna=False, sort=False).ngroup().to_numpy()
    return pd.Series(rows).groupby(group).transform("first").to_numpy()


def check_frame(
    data: Prepared | Table | pd.DataFrame,
    spec: DatasetSpec | None = None,
    *,
    positive: str | None = None,
) -> QualityReport:
    """Build the data-quality report.

    Parameters
    ----------
    data : a :class:`Prepared` frame, a :class:`~riskcore.data.table.Table`, or a frame.
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
    n = len(frame)
    feature_cols = [c for c in spec.feature_names if c in frame]
    miss_counts = frame[feature_cols].isna().sum() if feature_cols else pd.Series(dtype=int)
    invalid, outliers = range_cells(frame, spec, rows, ids)
    cells = pd.concat([c for c in (data.cells, invalid, outliers) if len(c)], ignore_index=True) \
        if (len(data.cells) or len(invalid) or len(outliers)) else pd.DataFrame(columns=CELL_COLUMNS)
    duplicate_findings, duplicates = _duplicates(frame, spec, rows, ids)
    target_findings, target_info, y = _target(frame, spec, ids, positive or spec.positive)
    period_findings, periods = _periods(frame, spec, y)
    personal = tuple(find_personal_data(frame, spec))
    findings = [
        *_unreadable_rows(data), *_missing_columns(data, frame, n), *_cell_findings(cells),
        *_required_missing(frame, spec, ids), *_missingness(frame, spec, ids, miss_counts),
        *duplicate_findings, *_constant_columns(frame, feature_cols), *target_findings, *period_findings,
        *_personal_findings(personal),
    ]
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f.severity], f.check, f.column or ""))
    return QualityReport(
        n_rows=n, n_columns=len(frame.columns), findings=findings,
        columns=_column_table(frame, spec, data.cells, invalid, outliers), cells=cells,
        duplicates=duplicates, missing_by_segment=_missing_by_segment(frame, spec, feature_cols, miss_counts),
        periods=periods, target=target_info, notes=_report_notes(data), personal=personal,
    )


def _personal_findings(personal: tuple[PersonalColumn, ...]) -> list[Finding]:
    """One finding per column of personal data: a warning when a model or the key would use it."""
    return [Finding("personal_data", "warning" if p.role in ("feature", "id") else "info", p.message, p.column,
                    p.count) for p in personal]


def _unreadable_rows(data: Prepared) -> list[Finding]:
    """One error per row the reader could not read at all."""
    return [Finding("unreadable_row", "error", p.problem, None, 1, (f"row {p.row}",), (p.row or 0,))
            for p in data.unreadable]


def _missing_columns(data: Prepared, frame: pd.DataFrame, n: int) -> list[Finding]:
    """Features the file lacks (an error when required), and the target, id or time column when absent."""
    spec = data.spec
    findings = []
    for col in data.missing_columns:
        f = spec.feature(col)
        sev: Severity = "error" if f.required else "warning"
        findings.append(Finding("missing_column", sev,
                                f"the {'required ' if f.required else ''}feature {col!r} ({f.display_label}) is not "
                                "in the file; add the column"
                                + ("" if f.required else " or accept that it is treated as missing"), col, n))
    for role, role_col in (("target", spec.target), ("id", spec.id), ("time", spec.time)):
        if role_col and role_col not in frame:
            findings.append(Finding("missing_column", "warning" if role != "target" else "info",
                                    f"the {role} column {role_col!r} is not in the file", role_col, n))
    return findings


def _cell_findings(cells: pd.DataFrame) -> list[Finding]:
    """One finding per check and column of the bad cells, with the first sentence as its example."""
    findings = []
    if len(cells):
        for (check, col), grp in cells.groupby(["check", "column"], sort=False):
            sev: Severity = "warning" if check == "outlier" else "error"
            listed = tuple(f"{i} ({show_value(v)})" for i, v in zip(grp["id"].astype(str)[:_MAX_LISTED],
                                                             grp["value"][:_MAX_LISTED]))
            example = grp["problem"].iloc[0]
            findings.append(Finding(str(check), sev,
                                    f"{len(grp)} cell(s); e.g. {example}", str(col), len(grp), listed,
                                    tuple(int(r) for r in grp["row"][:_MAX_LISTED])))
    return findings


def _required_missing(frame: pd.DataFrame, spec: DatasetSpec, ids: pd.Series) -> list[Finding]:
    """Rows without a value for a required feature."""
    findings = []
    for f in spec.features:
        if f.required and f.name in frame:
            miss = frame[f.name].isna().to_numpy()
            if miss.any():
                keys, _, count = _keys_of(ids, miss)
                findings.append(Finding("required_missing", "error",
                                        f"{count} row(s) have no value for the required feature "
                                        f"{f.display_label!r}; fill it in", f.name, count, keys))
    return findings


def _missingness(frame: pd.DataFrame, spec: DatasetSpec, ids: pd.Series, miss_counts: pd.Series) -> list[Finding]:
    """Missing values of each optional feature (a warning when the column is empty)."""
    n = len(frame)
    findings = []
    for col, cnt in miss_counts.items():
        if cnt and not spec.feature(str(col)).required:
            keys, _, count = _keys_of(ids, frame[col].isna().to_numpy())
            sev: Severity = "warning" if cnt == n else "info"
            findings.append(Finding("missing", sev, f"{int(cnt):,} of {n:,} values missing ({cnt / max(n, 1):.1%})",
                                    str(col), int(cnt), keys))
    return findings


def _duplicates(frame: pd.DataFrame, spec: DatasetSpec, rows: np.ndarray,
                ids: pd.Series) -> tuple[list[Finding], pd.DataFrame]:
    """Rows repeating an earlier row exactly, and rows repeating its key with other values; the table of both."""
    n = len(frame)
    findings = []
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
    return findings, pd.DataFrame(dup_rows, columns=["row", "id", "kind", "first_row"])


def _constant_columns(frame: pd.DataFrame, feature_cols: list[str]) -> list[Finding]:
    """Features with a single value: they carry no information."""
    n = len(frame)
    return [Finding("constant", "warning", "the column has a single value and carries no information", col, n)
            for col in feature_cols
            if n and frame[col].nunique(dropna=True) <= 1 and frame[col].notna().any()]


def _target(frame: pd.DataFrame, spec: DatasetSpec, ids: pd.Series,
            positive: str | None) -> tuple[list[Finding], dict[str, float] | None, np.ndarray | None]:
    """Unusable and missing target values, and the balance of defaults; the 0/1 target when it is usable."""
    if spec.target not in frame:
        return [], None, None
    y, bad, msg = binarize_target(frame[spec.target], positive)
    if msg:
        return [Finding("target", "error", msg, spec.target, int(bad.sum()))], None, None
    findings = []
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
    sev: Severity = "info"
    extra = ""
    if pos < 30:
        sev, extra = "warning", "; fewer than 30 defaults is too few to train or validate reliably"
    if pos == ok.sum() or pos == 0:
        sev, extra = "error", "; the target has a single class"
    findings.append(Finding("target_balance", sev,
                            f"{int(pos):,} defaults in {int(ok.sum()):,} rows ({target_info['rate']:.2%}){extra}",
                            spec.target, int(pos)))
    return findings, target_info, y


def _periods(frame: pd.DataFrame, spec: DatasetSpec, y: np.ndarray | None) -> tuple[list[Finding], pd.DataFrame]:
    """Rows, defaults and the default rate per period (defaults only when the target is usable)."""
    periods = pd.DataFrame(columns=["period", "rows", "defaults", "default_rate"])
    if not spec.time or spec.time not in frame:
        return [], periods
    t = frame[spec.time]
    period = t.dt.year if pd.api.types.is_datetime64_any_dtype(t) else t
    g = pd.DataFrame({"__p": period, "__y": np.nan if y is None else y}).groupby("__p", dropna=True)
    periods = pd.DataFrame({"period": g.size().index, "rows": g.size().to_numpy()})
    if y is not None:
        periods["defaults"] = g["__y"].sum().to_numpy()
        periods["default_rate"] = g["__y"].mean().to_numpy()
    else:
        periods["defaults"] = np.nan
        periods["default_rate"] = np.nan
    finding = Finding("periods", "info",
                      f"{len(periods)} period(s) from {periods['period'].min()} to {periods['period'].max()}",
                      spec.time, len(periods))
    return [finding], periods


def _missing_by_segment(frame: pd.DataFrame, spec: DatasetSpec, feature_cols: list[str],
                        miss_counts: pd.Series) -> pd.DataFrame:
    """The share of missing values, segment × feature, for the features with any missing value."""
    seg = spec.segment
    if not (seg and seg in frame and feature_cols):
        return pd.DataFrame()
    miss_cols = [c for c in feature_cols if miss_counts.get(c, 0) > 0]
    if miss_cols:
        return frame[miss_cols].isna().groupby(frame[seg].fillna("(missing)")).mean()
    return pd.DataFrame(index=pd.Index(sorted(frame[seg].dropna().unique()), name=seg))


def _column_table(frame: pd.DataFrame, spec: DatasetSpec, type_cells: pd.DataFrame, invalid: pd.DataFrame,
                  outliers: pd.DataFrame) -> pd.DataFrame:
    """One line per feature: missingness, distinct values, range seen, invalid cells and outliers."""
    n = len(frame)
    n_invalid = invalid.groupby("column").size() if len(invalid) else pd.Series(dtype=int)
    n_type = type_cells.groupby("column").size() if len(type_cells) else pd.Series(dtype=int)
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
    return pd.DataFrame(col_rows, columns=["column", "role", "kind", "family", "n_missing", "pct_missing",
                                           "n_unique", "min", "max", "n_invalid", "n_outliers"])


def _report_notes(data: Prepared) -> tuple[str, ...]:
    """The spec's and the reader's notes, then the columns the spec does not know."""
    notes = list(dict.fromkeys([*data.spec.notes, *data.notes]))
    if data.extra_columns:
        shown = ", ".join(map(repr, data.extra_columns[:10]))
        notes.append(f"{len(data.extra_columns)} column(s) not in the spec were ignored: {shown}"
                     + (" …" if len(data.extra_columns) > 10 else ""))
    return tuple(notes)


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
        raise MissingColumnError(spec.target or "target",
                                 f"the target column {spec.target!r} is not in the file; name it with --target")
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
