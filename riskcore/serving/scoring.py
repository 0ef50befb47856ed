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
:mod:`riskcore.evaluation.grading`), ``risk_level``, ``expected_loss`` (PD × LGD × exposure,
when the data has an exposure column), ``n_missing`` (optional features without
a value), ``flags`` (outliers and other remarks), ``model_version``, then the
file's other columns unchanged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskcore.data.quality import prepare_frame, range_cells, row_keys
from riskcore.data.tabular import ReadInfo, Table, normalise_name, parse_numbers, read_table, write_csv
from riskcore.errors import Problem, SchemaError
from riskcore.evaluation.grading import (
    MASTER_SCALE,
    PD_FLOOR,
    RISK_LEVELS,
    grade_index,
    grade_of,
    risk_level_index,
    risk_level_of,
)
from riskcore.modelling.features import panel_arrays
from riskcore.progress import Progress, no_progress

__all__ = ["REJECT_COLUMNS", "SCORE_COLUMNS", "ScoreResult", "ScoreTally", "record_matrix",
           "score_file", "score_frame", "score_one", "validate_record", "write_scores"]

SCORE_COLUMNS = ("p_default", "score_raw", "decision", "grade", "risk_level", "expected_loss", "n_missing", "flags",
                 "model_version")
REJECT_COLUMNS = ["row", "id", "column", "value", "problem"]
MAX_ID_CHARS = 100
_CHUNK = 100_000
_REJECTING = ("type", "non_finite", "unknown_category", "range")


