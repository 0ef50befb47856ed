"""What a user does, one function each: the façade the CLI, the dashboard and the API call.

"Score then record" exists here once. :func:`score_and_record` is the audited
scoring service for a file (CLI, dashboard upload, any size) and
:func:`score_companies` for companies sent one by one or in a small batch (the
API): both validate, score, write every score to the audit trail in one request,
and only then hand the scores over — no audit row, no score.

Large files stream: they are read, validated, scored, recorded and written a
chunk at a time (``chunk_rows``), so memory does not grow with the file. A
company's panel features (year-on-year changes, volatilities) need its earlier
rows, so a chunk never ends inside a run of rows of one company: the rows of the
last company of a chunk wait for the next one. When a company's rows are
scattered over the file (sorted by year, say), that is detected, the partial work
is thrown away (audit request aborted, temporary output deleted) and the file is
read twice: a first pass gathers every company's history and repeated keys
(:class:`FileHistory`, a few numbers per row, the panel features in a temporary
file), the second scores the chunks as they come. Both ways give the scores of
the whole file read at once (a test holds them equal).

Output never appears half-written: scores go to a temporary file next to the
target, which is renamed onto the final name only after the audit trail has
committed every score of the request.
"""

from __future__ import annotations

import getpass
import itertools
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskcore.data.tabular import ReadInfo, Table, match_columns, open_table, write_table
from riskcore.errors import Problem, SchemaError
from riskcore.progress import Progress, no_progress
from riskcore.serving.scoring import REJECT_COLUMNS, ScoreResult, ScoreTally, score_frame, score_one

__all__ = ["CompanyScores", "ScoreJob", "default_caller", "score_and_record", "score_companies"]

Face = Literal["cli", "dashboard", "api"]
Source = str | os.PathLike[str] | bytes | IO[bytes]
CHUNK_ROWS = 50_000


def default_caller(face: Face) -> str:
    """``cli:<login>`` for the command line; the face's name otherwise."""
    if face == "cli":
        try:
            return f"cli:{getpass.getuser()}"
        except (KeyError, OSError):  # no login name in a container
            return "cli:unknown"
    return face


@dataclass
class ScoreJob:
    """The outcome of :func:`score_and_record`.

    ``result`` holds every scored row when the caller asked to keep them
    (the dashboard shows them); a file scored to an output path keeps only the
    ``tally`` (counts, grades, expected loss), the rejects and the notes.
    ``timings`` has the seconds spent reading, scoring (validation included),
    recording in the audit trail and writing.
    """

    request_id: str
    tally: ScoreTally
    rejects: pd.DataFrame
    notes: list[str]
    model_version: str
    info: ReadInfo | None = None
    result: ScoreResult | None = None
    output: Path | None = None
    rejects_path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Rows in the file (unreadable ones included)."""
        return self.tally.n_rows

    @property
    def n_scored(self) -> int:
        """Rows scored and recorded."""
        return self.tally.n_scored

    @property
    def n_rejected(self) -> int:
        """Distinct rows rejected."""
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0

    def summary(self) -> str:
        """Plain-text summary, as :meth:`riskcore.serving.scoring.ScoreResult.summary`."""
        return self.tally.summary(self.rejects, self.notes, self.model_version)


class _Scattered(Exception):
    """A company's rows are not next to each other across chunks: gather the histories in a first pass."""


