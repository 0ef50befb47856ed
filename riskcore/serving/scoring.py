"""Scoring: validate → score → calibrated PD → decision → grade, for one row or a million.

:func:`score_frame` never fails all-or-nothing: every row that can be scored is
scored, every row that cannot goes to the reject report with its row number, id,
column, value and what to do. Reading is tolerant (see :mod:`riskcore.data.tabular`):
any column order, extra columns passed through, names matched ignoring case and
surrounding spaces, optional features may be missing (flagged) because every
model handles missing values.

Output columns (``ScoreResult.scores``): the id (and time) column, ``p_default``
(calibrated), ``score_raw`` (the model's log-odds), ``decision`` (``refer`` at or
above the bundle's threshold, else ``accept``), ``grade`` (master scale, see
:mod:`riskcore.evaluation.grading`), ``risk_level``; with a bundle trained with through-the-cycle grades
(``[grading] through_the_cycle``, :mod:`riskcore.modelling.cycle`) also ``p_default_ttc`` after
``p_default`` and ``grade_pit`` after ``grade``, and ``grade`` and ``risk_level`` follow ``p_default_ttc``
(decisions and the expected loss keep ``p_default``); ``expected_loss`` (PD × LGD × exposure,
when the data has an exposure column), ``n_missing`` (optional features without
a value), ``flags`` (outliers and other remarks), ``model_version``, then the
file's other columns unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from riskcore.data.macro import stressed
from riskcore.data.parsing import row_fiscal_years
from riskcore.data.prepare import Prepared
from riskcore.data.quality import prepare_frame, range_cells, row_keys
from riskcore.data.rules import required_message
from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import Table, normalise_name, read_table, write_csv
from riskcore.errors import MissingColumnError
from riskcore.evaluation.grading import (
    MASTER_SCALE,
    PD_FLOOR,
    RISK_LEVELS,
    grade_index,
    grade_of,
    risk_level_index,
    risk_level_of,
)
from riskcore.progress import Progress, no_progress
from riskcore.serving.columns import (
    ModelColumns,
    keep_rows,
    outlier_flags,
    text_column,
    text_labels,
    time_values,
    true_runs,
)
from riskcore.serving.explain import explain_frame, reason_codes
from riskcore.serving.panel import (
    MAX_ID_CHARS,
    duplicate_rejects,
    id_problems,
    panel_values,
    provided_panel_features,
)
from riskcore.serving.records import checked_record
from riskcore.serving.results import ScoreResult, ScoreTally

if TYPE_CHECKING:
    from riskcore.modelling.bundle import ModelBundle
    from riskcore.serving.history import FileHistory

__all__ = ["MAX_ID_CHARS", "REJECT_COLUMNS", "SCORE_COLUMNS", "ScoreResult", "ScoreTally", "Scenarios", "WhatIf",
           "company_results", "score_file", "score_frame", "score_one", "what_if", "write_scores"]

SCORE_COLUMNS = ("p_default", "score_raw", "decision", "grade", "risk_level", "expected_loss", "n_missing", "flags",
                 "model_version")
REJECT_COLUMNS = ["row", "id", "column", "value", "problem"]
_CHUNK = 100_000
_REJECTING = ("type", "non_finite", "unknown_category", "range")




def _reject_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    out = pd.concat(parts, ignore_index=True)[REJECT_COLUMNS]
    out["value"] = out["value"].map(_shown_value)
    return out.sort_values(["row", "column"], na_position="first", kind="stable").reset_index(drop=True)


def _shown_value(v: Any) -> Any:
    """A reject's value as the report shows it: text as is, numbers as numbers, missing as None."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (str, int, float)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    return repr(v)