@dataclass
class ScoreResult:
    """Scored rows, rejected rows, and what a credit officer should know about the file."""

    scores: pd.DataFrame
    rejects: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    info: ReadInfo | None = None
    n_rows: int = 0
    model_version: str = ""
    id_column: str = "id"
    _inputs: pd.DataFrame | None = field(default=None, repr=False)
    _inputs_from: tuple[pd.DataFrame, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @property
    def inputs(self) -> pd.DataFrame:
        """Typed model inputs of the scored rows (keys, features, exposure), in the order of ``scores``.

        Built on first use: a million-row file need not hold a second copy of its inputs
        unless something (the audit trail, a chart) asks for them.
        """
        if self._inputs is None:
            if self._inputs_from is None:
                self._inputs = pd.DataFrame()
            else:
                frame, idx = self._inputs_from
                self._inputs = frame.iloc[idx].reset_index(drop=True)
                self._inputs_from = None
        return self._inputs

    def __getstate__(self) -> dict[str, Any]:
        """Pickle with the inputs built (the typed frame they come from is not kept)."""
        self.inputs  # noqa: B018 - builds them
        return dict(self.__dict__)

    @property
    def n_scored(self) -> int:
        """Rows scored."""
        return int(len(self.scores))

    @property
    def n_rejected(self) -> int:
        """Distinct rows rejected."""
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0

    def tally(self) -> ScoreTally:
        """The counts behind :meth:`summary`; tallies of several chunks add up to the whole file's."""
        tally = ScoreTally()
        tally.add(self)
        return tally

    def grade_distribution(self) -> pd.DataFrame:
        """grade, companies, share, mean_pd — in master-scale order."""
        return self.tally().grade_distribution()

    def summary(self) -> str:
        """Plain-text summary: scored, rejected, decisions, grades, expected loss."""
        return self.tally().summary(self.rejects, self.notes, self.model_version)


@dataclass
class ScoreTally:
    """Counts of a scored file that add up chunk by chunk: rows, decisions, grades, expected loss.

    A file scored in chunks keeps one tally instead of every score, so its summary costs
    no memory that grows with the file.
    """

    n_rows: int = 0
    n_scored: int = 0
    n_refer: int = 0
    sum_pd: float = 0.0
    grade_counts: np.ndarray = field(default_factory=lambda: np.zeros(len(MASTER_SCALE), dtype=np.int64))
    grade_pd: np.ndarray = field(default_factory=lambda: np.zeros(len(MASTER_SCALE)))
    expected_loss: float = 0.0
    has_expected_loss: bool = False

    def add(self, result: ScoreResult) -> None:
        """Add one (chunk's) result."""
        scores = result.scores
        self.n_rows += result.n_rows
        self.n_scored += len(scores)
        if not len(scores):
            return
        p = scores["p_default"].to_numpy(dtype=float)
        self.n_refer += int((scores["decision"] == "refer").sum())
        self.sum_pd += float(p.sum())
        g = grade_index(p)
        self.grade_counts += np.bincount(g, minlength=len(MASTER_SCALE))
        self.grade_pd += np.bincount(g, weights=p, minlength=len(MASTER_SCALE))
        el = scores["expected_loss"].to_numpy(dtype=float)
        if np.isfinite(el).any():
            self.has_expected_loss = True
            self.expected_loss += float(np.nansum(el))

    def grade_distribution(self) -> pd.DataFrame:
        """grade, companies, share, mean_pd — in master-scale order."""
        counts = self.grade_counts
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_pd = np.where(counts > 0, self.grade_pd / np.maximum(counts, 1), np.nan)
        out = pd.DataFrame({"grade": [g.name for g in MASTER_SCALE], "companies": counts.astype(int),
                            "mean_pd": mean_pd})
        out["share"] = out["companies"] / max(int(counts.sum()), 1)
        return out

    def summary(self, rejects: pd.DataFrame, notes: list[str], model_version: str) -> str:
        """Plain-text summary: scored, rejected, decisions, grades, expected loss."""
        n_rejected = int(rejects["row"].nunique()) if len(rejects) else 0
        lines = [f"Scored {self.n_scored:,} of {self.n_rows:,} rows with model {model_version}; "
                 f"rejected {n_rejected:,}."]
        if self.n_scored:
            refer = self.n_refer
            lines.append(f"Decisions: {self.n_scored - refer:,} accept, {refer:,} refer "
                         f"({refer / self.n_scored:.1%}). Mean PD {self.sum_pd / self.n_scored:.2%}.")
            dist = self.grade_distribution()
            lines.append("Grades: " + ", ".join(f"{g}: {n:,}" for g, n in zip(dist["grade"], dist["companies"]) if n))
            if self.has_expected_loss:
                lines.append(f"Total expected loss (PD × LGD × exposure): {self.expected_loss:,.0f}")
        if n_rejected:
            top = rejects.fillna({"column": "(whole row)"}).groupby("column")["row"].nunique() \
                .sort_values(ascending=False).head(5)
            lines.append("Rejected rows by column: " + ", ".join(f"{c} ({n})" for c, n in top.items())
                         + " — see the reject report for each row's problem and what to do")
        for n in notes:
            lines.append(f"Note: {n}")
        return "\n".join(lines)


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
    bundle: Any,
    data: pd.DataFrame | Table,
    *,
    risk_bands: Literal["master", "fixed"] = "master",
    lgd: float | None = None,
    progress: Progress = no_progress,
    passthrough: bool = True,
    explain: bool = False,
    history: Any = None,
) -> ScoreResult:
    """Score a portfolio with a model bundle.

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
        (:class:`riskcore.workflows.FileHistory`); by default they come from ``data`` itself.

    Returns
    -------
    ScoreResult

    Raises
    ------
    SchemaError
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
    decimal = info.decimal if info is not None else "."
    progress(0.02, "validating")
    prepared = prepare_frame(data, spec)
    frame, rows = prepared.frame, prepared.rows
    n = len(frame)
    notes = list(prepared.notes)
    missing_required = [c for c in prepared.missing_columns if spec.feature(c).required]
    if missing_required:
        labels = ", ".join(f"{c!r} ({spec.label(c)})" for c in missing_required)
        raise SchemaError(Problem(None, missing_required[0], None,
                                  f"required column(s) {labels} are not in the file, so no row can be scored; "
                                  "add the column(s) — the template lists every expected column"))
    optional_missing = [c for c in prepared.missing_columns if not spec.feature(c).required]
    if optional_missing:
        shown = ", ".join(map(repr, optional_missing[:8])) + (" …" if len(optional_missing) > 8 else "")
        notes.append(f"{len(optional_missing)} optional feature column(s) are not in the file and were scored as "
                     f"missing: {shown}; scores are less precise without them")
    has_id = bool(spec.id and spec.id in frame)
    id_col = spec.id if has_id else "row"
    if not has_id:
        notes.append(f"no {spec.id or 'id'!r} column: rows are identified by their row number")

    key_frame = frame[[c for c in spec.key_columns if c in frame]]

    def keys(idx: np.ndarray) -> pd.Series:
        if has_id:
            return row_keys(key_frame.iloc[idx], spec, rows[idx])
        return pd.Series([f"row {r}" for r in rows[idx]], dtype=object)

    # --- per-row problems ----------------------------------------------------
    cells = prepared.cells
    parts: list[pd.DataFrame] = [cells[cells["check"].isin(_REJECTING)]] if len(cells) else []
    invalid, outliers = range_cells(frame, spec, rows, outlier_keys=False)
    parts.append(invalid)
    provided, panel_cells = _provided_panel_features(frame, spec, rows, decimal, keys)
    parts.extend(panel_cells)
    for f in spec.features:
        if f.required and f.name in frame:
            miss = frame[f.name].isna().to_numpy().copy()
            if len(cells):
                miss &= ~np.isin(rows, cells.loc[cells["column"] == f.name, "row"].to_numpy())
            if miss.any():
                idx = np.flatnonzero(miss)
                parts.append(pd.DataFrame({"row": rows[idx], "id": keys(idx).to_numpy(), "column": f.name,
                                           "value": None, "check": "required_missing",
                                           "problem": f"{f.display_label} is required; fill it in"}))
    id_codes = pd.factorize(frame[id_col].to_numpy(dtype=object))[0] if has_id else np.arange(n)
    key_ok = np.ones(n, dtype=bool)
    if has_id:
        id_parts, key_ok = _id_problems(frame, spec, rows, keys, id_codes, duplicates=history is None)
        parts.extend(id_parts)
        if history is not None:
            dup, first = history.duplicates(rows)
            if dup.any():
                parts.append(duplicate_rejects(spec, frame, rows, keys, dup, first))
    reject_cells = _reject_frame(parts)
    unreadable = pd.DataFrame([{"row": p.row, "id": None, "column": p.column, "value": p.value, "problem": p.problem}
                               for p in prepared.unreadable], columns=REJECT_COLUMNS)
    rejects = _reject_frame([reject_cells, unreadable])
    good = ~np.isin(rows, reject_cells["row"].to_numpy()) if len(reject_cells) else np.ones(n, dtype=bool)
    good_idx = np.flatnonzero(good)
    n_valid = len(good_idx)

    # --- score the valid rows, a chunk at a time -------------------------------
    input_cols = [c for c in (*spec.key_columns, *spec.feature_names, spec.exposure) if c and c in frame]
    panel = _panel_values(frame, good_idx, key_ok, spec, provided, id_codes, history, rows)
    columns = _ModelColumns(bundle, frame, panel, prepared.category_codes)
    raw = np.empty(n_valid)
    p = np.empty(n_valid)
    n_missing = np.full(n_valid, len(optional_missing), dtype=np.int64)
    inputs = frame[input_cols]
    for start in range(0, n_valid, _CHUNK):
        stop = min(start + _CHUNK, n_valid)
        matrix, n_missing_chunk = columns.matrix(good_idx[start:stop], np.arange(start, stop))
        n_missing[start:stop] += n_missing_chunk
        raw[start:stop], p[start:stop] = bundle.score_matrix(matrix)
        progress(0.1 + 0.8 * stop / max(n_valid, 1), f"scoring rows {stop:,} of {n_valid:,}")

    out: dict[str, Any] = {"row": rows[good_idx]}
    if has_id:
        out[id_col] = _text(frame[id_col].to_numpy(dtype=object)[good_idx])
    if spec.time and spec.time in frame:
        out[spec.time] = _time_values(frame[spec.time].iloc[good_idx])
    out["p_default"] = p
    out["score_raw"] = raw
    out["decision"] = _labels((p >= bundle.threshold).astype(np.int32), ("accept", "refer"))
    out["grade"] = _labels(grade_index(p), [g.name for g in MASTER_SCALE])
    out["risk_level"] = _labels(risk_level_index(p, risk_bands), RISK_LEVELS)
    if spec.exposure and spec.exposure in frame:
        ead = frame[spec.exposure].to_numpy(dtype=float)[good_idx]
        out["expected_loss"] = np.maximum(p, PD_FLOOR) * lgd * ead
    else:
        out["expected_loss"] = np.full(n_valid, np.nan)
    out["n_missing"] = n_missing
    out["flags"] = _text(_outlier_flags(outliers, rows[good_idx]))
    out["model_version"] = _labels(np.zeros(n_valid, dtype=np.int32), (bundle.version,))
    if explain:
        refer = np.flatnonzero(p >= bundle.threshold)
        out["reasons"] = _text(_referred_reasons(bundle, inputs, good_idx, panel, refer, progress))
    if passthrough:
        orig = data.frame if isinstance(data, Table) else data.reset_index(drop=True)
        # the file's own text (not our typed copy), so nothing changes on the way
        taken = {normalise_name(c): c for c in out}
        keys_taken = {normalise_name(c) for c in spec.key_columns if c in out}
        runs = _runs(good)
        for j, c in enumerate(orig.columns):
            name = normalise_name(str(c))
            if name in keys_taken:
                continue  # the id and the period are already there, as text and as whole years
            if name in taken or str(c) in out:
                notes.append(f"the file's column {str(c)!r} has the name of an output column and is not repeated "
                             "in the output; rename it to keep it")
                continue
            out[str(c)] = _keep_rows(orig.iloc[:, j], good_idx, runs)
    scores = pd.DataFrame(out, copy=False)
    progress(1.0, "done")
    return ScoreResult(scores=scores, rejects=rejects, notes=notes, info=info, n_rows=n + len(prepared.unreadable),
                       model_version=bundle.version, id_column=id_col, _inputs_from=(inputs, good_idx))


class _ModelColumns:
    """The model matrix of any rows of a prepared frame, built from its NumPy columns.

    The same matrix as ``bundle.matrix`` of those rows as a DataFrame (a test
    holds it to that), without slicing a DataFrame per chunk: numbers are taken
    from the typed columns, categories are encoded once per distinct value.
    """

    def __init__(self, bundle: Any, frame: pd.DataFrame, panel: pd.DataFrame,
                 category_codes: dict[str, np.ndarray] | None = None):
        self.builder = bundle.features
        spec = bundle.spec
        category_codes = category_codes or {}
        layout = self.builder.layout_
        raw_features = set(bundle.spec.feature_names)
        self.numeric: list[tuple[np.ndarray | None, bool, bool]] = []  # (values, from_panel, counts_as_missing)
        for c in layout.numeric:
            if c in panel:
                self.numeric.append((panel[c].to_numpy(dtype=float), True, False))
            elif c in frame:
                self.numeric.append((frame[c].to_numpy(dtype=float), False, c in raw_features))
            else:
                self.numeric.append((None, False, False))
        self.codes: list[np.ndarray | None] = []
        self.cat_missing: list[np.ndarray] = []
        for c in layout.categorical:
            if c in frame:
                if c in category_codes:  # positions in the spec's categories, from prepare_frame
                    codes, uniques = category_codes[c], list(spec.feature(c).categories)
                else:
                    codes, uniques = pd.factorize(frame[c].to_numpy(dtype=object))
                lookup = np.append(self.builder.encode(np.asarray(uniques, dtype=object), c), np.nan)
                self.codes.append(lookup[codes])  # code -1 (missing) takes the last slot: NaN
                if c in raw_features:
                    self.cat_missing.append(codes < 0)
            else:
                self.codes.append(None)

    def matrix(self, rows: np.ndarray, panel_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(model matrix, number of missing raw features) of frame rows ``rows`` (panel rows ``panel_rows``)."""
        m = len(rows)
        numeric = np.full((m, len(self.numeric)), np.nan)
        missing = np.zeros(m, dtype=np.int64)
        for j, (values, from_panel, counts) in enumerate(self.numeric):
            if values is not None:
                numeric[:, j] = values[panel_rows] if from_panel else values[rows]
                if counts:
                    missing += np.isnan(numeric[:, j])
        cats = np.full((m, len(self.codes)), np.nan)
        for j, codes in enumerate(self.codes):
            if codes is not None:
                cats[:, j] = codes[rows]
        for miss in self.cat_missing:
            missing += miss[rows]
        return self.builder.transform_arrays(numeric, cats), missing