def score_and_record(
    bundle: Any,
    source: Source | pd.DataFrame,
    *,
    audit: Any,
    face: Face,
    caller: str | None = None,
    output: str | os.PathLike[str] | None = None,
    rejects_path: str | os.PathLike[str] | None = None,
    keep: bool = False,
    sheet: str | None = None,
    max_bytes: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    risk_bands: Literal["master", "fixed"] = "master",
    lgd: float | None = None,
    explain: bool = False,
    progress: Progress = no_progress,
) -> ScoreJob:
    """Read, validate, score, record and write a portfolio file, a chunk at a time.

    Parameters
    ----------
    bundle : the :class:`riskcore.modelling.bundle.ModelBundle` to score with.
    source : a path, the file's bytes or a binary file object (CSV, Excel ``.xlsx`` or Parquet), or a frame.
    audit : the :class:`riskcore.serving.audit.AuditLog` every score is recorded in.
    face : ``"cli"``, ``"dashboard"`` or ``"api"`` (the audit trail's source).
    caller : who asked; default :func:`default_caller`.
    output : file for the scored rows: ``.parquet`` writes Parquet, anything else CSV. ``None``: no file.
    rejects_path : file for the reject report (default: next to ``output`` as ``<stem>.rejects.csv``
        when some rows were rejected).
    keep : keep every scored row in ``ScoreJob.result`` (for a view that shows them).
    sheet : the Excel sheet to read (default the first).
    max_bytes : refuse larger files.
    chunk_rows : rows read, scored and recorded at a time.
    risk_bands, lgd, explain : as :func:`riskcore.serving.scoring.score_frame`.
    progress : ``progress(fraction, message)``.

    Returns
    -------
    ScoreJob

    Raises
    ------
    riskcore.errors.AuditError
        When the audit trail cannot be written: nothing is written, no score is returned.
    riskcore.errors.DataFileError
        When the file cannot be read at all.
    riskcore.errors.SchemaError
        When a required column is missing, so no row can be scored.
    """
    caller = caller or default_caller(face)
    audit.check_writable()  # before any work: no audit, no scores
    progress(0.0, "reading and validating")
    try:
        return _score_and_record(bundle, source, audit=audit, face=face, caller=caller, output=output,
                                 rejects_path=rejects_path, keep=keep, sheet=sheet, max_bytes=max_bytes,
                                 chunk_rows=chunk_rows, risk_bands=risk_bands, lgd=lgd, explain=explain,
                                 progress=progress, gather=False)
    except _Scattered:
        progress(0.0, "the rows of some companies are spread over the file: gathering their histories first")
        job = _score_and_record(bundle, source, audit=audit, face=face, caller=caller, output=output,
                                rejects_path=rejects_path, keep=keep, sheet=sheet, max_bytes=max_bytes,
                                chunk_rows=chunk_rows, risk_bands=risk_bands, lgd=lgd, explain=explain,
                                progress=progress, gather=True)
        job.notes.append("the rows of some companies are not next to each other in the file, so their histories "
                         "were gathered in a first pass over the file; sorting it by company id saves that pass")
        return job


