"""Scoring: validate → score → calibrated PD → decision → grade, for one row or a million.

:func:`score_frame` never fails all-or-nothing: every row that can be scored is
scored, every row that cannot goes to the reject report with its row number, id,
column, value and what to do. Reading is tolerant (see :mod:`riskcore.tabular`):
any column order, extra columns passed through, names matched ignoring case and
surrounding spaces, optional features may be missing (flagged) because every
model handles missing values.

Output columns (``ScoreResult.scores``): the id (and time) column, ``p_default``
(calibrated), ``score_raw`` (the model's log-odds), ``decision`` (``refer`` at or
above the bundle's threshold, else ``accept``), ``grade`` (master scale, see
:mod:`riskcore.grading`), ``risk_level``, ``expected_loss`` (PD × LGD × exposure,
when the data has an exposure column), ``n_missing`` (optional features without
a value), ``flags`` (outliers and other remarks), ``model_version``, then the
file's other columns unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from riskcore.errors import Problem, SchemaError
from riskcore.features import add_panel_features
from riskcore.grading import PD_FLOOR, grade_of, risk_level_of
from riskcore.progress import Progress, no_progress
from riskcore.quality import prepare_frame, range_cells, row_keys
from riskcore.tabular import ReadInfo, Table, normalise_name, read_table, write_csv

__all__ = ["REJECT_COLUMNS", "SCORE_COLUMNS", "ScoreResult", "audit_records", "score_file", "score_frame", "score_one",
           "score_records", "validate_record", "write_scores"]

SCORE_COLUMNS = ("p_default", "score_raw", "decision", "grade", "risk_level", "expected_loss", "n_missing", "flags",
                 "model_version")
REJECT_COLUMNS = ["row", "id", "column", "value", "problem"]
MAX_ID_CHARS = 100
_CHUNK = 250_000
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
    inputs: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def n_scored(self) -> int:
        """Rows scored."""
        return int(len(self.scores))

    @property
    def n_rejected(self) -> int:
        """Distinct rows rejected."""
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0

    def grade_distribution(self) -> pd.DataFrame:
        """grade, companies, share, mean_pd — in master-scale order."""
        from riskcore.grading import MASTER_SCALE

        order = [g.name for g in MASTER_SCALE]
        g = self.scores.groupby("grade", observed=True)["p_default"].agg(["size", "mean"]).reindex(order)
        out = pd.DataFrame({"grade": order, "companies": g["size"].fillna(0).astype(int).to_numpy(),
                            "mean_pd": g["mean"].to_numpy()})
        out["share"] = out["companies"] / max(out["companies"].sum(), 1)
        return out

    def summary(self) -> str:
        """Plain-text summary: scored, rejected, decisions, grades, expected loss."""
        lines = [f"Scored {self.n_scored:,} of {self.n_rows:,} rows with model {self.model_version}; "
                 f"rejected {self.n_rejected:,}."]
        if self.n_scored:
            refer = int((self.scores["decision"] == "refer").sum())
            lines.append(f"Decisions: {self.n_scored - refer:,} accept, {refer:,} refer "
                         f"({refer / self.n_scored:.1%}). Mean PD {self.scores['p_default'].mean():.2%}.")
            dist = self.grade_distribution()
            lines.append("Grades: " + ", ".join(f"{g}: {n:,}" for g, n in zip(dist["grade"], dist["companies"]) if n))
            if self.scores["expected_loss"].notna().any():
                lines.append(f"Total expected loss (PD × LGD × exposure): {self.scores['expected_loss'].sum():,.0f}")
        if self.n_rejected:
            top = self.rejects.fillna({"column": "(whole row)"}).groupby("column")["row"].nunique() \
                .sort_values(ascending=False).head(5)
            lines.append("Rejected rows by column: " + ", ".join(f"{c} ({n})" for c, n in top.items())
                         + " — see the reject report for each row's problem and what to do")
        for n in self.notes:
            lines.append(f"Note: {n}")
        return "\n".join(lines)


def _reject_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    out = pd.concat(parts, ignore_index=True)[REJECT_COLUMNS]
    out["value"] = out["value"].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                                    else (v if isinstance(v, str) else repr(v) if not isinstance(v, (int, float))
                                          else v))
    return out.sort_values(["row", "column"], na_position="first", kind="stable").reset_index(drop=True)


def score_frame(
    bundle: Any,
    data: pd.DataFrame | Table,
    *,
    risk_bands: Literal["master", "fixed"] = "master",
    lgd: float | None = None,
    progress: Progress = no_progress,
    passthrough: bool = True,
    explain: bool = False,
) -> ScoreResult:
    """Score a portfolio with a model bundle.

    Parameters
    ----------
    bundle : a :class:`riskcore.bundle.ModelBundle`.
    data : a frame (typed or text) or a table read by :func:`riskcore.tabular.read_table`.
    risk_bands : ``master`` (levels from the master scale) or ``fixed`` (0.25 / 0.50 / 0.75).
    lgd : loss given default for the expected loss (default: the bundle's cost settings, 0.45).
    progress : ``progress(fraction, message)`` callback.
    passthrough : keep the file's other columns in the output.
    explain : add a ``reasons`` column with up to four reason codes for every referred company.

    Returns
    -------
    ScoreResult

    Raises
    ------
    SchemaError
        Only when no row can be scored because a whole required column is missing.
    """
    spec = bundle.spec
    lgd = bundle.costs.lgd if lgd is None else lgd
    info = data.info if isinstance(data, Table) else None
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
    id_col = spec.id
    if not (id_col and id_col in frame):
        id_col = "row"
        frame = frame.assign(row=rows)
        notes.append(f"no {spec.id or 'id'!r} column: rows are identified by their row number")
    ids = row_keys(frame, spec, rows) if id_col != "row" else pd.Series([f"row {r}" for r in rows], dtype=object)
    id_values = frame[id_col].astype(object)

    # --- per-row problems ----------------------------------------------------
    parts: list[pd.DataFrame] = []
    cells = prepared.cells
    if len(cells):
        parts.append(cells[cells["check"].isin(_REJECTING)].assign(id=lambda d: d["id"]))
    invalid, outliers = range_cells(frame, spec, rows, ids)
    parts.append(invalid)
    for f in spec.features:
        if f.required and f.name in frame:
            miss = frame[f.name].isna().to_numpy().copy()
            already = np.zeros(n, dtype=bool)
            if len(cells):
                bad_rows = set(cells.loc[cells["column"] == f.name, "row"])
                already = np.isin(rows, list(bad_rows))
            miss &= ~already
            if miss.any():
                idx = np.flatnonzero(miss)
                parts.append(pd.DataFrame({"row": rows[idx], "id": ids.iloc[idx].to_numpy(), "column": f.name,
                                           "value": None, "check": "required_missing",
                                           "problem": f"{f.display_label} is required; fill it in"}))
    if id_col != "row":
        idv = frame[id_col]
        empty = idv.isna().to_numpy()
        if empty.any():
            idx = np.flatnonzero(empty)
            parts.append(pd.DataFrame({"row": rows[idx], "id": None, "column": id_col, "value": None,
                                       "check": "id", "problem": "the company id is empty; give every row an id"}))
        lengths = idv.astype("str").str.len().fillna(0).to_numpy()
        long = lengths > MAX_ID_CHARS
        if long.any():
            idx = np.flatnonzero(long)
            parts.append(pd.DataFrame({"row": rows[idx], "id": None, "column": id_col,
                                       "value": [f"{str(v)[:30]}… ({int(lengths[i]):,} characters)"
                                                 for i, v in zip(idx, idv.iloc[idx])],
                                       "check": "id",
                                       "problem": f"the id is longer than {MAX_ID_CHARS} characters; "
                                                  "use the company's short identifier"}))
        keys = [c for c in spec.key_columns if c in frame]
        dup = frame.duplicated(subset=keys, keep="first").to_numpy() & ~empty
        if dup.any():
            idx = np.flatnonzero(dup)
            first = pd.Series(rows).groupby(frame.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()) \
                .transform("first").to_numpy()
            what = " and ".join(keys)
            parts.append(pd.DataFrame({"row": rows[idx], "id": ids.iloc[idx].to_numpy(), "column": id_col,
                                       "value": id_values.iloc[idx].to_numpy(), "check": "duplicate",
                                       "problem": [f"the same {what} as row {first[i]}; each company"
                                                   + (" and period" if len(keys) > 1 else "")
                                                   + " must appear once — remove or correct the copy"
                                                   for i in idx]}))
    reject_cells = _reject_frame(parts)
    unreadable = pd.DataFrame([{"row": p.row, "id": None, "column": None, "value": None, "problem": p.problem}
                               for p in prepared.unreadable], columns=REJECT_COLUMNS)
    rejects = _reject_frame([reject_cells, unreadable])
    bad = np.isin(rows, reject_cells["row"].to_numpy()) if len(reject_cells) else np.zeros(n, dtype=bool)
    good = ~bad

    # --- score the valid rows -----------------------------------------------
    valid = add_panel_features(frame.loc[good], spec)
    n_valid = len(valid)
    raw = np.empty(n_valid)
    p = np.empty(n_valid)
    for start in range(0, n_valid, _CHUNK):
        stop = min(start + _CHUNK, n_valid)
        chunk = valid.iloc[start:stop]
        raw[start:stop], p[start:stop] = bundle.predict_frame(chunk)
        progress(0.1 + 0.8 * stop / max(n_valid, 1), f"scoring rows {stop:,} of {n_valid:,}")
    features_present = [c for c in spec.feature_names if c in valid]
    n_missing = valid[features_present].isna().sum(axis=1).to_numpy() + len(optional_missing) \
        if features_present else np.full(n_valid, len(optional_missing))
    out = pd.DataFrame({id_col: valid[id_col].to_numpy()})
    if spec.time and spec.time in valid:
        out[spec.time] = valid[spec.time].to_numpy()
    out["p_default"] = p
    out["score_raw"] = raw
    out["decision"] = np.where(p >= bundle.threshold, "refer", "accept")
    out["grade"] = grade_of(p)
    out["risk_level"] = risk_level_of(p, risk_bands)
    if spec.exposure and spec.exposure in valid:
        ead = valid[spec.exposure].to_numpy(dtype=float)
        out["expected_loss"] = np.maximum(p, PD_FLOOR) * lgd * ead
    else:
        out["expected_loss"] = np.nan
    out["n_missing"] = n_missing.astype(int)
    flags = np.full(n_valid, "", dtype=object)
    if len(outliers):
        valid_rows = rows[good]
        pos = pd.Series(np.arange(n_valid), index=valid_rows)
        o = outliers[outliers["row"].isin(valid_rows)]
        for r, grp in o.groupby("row"):
            flags[pos[r]] = "unusual value: " + ", ".join(f"{c}={v:g}" for c, v in zip(grp["column"], grp["value"]))
    out["flags"] = flags
    out["model_version"] = bundle.version
    if explain:
        out["reasons"] = ""
        refer = np.flatnonzero(out["decision"].to_numpy() == "refer")
        if len(refer):
            from riskcore.explain import explain_frame, reason_codes

            sub = valid.iloc[refer].reset_index(drop=True)
            for start in range(0, len(sub), 20_000):
                part = sub.iloc[start:start + 20_000].reset_index(drop=True)
                ex = explain_frame(bundle, part)
                texts = ["; ".join(r.text for r in reason_codes(bundle, ex, part, i)) for i in range(len(part))]
                out.loc[refer[start:start + len(part)], "reasons"] = texts
                progress(0.9, f"explaining referred companies ({min(start + 20_000, len(sub)):,} of {len(sub):,})")
    input_cols = [c for c in (*spec.key_columns, *spec.feature_names, spec.exposure) if c and c in valid]
    inputs = valid[input_cols].reset_index(drop=True)
    if passthrough:
        extra = [c for c in frame.columns if c not in out.columns and c != "row"]
        if extra:
            orig = data.frame if isinstance(data, Table) else data.reset_index(drop=True)
            # pass the file's own text through (not our typed copy) so nothing changes on the way
            taken = {normalise_name(c) for c in out.columns}
            keep_orig = [c for c in orig.columns if normalise_name(str(c)) not in taken]
            out = pd.concat([out.reset_index(drop=True),
                             orig.loc[good, keep_orig].reset_index(drop=True)], axis=1)
    out.insert(0, "row", rows[good])
    progress(1.0, "done")
    return ScoreResult(scores=out, rejects=rejects, notes=notes, info=info, n_rows=n + len(prepared.unreadable),
                       model_version=bundle.version, id_column=id_col, inputs=inputs)


def score_file(bundle: Any, source: str | os.PathLike[str] | bytes | IO[bytes], **kwargs: Any) -> ScoreResult:
    """Read a CSV tolerantly and score it (see :func:`score_frame`)."""
    table = read_table(source, max_bytes=kwargs.pop("max_bytes", None))
    result = score_frame(bundle, table, **kwargs)
    if table.info.notes:
        result.notes = list(dict.fromkeys(result.notes + list(table.info.notes)))
    return result


def score_records(bundle: Any, records: list[dict[str, Any]], **kwargs: Any) -> ScoreResult:
    """Score a list of dicts (one per company), e.g. from the API."""
    return score_frame(bundle, pd.DataFrame.from_records(records), **kwargs)


def audit_records(bundle: Any, result: ScoreResult) -> list[Any]:
    """One :class:`riskcore.audit.AuditRecord` per scored row: id, inputs, PD, decision, grade, reasons."""
    from riskcore.audit import AuditRecord

    scores = result.scores
    ids = scores[result.id_column].astype(str).to_numpy()
    inputs = result.inputs.astype(object).where(result.inputs.notna(), None).to_dict(orient="records")
    reasons = scores["reasons"].to_numpy() if "reasons" in scores else None
    p, dec, grade = scores["p_default"].to_numpy(), scores["decision"].to_numpy(), scores["grade"].to_numpy()
    return [AuditRecord(company_id=ids[i], inputs=inputs[i], p_default=float(p[i]), decision=str(dec[i]),
                        grade=str(grade[i]),
                        reasons=tuple(str(reasons[i]).split("; ")) if reasons is not None and reasons[i] else ())
            for i in range(len(scores))]


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
        if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()):
            if f.required:
                problems.append(Problem(row, f.name, None, f"{f.display_label} is required; fill it in", rid))
            clean[f.name] = None
            continue
        if f.kind == "categorical":
            canon = {c.casefold(): c for c in f.categories}
            text = str(v).strip()
            if f.categories and text.casefold() not in canon:
                allowed = ", ".join(f.categories[:12])
                problems.append(Problem(row, f.name, v, f"{text!r} is not a known {f.display_label.lower()}; "
                                                        f"allowed: {allowed}", rid))
                continue
            clean[f.name] = canon.get(text.casefold(), text)
            continue
        try:
            x = float(v) if not isinstance(v, bool) else float(int(v))
        except (TypeError, ValueError):
            problems.append(Problem(row, f.name, v, f"{v!r} is not a number", rid))
            continue
        if not np.isfinite(x):
            problems.append(Problem(row, f.name, v, f"{v!r} is not a finite number", rid))
            continue
        if (f.min is not None and x < f.min) or (f.max is not None and x > f.max):
            lo = "-inf" if f.min is None else f"{f.min:g}"
            hi = "inf" if f.max is None else f"{f.max:g}"
            problems.append(Problem(row, f.name, x, f"{x:g} is outside the valid range {lo} to {hi}", rid))
            continue
        clean[f.name] = x
    for pf in spec.panel_features:
        v = by_key.get(normalise_name(pf.name))
        clean[pf.name] = float(v) if isinstance(v, (int, float)) and np.isfinite(v) else None
    if spec.exposure:
        v = by_key.get(normalise_name(spec.exposure))
        if v is not None:
            try:
                x = float(v)
            except (TypeError, ValueError):
                x = float("nan")
            if not np.isfinite(x) or x < 0:
                problems.append(Problem(row, spec.exposure, v, "exposure must be a finite amount, 0 or more", rid))
            else:
                clean[spec.exposure] = x
    return clean, problems


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
    clean, problems = validate_record(spec, record)
    if problems:
        raise SchemaError(problems)
    fb = bundle.features
    layout = fb.layout_
    numeric = np.array([[np.nan if clean.get(c) is None else clean[c] for c in layout.numeric]], dtype=float)
    cats = np.array([[fb.encode([clean.get(c)], c)[0] for c in layout.categorical]], dtype=float)
    raw, p = bundle.score_matrix(fb.transform_arrays(numeric, cats))
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