def _runs(mask: np.ndarray) -> np.ndarray:
    """Start and stop of each run of True in ``mask``, as rows of a (runs × 2) array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.column_stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)])


def _keep_rows(column: pd.Series, good_idx: np.ndarray, runs: np.ndarray) -> Any:
    """The valid rows of a passed-through column.

    An Arrow text column with few rejected rows is cut into zero-copy slices
    around them instead of being copied: a million-row file's text columns are
    the largest thing in memory, and the output would otherwise hold them twice.
    """
    values = column.array
    if len(runs) == 1 and runs[0, 0] == 0 and runs[0, 1] == len(values):
        return values
    if isinstance(values, pd.arrays.ArrowStringArray) and len(runs) <= max(64, len(values) // 200):
        whole = pa.chunked_array(pa.array(values))
        chunks = [piece for start, stop in runs for piece in whole.slice(start, stop - start).chunks]
        return pa.chunked_array(chunks, type=whole.type).to_pandas().array
    return values.take(good_idx)


def _id_problems(frame: pd.DataFrame, spec: Any, rows: np.ndarray, keys: Any, id_codes: np.ndarray, *,
                 duplicates: bool = True) -> tuple[list[pd.DataFrame], np.ndarray]:
    """Empty ids, ids too long to be an id, and repeated keys (the first occurrence is kept).

    ``id_codes`` numbers the distinct ids (-1 when empty), so keys are compared as integers.
    Returns the problems and which rows have a usable key (the rows a company's history
    is made of). With ``duplicates=False`` repeated keys are left to the caller (a file
    scored in chunks finds them over the whole file).
    """
    id_col = spec.id
    parts = []
    idv = frame[id_col]
    empty = idv.isna().to_numpy()
    if empty.any():
        idx = np.flatnonzero(empty)
        parts.append(pd.DataFrame({"row": rows[idx], "id": None, "column": id_col, "value": None,
                                   "check": "id", "problem": "the company id is empty; give every row an id"}))
    text = pa.array(idv.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    lengths = pc.fill_null(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False)
    long = lengths > MAX_ID_CHARS
    if long.any():
        idx = np.flatnonzero(long)
        parts.append(pd.DataFrame({"row": rows[idx], "id": None, "column": id_col,
                                   "value": [f"{str(v)[:30]}… ({int(lengths[i]):,} characters)"
                                             for i, v in zip(idx, idv.iloc[idx])],
                                   "check": "id",
                                   "problem": f"the id is longer than {MAX_ID_CHARS} characters; "
                                              "use the company's short identifier"}))
    key_ok = ~empty & ~long
    if duplicates:
        key = id_codes.astype(np.int64)
        if spec.time and spec.time in frame:
            periods = pd.factorize(frame[spec.time].to_numpy())[0]  # a missing period is -1, like any other
            key = key * (int(periods.max(initial=0)) + 2) + periods + 1
        dup = pd.Series(key).duplicated(keep="first").to_numpy() & ~empty
        if dup.any():
            _, first_of_key, which = np.unique(key, return_index=True, return_inverse=True)
            parts.append(duplicate_rejects(spec, frame, rows, keys, dup, rows[first_of_key[which]]))
        key_ok &= ~dup
    return parts, key_ok


def duplicate_rejects(spec: Any, frame: pd.DataFrame, rows: np.ndarray, keys: Any, dup: np.ndarray,
                      first: np.ndarray) -> pd.DataFrame:
    """Reject cells for the rows in ``dup`` that repeat the key of the row numbered ``first`` (same length)."""
    idx = np.flatnonzero(dup)
    key_cols = [c for c in spec.key_columns if c in frame]
    what = " and ".join(key_cols)
    return pd.DataFrame({"row": rows[idx], "id": keys(idx).to_numpy(), "column": spec.id,
                         "value": frame[spec.id].iloc[idx].to_numpy(dtype=object), "check": "duplicate",
                         "problem": [f"the same {what} as row {first[i]}; each company"
                                     + (" and period" if len(key_cols) > 1 else "")
                                     + " must appear once — remove or correct the copy"
                                     for i in idx]})


def _provided_panel_features(frame: pd.DataFrame, spec: Any, rows: np.ndarray, decimal: str,
                             keys: Any) -> tuple[dict[str, np.ndarray], list[pd.DataFrame]]:
    """Panel-feature columns the data brings itself (matched ignoring case and spaces), as numbers."""
    by_key = {normalise_name(str(c)): c for c in frame.columns}
    provided: dict[str, np.ndarray] = {}
    parts: list[pd.DataFrame] = []
    for pf in spec.panel_features:
        col = by_key.get(normalise_name(pf.name))
        if col is None:
            continue
        raw = frame[col]
        values, bad = parse_numbers(raw, decimal)
        bad |= np.isinf(values)
        if bad.any():
            idx = np.flatnonzero(bad)
            parts.append(pd.DataFrame({"row": rows[idx], "id": keys(idx).to_numpy(), "column": pf.name,
                                       "value": raw.iloc[idx].to_numpy(dtype=object), "check": "type",
                                       "problem": [f"{v!r} is not a finite number; write digits or leave the "
                                                   "cell empty" for v in raw.iloc[idx]]}))
        provided[pf.name] = np.where(bad, np.nan, values)
    return provided, parts


def history_inputs(frame: pd.DataFrame, spec: Any) -> dict[str, np.ndarray]:
    """The panel recipes' inputs as they enter a company's history: numbers, NaN where unusable.

    A value outside its valid range is unknown for the history, as a cell that is
    not a number is (``prepare_frame`` already made those NaN).
    """
    out: dict[str, np.ndarray] = {}
    for pf in spec.panel_features:
        col = pf.recipe.inputs[0] if pf.recipe is not None else None
        if col is None or col in out or col not in frame:
            continue
        x = frame[col].to_numpy(dtype=float).copy()
        f = spec.feature(col) if spec.has_feature(col) else None
        if f is not None and f.min is not None:
            x[x < f.min] = np.nan
        if f is not None and f.max is not None:
            x[x > f.max] = np.nan
        out[col] = x
    return out


def period_numbers(values: pd.Series | np.ndarray) -> np.ndarray:
    """Periods as numbers for ordering a history: years as they are, dates as their year."""
    t = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(t):
        return t.dt.year.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(t, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _panel_values(frame: pd.DataFrame, good_idx: np.ndarray, key_ok: np.ndarray, spec: Any,
                  provided: dict[str, np.ndarray], id_codes: np.ndarray,
                  history: Any = None, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Panel features of the valid rows: from each company's history, else as the data gives them.

    A company's history is its rows with a usable key (an id, not a repeat of an
    earlier row's company and period), whatever else is wrong with them: a year
    rejected for an unknown sector still says what the company's ratios were. With
    ``history`` (a file scored in chunks) the values come from the whole file's
    history instead, which gives the same numbers.
    """
    names = [pf.name for pf in spec.panel_features]
    n = len(good_idx)
    if history is not None and rows is not None:
        values = {name: v[good_idx] for name, v in history.panel(rows).items()}
    else:
        values = {name: np.full(n, np.nan) for name in names}
        if names and spec.id and spec.id in frame and spec.time and spec.time in frame and n:
            codes = np.where(key_ok, id_codes, -1)
            computed = panel_arrays(codes, period_numbers(frame[spec.time]), history_inputs(frame, spec), spec)
            values = {name: computed[name][good_idx] for name in names}
    for name in names:
        if name in provided:
            values[name] = np.where(np.isnan(values[name]), provided[name][good_idx], values[name])
    return pd.DataFrame(values, index=pd.RangeIndex(n))