def score_frame(
    bundle: ModelBundle,
    data: pd.DataFrame | Table,
    *,
    risk_bands: Literal["master", "fixed"] = "master",
    lgd: float | None = None,
    progress: Progress = no_progress,
    passthrough: bool = True,
    explain: bool = False,
    history: FileHistory | None = None,
    scenarios: Scenarios | None = None,
) -> ScoreResult:
    """Score a portfolio with a model bundle.

    The stages: check the columns (:func:`_check_columns`), find every row's
    problems (:func:`_check_rows`), build the panel features and score the
    valid rows a chunk at a time (:func:`_score_rows`), lay out the output
    (:func:`_output_columns`), then add reason codes and the file's own columns.

    Parameters
    ----------
    bundle : a :class:`riskcore.modelling.bundle.ModelBundle`.
    data : a frame (typed or text) or a table read by :func:`riskcore.data.tabular.read_table`.
    risk_bands : ``master`` (levels from the master scale) or ``fixed`` (0.25 / 0.50 / 0.75).
    lgd : loss given default for the expected loss (default: the bundle's cost settings, 0.45).
    progress : ``progress(fraction, message)`` callback.
    passthrough : keep the file's other columns in the output.
    explain : add a ``reasons`` column with up to four reason codes for every referred company.
    history : for one chunk of a larger file, the whole file's company histories and repeated keys
        (:class:`riskcore.serving.history.FileHistory`); by default they come from ``data`` itself.
    scenarios : macro scenarios to score one fiscal year's rows under as well (:class:`Scenarios`); their
        PDs are in the result's ``scenario_pd``. The rows are validated and their panel features built
        once: each scenario only moves its inputs in the model matrix and predicts again.

    Returns
    -------
    ScoreResult

    Raises
    ------
    MissingColumnError
        Only when no row can be scored because a whole required column is missing.

    Notes
    -----
    Panel features (year-on-year changes, volatilities) are computed from the
    earlier periods of the same company in the data. When the data has a
    column for one of them too, its value is used where the history gives none,
    which is what :func:`score_one` does for a single company.
    """
    spec = bundle.spec
    lgd = bundle.costs.lgd if lgd is None else lgd
    info = data.info if isinstance(data, Table) else None
    progress(0.02, "validating")
    prepared = prepare_frame(data, spec)
    notes = list(prepared.notes)
    n_absent = _check_columns(prepared, spec, notes)
    checked = _check_rows(prepared, spec, info.decimal if info is not None else ".", history, notes)
    frame, rows, good_idx = prepared.frame, prepared.rows, checked.good_idx
    # the display name too, so the audit trail can find a company by its name (it stores only its salted hash)
    input_cols = [c for c in dict.fromkeys((*spec.key_columns, *spec.feature_names, spec.exposure, spec.name_column))
                  if c and c in frame]
    inputs = frame[input_cols]
    panel = panel_values(frame, good_idx, checked.key_ok, spec, checked.provided, checked.id_codes, history, rows)
    columns = ModelColumns(bundle, frame, panel, prepared.category_codes)
    raw, p, n_missing = _score_rows(bundle, columns, good_idx, n_absent, progress)
    scenario_pd = {} if scenarios is None else _scenario_scores(bundle, prepared, checked, columns, scenarios,
                                                                 history is not None)
    out = _output_columns(bundle, prepared, checked, raw, p, n_missing, risk_bands=risk_bands, lgd=lgd)
    if explain:
        refer = np.flatnonzero(p >= bundle.threshold)
        out["reasons"] = text_column(_referred_reasons(bundle, inputs, good_idx, panel, refer, progress))
    if passthrough:
        _pass_through(out, data, spec, checked, notes)
    scores = pd.DataFrame(out, copy=False)
    progress(1.0, "done")
    return ScoreResult(scores=scores, rejects=checked.rejects, notes=notes, info=info,
                       n_rows=len(frame) + len(prepared.unreadable), model_version=bundle.version,
                       id_column=checked.id_column, scenario_pd=scenario_pd, _inputs_from=(inputs, good_idx))


@dataclass(frozen=True)
class Scenarios:
    """Macro scenarios to score the rows of one fiscal year under, besides their own values.

    ``shifts``: scenario name → {macro input → its move, in the input's units} (an empty move: as observed);
    ``year``: the fiscal year whose rows move (a company's earlier rows keep their values: its panel features
    see the move as a change since last year, as a real shock would be seen).
    """

    year: int
    shifts: Mapping[str, Mapping[str, float]]