def _score_and_record(bundle: Any, source: Any, *, audit: Any, face: Face, caller: str, output: Any,
                      rejects_path: Any, keep: bool, sheet: str | None, max_bytes: int | None, chunk_rows: int,
                      risk_bands: Literal["master", "fixed"], lgd: float | None, explain: bool, progress: Progress,
                      gather: bool) -> ScoreJob:
    """One run of :func:`score_and_record`; raises ``_Scattered`` when chunks of companies cannot be exact.

    With ``gather`` a first pass collects every company's history (:class:`FileHistory`) and the chunks
    are then taken as they come.
    """
    timings = {"read": 0.0, "score": 0.0, "audit": 0.0, "write": 0.0}
    tally = ScoreTally()
    rejects: list[pd.DataFrame] = []
    notes: dict[str, None] = {}
    kept: list[ScoreResult] = []
    out_path = Path(output) if output is not None else None
    writer = write_table(out_path, format=_format_of(out_path)) if out_path is not None else None
    batch = audit.batch(source=face, caller=caller, model_version=bundle.version, bundle_hash=bundle.manifest_hash)
    started = time.perf_counter()
    reader = None
    scratch = None
    try:
        chunks = _frame_chunks(source) if isinstance(source, pd.DataFrame) else None
        reader = None if chunks is not None else open_table(source, sheet=sheet, max_bytes=max_bytes,
                                                            chunk_rows=chunk_rows)
        info = None if reader is None else reader.info
        columns = list(source.columns) if reader is None else list(reader.columns)
        id_column = _id_column(bundle.spec, columns)
        history = None
        if gather and reader is not None:
            t0 = time.perf_counter()
            scratch = tempfile.TemporaryDirectory(prefix="riskcore-history-")
            history = FileHistory(bundle, reader, Path(scratch.name), _expected_rows(source, reader, None))
            timings["history"] = time.perf_counter() - t0
        seen = _History() if not gather else None
        expected = _expected_rows(source, reader, history)
        parts = chunks if reader is None else iter(reader)
        if seen is not None and reader is not None and id_column is not None:
            # a first chunk whose companies come back after other companies' rows (a file sorted by year)
            # says the file is not sorted by company: gather the histories before scoring anything
            first = next(parts, None)
            if first is not None and id_column in first.frame and _interleaved(_ids(first.frame, id_column)):
                raise _Scattered
            parts = itertools.chain([first] if first is not None else [], parts)
        for part in _company_chunks(parts, id_column if history is None else None, timings):
            if seen is not None and id_column is not None and id_column in part.frame:
                seen.add(_ids(part.frame, id_column))
            t0 = time.perf_counter()
            result = score_frame(bundle, part, risk_bands=risk_bands, lgd=lgd, explain=explain, history=history)
            timings["score"] += time.perf_counter() - t0
            tally.add(result)
            notes.update(dict.fromkeys(result.notes))
            if len(result.rejects):
                rejects.append(result.rejects)
            t0 = time.perf_counter()
            if result.n_scored:
                scores = result.scores
                reasons = scores["reasons"].to_numpy(dtype=object) if "reasons" in scores else None
                batch.add(scores[result.id_column].astype(str).to_numpy(dtype=object), result.inputs,
                          scores["p_default"].to_numpy(dtype=float), scores["decision"].to_numpy(dtype=object),
                          scores["grade"].to_numpy(dtype=object), reasons)
            timings["audit"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            if writer is not None and result.n_scored:
                writer.write(result.scores)
            timings["write"] += time.perf_counter() - t0
            if keep:
                kept.append(result)
            progress(_fraction(expected, tally.n_rows), f"scored {tally.n_scored:,} of {tally.n_rows:,} rows")
        if seen is not None and seen.scattered():
            raise _Scattered
        if reader is not None and info is not None:
            info = reader.info  # rows counted now
        rejects_frame = _concat_rejects(rejects)
        if tally.n_rows == 0:
            raise SchemaError(Problem(None, None, None, "the file has no data rows; add rows below the header"))
        t0 = time.perf_counter()
        request_id = batch.commit()
        timings["audit"] += time.perf_counter() - t0
    except BaseException:
        batch.abort()
        if writer is not None:
            writer.abort()
        raise
    finally:
        if reader is not None:
            reader.close()
        if scratch is not None:
            scratch.cleanup()
    t0 = time.perf_counter()
    written_rejects = None
    if writer is not None:
        if not tally.n_scored:
            writer.write(_empty_scores(bundle))
        writer.commit()
        if rejects_path is not None or len(rejects_frame):
            written_rejects = Path(rejects_path) if rejects_path is not None else \
                out_path.with_name(out_path.stem + ".rejects.csv")  # type: ignore[union-attr]
            with write_table(written_rejects, format=_format_of(written_rejects)) as w:
                w.write(rejects_frame)
    timings["write"] += time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    all_notes = list(notes)
    result = _joined(kept, rejects_frame, all_notes, info, bundle) if keep else None
    progress(1.0, "done")
    return ScoreJob(request_id=request_id, tally=tally, rejects=rejects_frame, notes=all_notes,
                    model_version=bundle.version, info=info, result=result, output=out_path,
                    rejects_path=written_rejects, timings=timings)


def _format_of(path: Path | None) -> Literal["csv", "parquet"]:
    return "parquet" if path is not None and path.suffix.lower() in (".parquet", ".pq") else "csv"


def _expected_rows(source: Any, reader: Any, history: FileHistory | None) -> int:
    """How many rows the file has, or about how many (for the progress bar).

    Known for Parquet and Excel and after a first pass; for a CSV path, its size over
    the length of its first lines.
    """
    if history is not None:
        return history.n
    if reader is None:
        return len(source) if isinstance(source, pd.DataFrame) else 0
    if reader.info.n_rows:
        return int(reader.info.n_rows)
    if isinstance(source, (bytes, bytearray, memoryview)):
        head, size = bytes(source[: 1 << 20]), len(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as fh:
                head = fh.read(1 << 20)
            size = os.path.getsize(source)
        except OSError:
            return 0
    else:
        return 0
    lines = head.count(b"\n")
    return max(int(size / (len(head) / lines)) - 1, 1) if lines > 1 else 0


def _fraction(expected: int, n_rows: int) -> float:
    return min(0.95, 0.02 + 0.93 * n_rows / expected) if expected else 0.5


def _id_column(spec: Any, columns: list[str]) -> str | None:
    """The file's column that holds the company id, if any."""
    if not spec.id:
        return None
    aliases = {spec.id: ()}
    mapping, _ = match_columns(columns, [spec.id], aliases=aliases)
    return mapping.get(spec.id)


def _frame_chunks(frame: pd.DataFrame) -> Iterator[Table]:
    """A frame given directly (the API, a test) as one chunk."""
    frame = frame.reset_index(drop=True)
    info = ReadInfo(encoding="in memory", delimiter=",", decimal=".", n_rows=len(frame), n_columns=frame.shape[1])
    yield Table(frame=frame, rows=np.arange(1, len(frame) + 1, dtype=np.int64), info=info)


def _ids(frame: pd.DataFrame, id_column: str) -> pa.ChunkedArray:
    """A chunk's company ids as trimmed Arrow text (no Python object per cell when they are Arrow already)."""
    values = frame[id_column]
    if isinstance(values.array, pd.arrays.ArrowStringArray):
        arr = pa.chunked_array(pa.array(values.array))
    elif values.dtype == object:
        arr = pa.chunked_array([pa.array(values.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)])
    else:  # numbers read from a typed file
        arr = pa.chunked_array([pa.array(values.astype(str).to_numpy(dtype=object), type=pa.large_string())])
    return pc.utf8_trim_whitespace(arr.cast(pa.large_string()))


def _interleaved(ids: pa.ChunkedArray) -> bool:
    """True when some company's rows are not next to each other."""
    ids = ids.drop_null()
    if len(ids) < 2:
        return False
    arr = ids.combine_chunks()
    runs = 1 + int(pc.sum(pc.not_equal(arr.slice(1), arr.slice(0, len(arr) - 1))).as_py() or 0)
    return runs > len(pc.unique(arr))


def _company_chunks(parts: Iterator[Table], id_column: str | None, timings: dict[str, float]) -> Iterator[Table]:
    """Chunks that never split the trailing run of one company's rows (it waits for the next chunk)."""
    pending: Table | None = None
    it = iter(parts)
    while True:
        t0 = time.perf_counter()
        chunk = next(it, None)
        timings["read"] += time.perf_counter() - t0
        if chunk is None:
            break
        table = chunk if pending is None else _concat(pending, chunk)
        pending = None
        if id_column is None or id_column not in table.frame or not len(table.frame):
            yield table
            continue
        ids = _ids(table.frame, id_column)
        last = ids[-1]
        if not last.is_valid:
            yield table
            continue
        differs = pc.fill_null(pc.not_equal(ids, last), True).to_numpy(zero_copy_only=False)
        before = np.flatnonzero(differs)
        cut = int(before[-1]) + 1 if len(before) else 0
        if cut == 0:
            pending = table  # one company so far: wait for the rest of its rows
            continue
        ready, pending = _slice(table, 0, cut, with_problems=True), _slice(table, cut, len(table.frame))
        yield ready
    if pending is not None:
        yield pending


def _slice(table: Table, start: int, stop: int, *, with_problems: bool = False) -> Table:
    return Table(frame=table.frame.iloc[start:stop].reset_index(drop=True), rows=table.rows[start:stop],
                 info=table.info, problems=list(table.problems) if with_problems else [])


def _concat(a: Table, b: Table) -> Table:
    frame = pd.concat([a.frame, b.frame], ignore_index=True)
    return Table(frame=frame, rows=np.concatenate([a.rows, b.rows]), info=b.info,
                 problems=list(a.problems) + list(b.problems))


class _History:
    """Which companies each chunk held, to tell whether a company's rows were split between chunks.

    Ids are kept as 64-bit hashes (8 bytes per company). The previous chunk is
    checked at once, so a file sorted by year is caught on its second chunk; the
    rest at the end.
    """

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.seen_twice = False

    def add(self, ids: pa.ChunkedArray) -> None:
        ids = ids.drop_null()
        if not len(ids):
            return
        hashed = np.unique(pd.util.hash_array(ids.to_numpy(zero_copy_only=False).astype(object)))
        if self.parts and np.isin(hashed, self.parts[-1], assume_unique=True).any():
            raise _Scattered
        self.parts.append(hashed)

    def scattered(self) -> bool:
        if len(self.parts) < 2:
            return False
        every = np.concatenate(self.parts)
        return bool(len(np.unique(every)) < len(every))


class FileHistory:
    """The whole file's company histories and repeated keys, for a file scored a chunk at a time.

    Built in one pass that reads only what a history needs (ids, periods and the
    panel recipes' inputs, typed as scoring types them). Rows go to temporary files
    by a hash of their company id, so each part holds whole companies and about a
    million rows; each part's panel features and repeated keys are then computed as
    :func:`riskcore.serving.scoring.score_frame` computes them for a whole file, and written
    back to disk. A chunk reads its own slice of every part. What stays in memory is
    one position per row (8 bytes) and the repeated keys, so memory stays flat
    whatever the file's size.
    """

    _PART_ROWS = 1_000_000

    def __init__(self, bundle: Any, reader: Any, folder: Path, expected_rows: int = 0):
        from riskcore.data.quality import match_spec_columns, prepare_frame
        from riskcore.serving.scoring import MAX_ID_CHARS, history_inputs, period_numbers

        spec = bundle.spec
        self.spec = spec
        self.names = [pf.name for pf in spec.panel_features]
        self.folder = folder
        self.inputs = list(dict.fromkeys(pf.recipe.inputs[0] for pf in spec.panel_features if pf.recipe))
        wanted = [c for c in (spec.id, spec.time, *self.inputs) if c]
        mapping, _ = match_spec_columns(list(reader.columns), wanted, spec)
        raw = list(dict.fromkeys(mapping.values()))
        self.n_parts = max(1, -(-expected_rows // self._PART_ROWS))  # parts of about _PART_ROWS rows
        self.dtype = np.dtype([("h1", "<u8"), ("h2", "<u8"), ("period", "<f8"), ("row", "<i8"), ("pos", "<i8"),
                               ("flags", "u1")] + [(f"x{j}", "<f8") for j in range(len(self.inputs))])
        files = [open(self._records(p), "wb") for p in range(self.n_parts)]  # noqa: SIM115 - closed below
        chunk_first: list[int] = []
        chunk_len: list[int] = []
        n = 0
        try:
            for chunk in reader:
                typed = prepare_frame(Table(frame=chunk.frame[raw], rows=chunk.rows, info=chunk.info), spec).frame
                m = len(typed)
                rec = np.zeros(m, dtype=self.dtype)
                ids = typed[spec.id] if spec.id in typed else pd.Series([None] * m, dtype=object)
                text = ids.to_numpy(dtype=object)
                present = pd.notna(ids).to_numpy()
                filled = np.where(present, text, "").astype(object)
                rec["h1"] = pd.util.hash_array(filled, hash_key="riskcore-hist-01")
                rec["h2"] = pd.util.hash_array(filled, hash_key="riskcore-hist-02")
                lengths = pc.fill_null(pc.utf8_length(pa.array(filled, type=pa.large_string())), 0) \
                    .to_numpy(zero_copy_only=False)
                rec["flags"] = np.where(present, 0, 1) | np.where(lengths > MAX_ID_CHARS, 2, 0)
                rec["period"] = period_numbers(typed[spec.time]) if spec.time in typed else np.nan
                got = history_inputs(typed, spec)
                for j, c in enumerate(self.inputs):
                    rec[f"x{j}"] = got[c] if c in got else np.nan
                rec["row"] = np.asarray(chunk.rows, dtype=np.int64)
                rec["pos"] = np.arange(n, n + m, dtype=np.int64)
                if m:
                    chunk_first.append(int(rec["row"][0]))
                    chunk_len.append(m)
                part = (rec["h1"] % np.uint64(self.n_parts)).astype(np.int64)
                for p in range(self.n_parts):
                    rec[part == p].tofile(files[p])
                n += m
        finally:
            for fh in files:
                fh.close()
        self.n = n
        self.chunk_first = np.asarray(chunk_first, dtype=np.int64)
        self.chunk_start = np.concatenate([[0], np.cumsum(chunk_len)])[:-1].astype(np.int64) if chunk_len \
            else np.zeros(0, dtype=np.int64)
        self.chunk_len = np.asarray(chunk_len, dtype=np.int64)
        self.part_pos: list[np.ndarray] = []
        dup_rows, dup_first = [], []
        for p in range(self.n_parts):
            pos, rows, first = self._solve(p)
            self.part_pos.append(pos)
            dup_rows.append(rows)
            dup_first.append(first)
        rows_all = np.concatenate(dup_rows)
        order = np.argsort(rows_all, kind="stable")
        self.dup_rows = rows_all[order]
        self.dup_first = np.concatenate(dup_first)[order]

    def _records(self, p: int) -> Path:
        return self.folder / f"rows{p}.bin"

    def _values(self, p: int) -> Path:
        return self.folder / f"panel{p}.f64"

    def _solve(self, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One part: its panel features (to disk, in position order) and its repeated keys."""
        from riskcore.modelling.features import iter_panel_arrays

        rec = np.fromfile(self._records(p), dtype=self.dtype)
        self._records(p).unlink()
        rec = rec[np.argsort(rec["pos"], kind="stable")]
        m = len(rec)
        empty = (rec["flags"] & 1).astype(bool)
        too_long = (rec["flags"] & 2).astype(bool)
        # a dense company number within the part (the same id text gives the same pair of hashes)
        by_company = np.lexsort((rec["h2"], rec["h1"]))
        h1, h2 = rec["h1"][by_company], rec["h2"][by_company]
        new = np.r_[True, (h1[1:] != h1[:-1]) | (h2[1:] != h2[:-1])] if m else np.zeros(0, dtype=bool)
        company = np.empty(m, dtype=np.int64)
        company[by_company] = np.cumsum(new) - 1
        del h1, h2, by_company, new
        # repeated company and period: every row after the first, in file order (a missing period is one period)
        period = rec["period"]
        period_key = np.where(np.isnan(period), -np.inf, period)
        by_key = np.lexsort((rec["pos"], period_key, company))
        ck, pk = company[by_key], period_key[by_key]
        same = np.r_[False, (ck[1:] == ck[:-1]) & (pk[1:] == pk[:-1])] if m else np.zeros(0, dtype=bool)
        group_start = np.maximum.accumulate(np.where(~same, np.arange(m), 0)) if m else np.zeros(0, dtype=np.int64)
        dup = np.zeros(m, dtype=bool)
        dup[by_key] = same
        first = np.empty(m, dtype=np.int64)
        first[by_key] = rec["row"][by_key][group_start]
        dup &= ~empty
        del ck, pk, same, group_start, by_key
        codes = np.where(empty | too_long | dup, -1, company)
        inputs = {c: rec[f"x{j}"] for j, c in enumerate(self.inputs)}
        with open(self._values(p), "wb") as fh:
            for _, values in iter_panel_arrays(codes, period, inputs, self.spec):
                np.ascontiguousarray(values, dtype=np.float64).tofile(fh)
        return rec["pos"].copy(), rec["row"][dup].copy(), first[dup].copy()

    def _positions(self, rows: np.ndarray) -> tuple[int, int]:
        """The positions of one chunk's rows (a chunk of the same reading, as the first pass saw it)."""
        k = int(np.searchsorted(self.chunk_first, rows[0]))
        if k >= len(self.chunk_first) or self.chunk_first[k] != rows[0] or self.chunk_len[k] != len(rows):
            raise RuntimeError("the file changed between the two passes over it; score it again")
        lo = int(self.chunk_start[k])
        return lo, lo + len(rows)

    def panel(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The panel features of the rows numbered ``rows`` (one chunk, in file order)."""
        out = {name: np.full(len(rows), np.nan) for name in self.names}
        if not len(rows):
            return out
        lo, hi = self._positions(rows)
        for p, pos in enumerate(self.part_pos):
            i0, i1 = np.searchsorted(pos, [lo, hi])
            if i1 <= i0:
                continue
            with open(self._values(p), "rb") as fh:
                for j, name in enumerate(self.names):
                    fh.seek((j * len(pos) + int(i0)) * 8)
                    out[name][pos[i0:i1] - lo] = np.fromfile(fh, dtype=np.float64, count=int(i1 - i0))
        return out

    def duplicates(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which of ``rows`` repeat an earlier row's company and period, and that earlier row's number."""
        dup = np.isin(rows, self.dup_rows)
        first = np.zeros(len(rows), dtype=np.int64)
        if dup.any():
            first[dup] = self.dup_first[np.searchsorted(self.dup_rows, rows[dup])]
        return dup, first


def _concat_rejects(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    return pd.concat(parts, ignore_index=True).sort_values(["row", "column"], na_position="first", kind="stable") \
        .reset_index(drop=True)


def _empty_scores(bundle: Any) -> pd.DataFrame:
    """The output's columns without rows, for a file none of whose rows could be scored."""
    from riskcore.serving.scoring import SCORE_COLUMNS

    cols = [bundle.spec.id or "row", *SCORE_COLUMNS]
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("p_default", "score_raw", "expected_loss") else object)
                         for c in cols})


def _joined(kept: list[ScoreResult], rejects: pd.DataFrame, notes: list[str], info: ReadInfo | None,
            bundle: Any) -> ScoreResult:
    """The chunks' results as one :class:`ScoreResult` (for a view that shows every row)."""
    if len(kept) == 1:
        one = kept[0]
        one.rejects, one.notes, one.info = rejects, notes, info
        return one
    scored = [r for r in kept if r.n_scored] or kept[:1]
    scores = pd.concat([r.scores for r in scored], ignore_index=True) if scored else pd.DataFrame()
    inputs = pd.concat([r.inputs for r in scored], ignore_index=True) if scored else pd.DataFrame()
    return ScoreResult(scores=scores, rejects=rejects, notes=notes, info=info,
                       n_rows=sum(r.n_rows for r in kept), model_version=bundle.version,
                       id_column=kept[0].id_column if kept else "row", _inputs=inputs)


# ---------------------------------------------------------------------------
# companies one by one (the API)
# ---------------------------------------------------------------------------

@dataclass
class CompanyScores:
    """The outcome of :func:`score_companies`: one result per valid company, problems per invalid one.

    ``results`` holds ``(index, score_one's dict)`` in request order; ``problems`` holds
    ``(index, SchemaError)`` for every company that could not be scored; ``request_id`` names the
    audit request that holds every score.
    """

    request_id: str
    results: list[tuple[int, dict[str, Any]]]
    problems: list[tuple[int, SchemaError]]


def score_companies(
    bundle: Any,
    records: Sequence[Mapping[str, Any]],
    *,
    audit: Any,
    face: Face,
    caller: str,
    request_id: str | None = None,
    risk_bands: Literal["master", "fixed"] = "master",
    explain: bool = False,
    audit_inputs: Any = None,
) -> CompanyScores:
    """Score companies given as dicts and record every score in one audit request before returning.

    Parameters
    ----------
    bundle : the model bundle.
    records : one dict per company, as :func:`riskcore.serving.scoring.score_one` takes.
    audit : the :class:`riskcore.serving.audit.AuditLog`.
    face, caller, request_id : the audit request's source, caller and id.
    risk_bands : as :func:`riskcore.serving.scoring.score_one`.
    explain : also explain each company (:func:`riskcore.serving.explain.explain_one`); its result dict then has an
        ``explanation`` and its reason codes are recorded.
    audit_inputs : ``audit_inputs(index, result) -> dict`` of the inputs to record (default the validated
        inputs ``result["inputs"]``).

    Returns
    -------
    CompanyScores

    Raises
    ------
    riskcore.errors.AuditError
        When the scores cannot be recorded: none may be returned.
    """
    from riskcore.serving.audit import AuditRecord

    results: list[tuple[int, dict[str, Any]]] = []
    problems: list[tuple[int, SchemaError]] = []
    for i, record in enumerate(records):
        try:
            result = score_one(bundle, dict(record), risk_bands=risk_bands)
            if explain:
                from riskcore.serving.explain import explain_one

                result["explanation"] = explain_one(bundle, dict(record))
        except SchemaError as err:
            problems.append((i, err))
            continue
        results.append((i, result))
    spec = bundle.spec
    audit_rows = [AuditRecord(_company_id(spec, records[i], i),
                              audit_inputs(i, r) if audit_inputs is not None else r["inputs"],
                              r["p_default"], r["decision"], r["grade"],
                              tuple(x.text for x in r["explanation"].reasons) if "explanation" in r else ())
                  for i, r in results]
    rid = audit.record(audit_rows, source=face, caller=caller, model_version=bundle.version,
                       bundle_hash=bundle.manifest_hash, request_id=request_id)
    return CompanyScores(request_id=rid, results=results, problems=problems)


def _company_id(spec: Any, record: Any, index: int) -> str:
    from riskcore.data.tabular import normalise_name

    if spec.id:
        key = normalise_name(spec.id)
        for k, v in record.items():
            if normalise_name(k) == key and v is not None:
                return str(v)
    return f"row {index + 1}"