def _time_values(t: pd.Series) -> Any:
    """The time column as the output shows it: whole years as integers (a missing year stays missing)."""
    if pd.api.types.is_float_dtype(t):
        v = t.to_numpy(dtype=float)
        finite = np.isfinite(v)
        if np.all(np.mod(v[finite], 1) == 0):
            years = pd.array(np.where(finite, v, 0).astype(np.int64), dtype="Int64")
            years[~finite] = pd.NA
            return years
    return t.to_numpy()


def _outlier_flags(outliers: pd.DataFrame, valid_rows: np.ndarray) -> np.ndarray:
    """``unusual value: col=value, …`` for each valid row with outliers, else an empty string."""
    flags = np.full(len(valid_rows), "", dtype=object)
    if not len(outliers):
        return flags
    o = outliers[outliers["row"].isin(valid_rows)]
    by_row: dict[int, list[str]] = {}
    for r, c, v in zip(o["row"].tolist(), o["column"].tolist(), o["value"].tolist()):
        by_row.setdefault(r, []).append(f"{c}={v:g}")
    if by_row:
        # rows are in file order, so each valid row's position is found by bisection
        pos = np.searchsorted(valid_rows, np.fromiter(by_row, dtype=np.int64, count=len(by_row)))
        flags[pos] = ["unusual value: " + ", ".join(v) for v in by_row.values()]
    return flags