def _scenario_scores(bundle: ModelBundle, prepared: Prepared, checked: _CheckedRows, columns: ModelColumns,
                     scenarios: Scenarios, from_history: bool) -> dict[str, np.ndarray]:
    """Each scenario's PD of the valid rows of its year (NaN for the others): the moved inputs predicted again.

    A panel feature computed from a moved input (a change of GDP growth since last year) is computed again
    from the moved values; with the histories of a larger file (``from_history``) it keeps the file's values.
    """
    spec, frame, good_idx = bundle.spec, prepared.frame, checked.good_idx
    n = len(good_idx)
    if not spec.time or spec.time not in frame:
        return {name: np.full(n, np.nan) for name in scenarios.shifts}
    years = row_fiscal_years(frame[spec.time], spec.year_end_month).to_numpy(dtype=float)[good_idx]
    at = np.flatnonzero(years == scenarios.year)
    out: dict[str, np.ndarray] = {}
    for name, shifts in scenarios.shifts.items():
        p = np.full(n, np.nan)
        moves = {k: float(v) for k, v in shifts.items() if k in frame and v}
        if len(at):
            moved = stressed(frame[list(moves)], moves, spec, rows=good_idx[at])
            variant = columns.replaced({c: moved[c].to_numpy(dtype=float) for c in moves})
            if not from_history and any(set(f.recipe.inputs) & set(moves) for f in spec.panel_features if f.recipe):
                whole = frame.assign(**{c: moved[c] for c in moves})
                variant = ModelColumns(bundle, whole, panel_values(whole, good_idx, checked.key_ok, spec,
                                                                   checked.provided, checked.id_codes),
                                       prepared.category_codes)
            for start in range(0, len(at), _CHUNK):
                sel = at[start:start + _CHUNK]
                matrix, _ = variant.matrix(good_idx[sel], sel)
                p[sel] = bundle.score_matrix(matrix)[1]
        out[name] = p
    return out


def _check_columns(prepared: Prepared, spec: DatasetSpec, notes: list[str]) -> int:
    """Refuse a file without a required column; note the optional ones it lacks (returns how many)."""
    missing_required = [c for c in prepared.missing_columns if spec.feature(c).required]
    if missing_required:
        labels = ", ".join(f"{c!r} ({spec.label(c)})" for c in missing_required)
        raise MissingColumnError(missing_required,
                                 f"required column(s) {labels} are not in the file, so no row can be scored; "
                                 "add the column(s) — the template lists every expected column")
    optional_missing = [c for c in prepared.missing_columns if not spec.feature(c).required]
    if optional_missing:
        shown = ", ".join(map(repr, optional_missing[:8])) + (" …" if len(optional_missing) > 8 else "")
        notes.append(f"{len(optional_missing)} optional feature column(s) are not in the file and were scored as "
                     f"missing: {shown}; scores are less precise without them")
    return len(optional_missing)


@dataclass(frozen=True)
class _CheckedRows:
    """The outcome of :func:`_check_rows`: which rows can be scored, and what the others' problems are."""

    rejects: pd.DataFrame
    has_id: bool
    good: np.ndarray
    good_idx: np.ndarray
    key_ok: np.ndarray
    id_codes: np.ndarray
    id_column: str
    provided: dict[str, np.ndarray]
    outliers: pd.DataFrame


class _Keys:
    """The keys of rows as the reject report names them (``id period``, or the row number)."""

    def __init__(self, frame: pd.DataFrame, spec: DatasetSpec, rows: np.ndarray, has_id: bool):
        self.frame = frame[[c for c in spec.key_columns if c in frame]]
        self.spec, self.rows, self.has_id = spec, rows, has_id

    def __call__(self, idx: np.ndarray) -> pd.Series:
        if self.has_id:
            return row_keys(self.frame.iloc[idx], self.spec, self.rows[idx])
        return pd.Series([f"row {r}" for r in self.rows[idx]], dtype=object)