def _labels(codes: np.ndarray, labels: Any) -> Any:
    """A text column from codes into a short list of labels, built in Arrow (no Python string per row)."""
    dictionary = pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()),
                                                pa.array(list(labels), type=pa.large_string()))
    return pa.chunked_array([dictionary.cast(pa.large_string())]).to_pandas().array


def _text(values: np.ndarray) -> Any:
    """An object array of text (``None`` where missing) as a pandas string column."""
    return pa.chunked_array([pa.array(values, type=pa.large_string(), from_pandas=True)]).to_pandas().array


def _referred_reasons(bundle: Any, inputs: pd.DataFrame, good_idx: np.ndarray, panel: pd.DataFrame,
                      refer: np.ndarray, progress: Progress) -> np.ndarray:
    """Up to four reason codes (joined with ``; ``) for every referred company, empty for the others."""
    from riskcore.serving.explain import explain_frame, reason_codes

    reasons = np.full(len(good_idx), "", dtype=object)
    for start in range(0, len(refer), 20_000):
        part_pos = refer[start:start + 20_000]
        part = pd.concat([inputs.iloc[good_idx[part_pos]].reset_index(drop=True),
                          panel.iloc[part_pos].reset_index(drop=True)], axis=1)
        ex = explain_frame(bundle, part)
        reasons[part_pos] = ["; ".join(r.text for r in reason_codes(bundle, ex, part, i)) for i in range(len(part))]
        progress(0.9, f"explaining referred companies ({min(start + 20_000, len(refer)):,} of {len(refer):,})")
    return reasons


def score_file(bundle: Any, source: str | os.PathLike[str] | bytes | IO[bytes], **kwargs: Any) -> ScoreResult:
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

def validate_record(spec: Any, record: dict[str, Any], row: int = 1) -> tuple[dict[str, Any], list[Problem]]:
    """Check one company's values against the spec; return canonical values and problems.

    Keys are matched ignoring case and surrounding spaces. Missing optional
    features are allowed; required ones, values outside the valid range,
    non-finite numbers and unknown categories are problems.
    """
    by_key = {normalise_name(k): v for k, v in record.items()}
    clean: dict[str, Any] = {}
    problems: list[Problem] = []
    rid = by_key.get(normalise_name(spec.id)) if spec.id else None
    rid = None if rid is None else str(rid)
    for f in spec.features:
        v = by_key.get(normalise_name(f.name))
        if _is_missing(v):
            if f.required:
                problems.append(Problem(row, f.name, None, f"{f.display_label} is required; fill it in", rid))
            clean[f.name] = None
            continue
        if f.kind == "categorical":
            canon = {c.casefold(): c for c in f.categories}
            text = str(v).strip()
            if f.categories and text.casefold() not in canon:
                allowed = ", ".join(f.categories[:12]) + (" …" if len(f.categories) > 12 else "")
                problems.append(Problem(row, f.name, v, f"{v!r} is not a known {f.display_label.lower()}; "
                                                        f"allowed: {allowed}", rid))
                continue
            clean[f.name] = canon.get(text.casefold(), text)
            continue
        x = _number(v)
        if x is None:
            problems.append(Problem(row, f.name, v, f"{v!r} is not a number; write digits (decimal mark '.') or "
                                                    "leave it empty", rid))
            continue
        if np.isnan(x):
            if f.required:
                problems.append(Problem(row, f.name, None, f"{f.display_label} is required; fill it in", rid))
            clean[f.name] = None
            continue
        if not np.isfinite(x):
            problems.append(Problem(row, f.name, v, f"{v!r} is infinite or too large to represent; give a finite "
                                                    "number", rid))
            continue
        if (f.min is not None and x < f.min) or (f.max is not None and x > f.max):
            lo = "-inf" if f.min is None else f"{f.min:g}"
            hi = "inf" if f.max is None else f"{f.max:g}"
            problems.append(Problem(row, f.name, x, f"value {x:g} is outside the valid range {lo} to {hi}; "
                                                    "correct the value or leave it empty", rid))
            continue
        clean[f.name] = x
    for pf in spec.panel_features:
        v = by_key.get(normalise_name(pf.name))
        x = None if _is_missing(v) else _number(v)
        if x is None and not _is_missing(v) or (x is not None and np.isinf(x)):
            problems.append(Problem(row, pf.name, v, f"{v!r} is not a finite number; write digits or leave it empty",
                                    rid))
            x = None
        clean[pf.name] = None if x is None or np.isnan(x) else x
    if spec.exposure:
        v = by_key.get(normalise_name(spec.exposure))
        if not _is_missing(v):
            x = _number(v)
            if x is None or not np.isfinite(x) or x < 0:
                problems.append(Problem(row, spec.exposure, v, f"{v!r} is not a usable exposure; give the amount at "
                                                               "risk as a finite number, 0 or more", rid))
            else:
                clean[spec.exposure] = x
    return clean, problems


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