def _check_rows(prepared: Prepared, spec: DatasetSpec, decimal: str, history: FileHistory | None,
                notes: list[str]) -> _CheckedRows:
    """Every row's problems (invalid cells, missing required values, unusable keys) and the rows left to score."""
    frame, rows = prepared.frame, prepared.rows
    n = len(frame)
    has_id = bool(spec.id and spec.id in frame)
    id_col = spec.id if has_id and spec.id else "row"
    if not has_id:
        notes.append(f"no {spec.id or 'id'!r} column: rows are identified by their row number")
    keys = _Keys(frame, spec, rows, has_id)
    cells = prepared.cells
    parts: list[pd.DataFrame] = [cells[cells["check"].isin(_REJECTING)]] if len(cells) else []
    invalid, outliers = range_cells(frame, spec, rows, outlier_keys=False)
    parts.append(invalid)
    provided, panel_cells = provided_panel_features(frame, spec, rows, decimal, keys)
    parts.extend(panel_cells)
    parts.extend(_required_missing(frame, spec, rows, cells, keys))
    id_codes = pd.factorize(frame[id_col].to_numpy(dtype=object))[0] if has_id else np.arange(n)
    key_ok = np.ones(n, dtype=bool)
    if has_id:
        id_parts, key_ok = id_problems(frame, spec, rows, keys, id_codes, duplicates=history is None)
        parts.extend(id_parts)
        if history is not None:
            dup, first = history.duplicates(rows)
            if dup.any():
                parts.append(duplicate_rejects(spec, frame, rows, keys, dup, first))
    reject_cells = _reject_frame(parts)
    unreadable = pd.DataFrame([{"row": p.row, "id": None, "column": p.column, "value": p.value, "problem": p.problem}
                               for p in prepared.unreadable], columns=REJECT_COLUMNS)
    good = ~np.isin(rows, reject_cells["row"].to_numpy()) if len(reject_cells) else np.ones(n, dtype=bool)
    return _CheckedRows(rejects=_reject_frame([reject_cells, unreadable]), has_id=has_id, good=good,
                        good_idx=np.flatnonzero(good), key_ok=key_ok, id_codes=id_codes, id_column=id_col,
                        provided=provided, outliers=outliers)


def _required_missing(frame: pd.DataFrame, spec: DatasetSpec, rows: np.ndarray, cells: pd.DataFrame,
                      keys: _Keys) -> list[pd.DataFrame]:
    """Reject cells for required values left empty (a cell already rejected for its content is not repeated)."""
    parts = []
    for f in spec.features:
        if f.required and f.name in frame:
            miss = frame[f.name].isna().to_numpy().copy()
            if len(cells):
                miss &= ~np.isin(rows, cells.loc[cells["column"] == f.name, "row"].to_numpy())
            if miss.any():
                idx = np.flatnonzero(miss)
                parts.append(pd.DataFrame({"row": rows[idx], "id": keys(idx).to_numpy(), "column": f.name,
                                           "value": None, "check": "required_missing",
                                           "problem": required_message(f)}))
    return parts


def _score_rows(bundle: ModelBundle, columns: ModelColumns, good_idx: np.ndarray, n_absent: int,
                progress: Progress) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw scores, calibrated PDs and missing-feature counts of the valid rows, ``_CHUNK`` rows at a time."""
    n_valid = len(good_idx)
    raw = np.empty(n_valid)
    p = np.empty(n_valid)
    n_missing = np.full(n_valid, n_absent, dtype=np.int64)
    for start in range(0, n_valid, _CHUNK):
        stop = min(start + _CHUNK, n_valid)
        matrix, n_missing_chunk = columns.matrix(good_idx[start:stop], np.arange(start, stop))
        n_missing[start:stop] += n_missing_chunk
        raw[start:stop], p[start:stop] = bundle.score_matrix(matrix)
        progress(0.1 + 0.8 * stop / max(n_valid, 1), f"scoring rows {stop:,} of {n_valid:,}")
    return raw, p, n_missing


def _output_columns(bundle: ModelBundle, prepared: Prepared, checked: _CheckedRows, raw: np.ndarray, p: np.ndarray,
                    n_missing: np.ndarray, *, risk_bands: Literal["master", "fixed"], lgd: float) -> dict[str, Any]:
    """The output's own columns (see the module docstring), in order, for the valid rows."""
    spec, frame, good_idx = bundle.spec, prepared.frame, checked.good_idx
    valid_rows = prepared.rows[good_idx]
    n_valid = len(good_idx)
    out: dict[str, Any] = {"row": valid_rows}
    if checked.has_id:
        out[checked.id_column] = text_column(frame[checked.id_column].to_numpy(dtype=object)[good_idx])
    if spec.time and spec.time in frame:
        out[spec.time] = time_values(frame[spec.time].iloc[good_idx])
    out["p_default"] = p
    p_ttc = bundle.ttc_pd(p, frame.iloc[good_idx])
    if p_ttc is not None:
        out["p_default_ttc"] = p_ttc
    graded = p if p_ttc is None else p_ttc  # decisions and expected loss keep the point-in-time PD
    out["score_raw"] = raw
    out["decision"] = text_labels((p >= bundle.threshold).astype(np.int32), ("accept", "refer"))
    grade_names = [g.name for g in MASTER_SCALE]
    out["grade"] = text_labels(grade_index(graded), grade_names)
    if p_ttc is not None:
        out["grade_pit"] = text_labels(grade_index(p), grade_names)
    out["risk_level"] = text_labels(risk_level_index(graded, risk_bands), RISK_LEVELS)
    if spec.exposure and spec.exposure in frame:
        ead = frame[spec.exposure].to_numpy(dtype=float)[good_idx]
        out["expected_loss"] = np.maximum(p, PD_FLOOR) * lgd * ead
    else:
        out["expected_loss"] = np.full(n_valid, np.nan)
    out["n_missing"] = n_missing
    out["flags"] = text_column(outlier_flags(checked.outliers, valid_rows))
    out["model_version"] = text_labels(np.zeros(n_valid, dtype=np.int32), (bundle.version,))
    return out


def _pass_through(out: dict[str, Any], data: pd.DataFrame | Table, spec: DatasetSpec, checked: _CheckedRows,
                  notes: list[str]) -> None:
    """Add the file's other columns to ``out``, as the file's own text (not the typed copy), so nothing changes."""
    orig = data.frame if isinstance(data, Table) else data.reset_index(drop=True)
    taken = {normalise_name(c) for c in out}
    keys_taken = {normalise_name(c) for c in spec.key_columns if c in out}
    runs = true_runs(checked.good)
    for j, c in enumerate(orig.columns):
        name = normalise_name(str(c))
        if name in keys_taken:
            continue  # the id and the period are already there, as text and as whole years
        if name in taken or str(c) in out:
            notes.append(f"the file's column {str(c)!r} has the name of an output column and is not repeated "
                         "in the output; rename it to keep it")
            continue
        out[str(c)] = keep_rows(orig.iloc[:, j], checked.good_idx, runs)


def _referred_reasons(bundle: ModelBundle, inputs: pd.DataFrame, good_idx: np.ndarray, panel: pd.DataFrame,
                      refer: np.ndarray, progress: Progress) -> np.ndarray:
    """Up to four reason codes (joined with ``; ``) for every referred company, empty for the others."""
    reasons = np.full(len(good_idx), "", dtype=object)
    for start in range(0, len(refer), 20_000):
        part_pos = refer[start:start + 20_000]
        part = pd.concat([inputs.iloc[good_idx[part_pos]].reset_index(drop=True),
                          panel.iloc[part_pos].reset_index(drop=True)], axis=1)
        ex = explain_frame(bundle, part)
        reasons[part_pos] = ["; ".join(r.text for r in reason_codes(bundle, ex, part, i)) for i in range(len(part))]
        progress(0.9, f"explaining referred companies ({min(start + 20_000, len(refer)):,} of {len(refer):,})")
    return reasons


def score_file(bundle: ModelBundle, source: str | os.PathLike[str] | bytes | IO[bytes], **kwargs: Any) -> ScoreResult:
    """Read a CSV tolerantly and score it (see :func:`score_frame`)."""
    table = read_table(source, max_bytes=kwargs.pop("max_bytes", None))
    result = score_frame(bundle, table, **kwargs)
    if table.info.notes:
        result.notes = list(dict.fromkeys(result.notes + list(table.info.notes)))
    return result


def write_scores(result: ScoreResult, path: str | Path, rejects_path: str | Path | None = None) -> None:
    """Write scored rows (and rejects) as injection-safe CSV."""
    write_csv(result.scores, path)
    if rejects_path is not None:
        write_csv(result.rejects, rejects_path)