def record_matrix(bundle: Any, clean: dict[str, Any]) -> np.ndarray:
    """The one-row model matrix of a record checked by :func:`validate_record`, built with NumPy directly.

    Equal to ``bundle.matrix`` of the same row as a DataFrame (a test holds it to that).
    """
    fb = bundle.features
    layout = fb.layout_
    numeric = np.array([[np.nan if clean.get(c) is None else clean[c] for c in layout.numeric]], dtype=float)
    codes = [fb.categories_[c].index(v) if (v := clean.get(c)) in fb.categories_[c] else np.nan
             for c in layout.categorical]
    return fb.transform_arrays(numeric, np.array([codes], dtype=float))


def checked_record(bundle: Any, record: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
    """Validate one company's values and build its model row; raise ``SchemaError`` with every problem."""
    clean, problems = validate_record(bundle.spec, record)
    if problems:
        raise SchemaError(problems)
    return clean, record_matrix(bundle, clean)


def score_one(bundle: Any, record: dict[str, Any], *, risk_bands: Literal["master", "fixed"] = "master",
              lgd: float | None = None) -> dict[str, Any]:
    """Score one company from a dict, in well under a millisecond.

    Builds the model row with NumPy directly (no DataFrame), so it gives the same
    numbers as :func:`score_frame` on a one-row file (a test holds it to that).

    Raises
    ------
    SchemaError
        With every problem of the record.
    """
    spec = bundle.spec
    clean, matrix = checked_record(bundle, record)
    raw, p = bundle.score_matrix(matrix)
    pd_ = float(p[0])
    lgd = bundle.costs.lgd if lgd is None else lgd
    ead = clean.get(spec.exposure) if spec.exposure else None
    return {
        "p_default": pd_,
        "score_raw": float(raw[0]),
        "decision": "refer" if pd_ >= bundle.threshold else "accept",
        "grade": str(grade_of(np.array([pd_]))[0]),
        "risk_level": str(risk_level_of(np.array([pd_]), risk_bands)[0]),
        "expected_loss": None if ead is None else float(max(pd_, PD_FLOOR) * lgd * ead),
        "n_missing": int(sum(1 for f in spec.features if clean.get(f.name) is None)),
        "model_version": bundle.version,
        "inputs": clean,
    }