# ---------------------------------------------------------------------------
# one company, without pandas (the API's hot path)
# ---------------------------------------------------------------------------

def score_one(bundle: ModelBundle, record: dict[str, Any], *, risk_bands: Literal["master", "fixed"] = "master",
              lgd: float | None = None, strict: bool = False) -> dict[str, Any]:
    """Score one company from a dict, in well under a millisecond.

    Builds the model row with NumPy directly (no DataFrame), so it gives the same
    numbers as :func:`score_frame` on a one-row file (a test holds it to that).
    ``strict``: see :func:`riskcore.serving.records.validate_record`.

    Raises
    ------
    SchemaError
        With every problem of the record.
    """
    clean, matrix = checked_record(bundle, record, strict=strict)
    raw, p = bundle.score_matrix(matrix)
    return company_results(bundle, [clean], raw, p, risk_bands=risk_bands, lgd=lgd)[0]


def company_results(bundle: ModelBundle, cleans: list[dict[str, Any]], raw: np.ndarray, p: np.ndarray, *,
                    risk_bands: Literal["master", "fixed"] = "master",
                    lgd: float | None = None) -> list[dict[str, Any]]:
    """The result dict of :func:`score_one` for each company of a scored matrix (grades and levels vectorised).

    ``cleans`` are the companies' values checked by :func:`riskcore.serving.records.validate_record`, in the
    matrix's row order; ``raw`` and ``p`` what :meth:`ModelBundle.score_matrix` gave for it.
    """
    spec = bundle.spec
    lgd = bundle.costs.lgd if lgd is None else lgd
    p_ttc = None
    if bundle.cycle is not None and bundle.grade_basis == "ttc":  # the API's hot path builds no frame otherwise
        p_ttc = bundle.ttc_pd(p, pd.DataFrame({m: [c.get(m) for c in cleans] for m in bundle.cycle.macro},
                                              index=range(len(cleans)), dtype=float))
    graded = p if p_ttc is None else p_ttc
    grades = grade_of(graded)
    grades_pit = grades if p_ttc is None else grade_of(p)
    levels = risk_level_of(graded, risk_bands)
    ttcs: list[float | None] = [None] * len(cleans) if p_ttc is None else p_ttc.tolist()
    out = []
    for clean, raw_i, pd_, pd_ttc, grade, grade_pit, level in zip(cleans, raw.tolist(), p.tolist(), ttcs, grades,
                                                                    grades_pit, levels, strict=True):
        ead = clean.get(spec.exposure) if spec.exposure else None
        out.append({
            "p_default": pd_,
            "p_default_ttc": pd_ttc,
            "score_raw": raw_i,
            "decision": "refer" if pd_ >= bundle.threshold else "accept",
            "grade": str(grade),
            "grade_pit": str(grade_pit),
            "grade_basis": bundle.grade_basis,
            "risk_level": str(level),
            "expected_loss": None if ead is None else float(max(pd_, PD_FLOOR) * lgd * ead),
            "n_missing": sum(1 for f in spec.features if clean.get(f.name) is None),
            "model_version": bundle.version,
            "inputs": clean,
        })
    return out


@dataclass(frozen=True)
class WhatIf:
    """A company re-scored with some values changed."""

    before: dict[str, Any]
    after: dict[str, Any]
    changes: dict[str, tuple[Any, Any]]

    @property
    def delta_pd(self) -> float:
        """Change of the calibrated PD."""
        return float(self.after["p_default"] - self.before["p_default"])


def what_if(bundle: ModelBundle, company: dict[str, Any], changes: dict[str, Any]) -> WhatIf:
    """Re-score one company with some feature values changed.

    Parameters
    ----------
    bundle : the model bundle.
    company : the company's current values (feature → value).
    changes : feature → new value.

    Raises
    ------
    SchemaError
        When a changed value is invalid (outside the valid range, unknown category).
    """
    before = score_one(bundle, company)
    updated = {**company, **changes}
    after = score_one(bundle, updated)
    return WhatIf(before=before, after=after,
                  changes={k: (company.get(k), v) for k, v in changes.items() if company.get(k) != v})
