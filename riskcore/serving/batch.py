"""Scoring a file of any size a chunk at a time, every score recorded in the audit trail.

A file is read, validated, scored, recorded and written ``chunk_rows`` rows at
a time, so memory does not grow with the file. A chunk never ends inside a run
of rows of one company (its panel features need the earlier rows): the rows of
the last company of a chunk wait for the next one. When the companies' rows are
scattered over the file, :func:`score_in_chunks` throws the partial work away
(audit request aborted, temporary output deleted) and reads the file twice,
gathering the histories first (:class:`riskcore.serving.history.FileHistory`).

Output never appears half-written: scores go to a temporary file next to the
target, which is renamed onto the final name only after the audit trail has
committed every score of the request.

A scored chunk is recorded in the audit trail and written on one background
thread while the next chunk is read and scored (:class:`_Pipe`): chunks are
recorded and written in file order, one at a time, and at most one chunk waits,
so memory grows by one chunk. Hashing, compressing, SQLite and the CSV writer
do their work outside the interpreter's lock, so on two cores that work mostly
overlaps the next chunk's.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import ReadInfo, Table, TableReader, match_columns, open_table, write_table
from riskcore.errors import Problem, SchemaError
from riskcore.progress import Progress, no_progress
from riskcore.serving.audit import Source
from riskcore.serving.history import ChunkHistory, FileHistory, ScatteredCompanies, company_ids, interleaved
from riskcore.serving.scoring import REJECT_COLUMNS, SCORE_COLUMNS, ScoreResult, ScoreTally, score_frame

if TYPE_CHECKING:
    from riskcore.data.tabular import TableWriter
    from riskcore.modelling.bundle import ModelBundle

__all__ = ["CHUNK_ROWS", "ChunkSink", "CompanyChunks", "FileRequest", "FileSource", "ScoreJob", "ScoreLog",
           "ScoreRecorder", "score_in_chunks"]

FileSource = str | os.PathLike[str] | bytes | IO[bytes]
CHUNK_ROWS = 50_000


class ChunkSink(Protocol):
    """Something that sees every scored chunk (monitoring counts its rows), and starts again on a second pass."""

    def add(self, result: ScoreResult) -> None:
        """Take the scored rows of one chunk."""

    def reset(self) -> None:
        """Forget what was added (the file is being read again)."""


class ScoreRecorder(Protocol):
    """Where one request's scores are recorded chunk by chunk: an :class:`~riskcore.serving.audit.AuditBatch`.

    A worker of a cluster records into a stand-in that hands the chunks to the
    client, which alone writes the audit trail (:mod:`riskcore.serving.distributed`).
    """

    def add(self, company_ids: Any, inputs: Any, p_default: Any, decision: Any, grade: Any,
            reasons: Any = None) -> None:
        """Record one chunk of scores."""

    def commit(self) -> str:
        """Make the request's scores visible at once; returns the request id."""

    def abort(self) -> None:
        """Forget the request's scores."""


class ScoreLog(Protocol):
    """What opens a :class:`ScoreRecorder` per request: the :class:`~riskcore.serving.audit.AuditLog`."""

    def batch(self, *, source: str, caller: str, model_version: str, bundle_hash: str,
              key: str = "company_id") -> ScoreRecorder:
        """Start recording one request; ``key`` names the column of its company ids (which may be redacted)."""


@dataclass(frozen=True)
class FileRequest:
    """What a caller asked of :func:`score_in_chunks` (see :func:`riskcore.workflows.score_and_record`)."""

    face: Source
    caller: str
    output: Path | None = None
    rejects_path: Path | None = None
    keep: bool = False
    sheet: str | None = None
    max_bytes: int | None = None
    chunk_rows: int = CHUNK_ROWS
    risk_bands: Literal["master", "fixed"] = "master"
    lgd: float | None = None
    explain: bool = False
    progress: Progress = no_progress
    sink: ChunkSink | None = None


@dataclass
class ScoreJob:
    """The outcome of :func:`score_in_chunks`.

    ``result`` holds every scored row when the caller asked to keep them
    (the dashboard shows them); a file scored to an output path keeps only the
    ``tally`` (counts, grades, expected loss), the rejects and the notes.
    ``timings`` has the seconds spent reading, scoring (validation included),
    recording in the audit trail and writing (``history``: the first pass, when
    there was one; ``total``: the wall time). Recording and writing run on a
    background thread while the next chunk is scored, so the stages can add up
    to more than ``total``.
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


def score_in_chunks(bundle: ModelBundle, source: FileSource | pd.DataFrame, request: FileRequest, *,
                    audit: ScoreLog) -> ScoreJob:
    """Read, validate, score, record and write a file a chunk at a time; gather histories when needed.

    Parameters
    ----------
    bundle : the model bundle to score with.
    source : a path, the file's bytes or a binary file object (CSV, Excel ``.xlsx`` or Parquet), or a frame.
    request : the caller's options.
    audit : the audit trail every score is recorded in (an :class:`~riskcore.serving.audit.AuditLog`).

    Returns
    -------
    ScoreJob
    """
    try:
        return _one_pass(bundle, source, request, audit=audit, gather=False)
    except ScatteredCompanies:
        request.progress(0.0, "the rows of some companies are spread over the file: gathering their histories first")
        job = _one_pass(bundle, source, request, audit=audit, gather=True)
        job.notes.append("the rows of some companies are not next to each other in the file, so their histories "
                         "were gathered in a first pass over the file; sorting it by company id saves that pass")
        return job


class _Pipe:
    """One background thread that runs tasks in the order given, at most one waiting behind the running one."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task`` after the previous one; raises the previous task's exception, if it failed."""
        self.wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="riskcore-record")
        self._pending = self._pool.submit(task)

    def wait(self) -> None:
        """Block until the task in flight is done; raise its exception, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the task in flight (ignoring its outcome: the caller is failing already) and stop the thread."""
        try:
            self.wait()
        except BaseException:  # noqa: BLE001, S110 - the first failure is the one raised to the caller
            pass
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


class _Pass:
    """One pass over a file: what was scored, rejected and noted so far, and where it goes."""

    def __init__(self, bundle: ModelBundle, request: FileRequest, audit: ScoreLog):
        self.bundle, self.request = bundle, request
        self.timings = {"read": 0.0, "score": 0.0, "audit": 0.0, "write": 0.0}
        self.tally = ScoreTally()
        self.rejects: list[pd.DataFrame] = []
        self.notes: dict[str, None] = {}
        self.kept: list[ScoreResult] = []
        out = request.output
        self.writer: TableWriter | None = write_table(out, format=_format_of(out)) if out is not None else None
        self.batch: ScoreRecorder = audit.batch(source=request.face, caller=request.caller,
                                             model_version=bundle.version, bundle_hash=bundle.manifest_hash,
                                             key=bundle.spec.id or "row")
        self.pipe = _Pipe()  # records and writes each scored chunk while the next one is scored

    def add(self, part: Table, history: FileHistory | None, expected: int) -> None:
        """Score one chunk, record its scores, write them and report progress."""
        r = self.request
        t0 = time.perf_counter()
        result = score_frame(self.bundle, part, risk_bands=r.risk_bands, lgd=r.lgd, explain=r.explain,
                             history=history)
        self.timings["score"] += time.perf_counter() - t0
        self.tally.add(result)
        if r.sink is not None:
            r.sink.add(result)
        self.notes.update(dict.fromkeys(result.notes))
        if len(result.rejects):
            self.rejects.append(result.rejects)
        if result.n_scored:
            self.pipe.submit(lambda: self._record(result))
        if r.keep:
            self.kept.append(result)
        r.progress(_fraction(expected, self.tally.n_rows),
                   f"scored {self.tally.n_scored:,} of {self.tally.n_rows:,} rows")

    def _record(self, result: ScoreResult) -> None:
        """Record one scored chunk in the audit trail, then write it (on the pipe's thread, in file order)."""
        t0 = time.perf_counter()
        scores = result.scores
        reasons = scores["reasons"].to_numpy(dtype=object) if "reasons" in scores else None
        self.batch.add(scores[result.id_column].astype(str).to_numpy(dtype=object), result.inputs,
                       scores["p_default"].to_numpy(dtype=float), scores["decision"].to_numpy(dtype=object),
                       scores["grade"].to_numpy(dtype=object), reasons)
        self.timings["audit"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        if self.writer is not None:
            self.writer.write(scores)
        self.timings["write"] += time.perf_counter() - t0

    def commit(self) -> str:
        """Commit the audit request once every row was read and recorded; a file without data rows is refused."""
        self.pipe.wait()
        self.pipe.close()
        if self.tally.n_rows == 0:
            raise SchemaError(Problem(None, None, None, "the file has no data rows; add rows below the header"))
        t0 = time.perf_counter()
        request_id = self.batch.commit()
        self.timings["audit"] += time.perf_counter() - t0
        return request_id

    def abort(self) -> None:
        """Forget the request's scores and the temporary output (once the chunk in flight is done)."""
        self.pipe.close()
        self.batch.abort()
        if self.writer is not None:
            self.writer.abort()

    def write(self, rejects: pd.DataFrame) -> Path | None:
        """Put the scores in place (only now that they are on record) and write the rejects next to them."""
        t0 = time.perf_counter()
        written = None
        out, writer = self.request.output, self.writer
        if out is not None and writer is not None:
            if not self.tally.n_scored:
                writer.write(_empty_scores(self.bundle.spec))
            writer.commit()
            if self.request.rejects_path is not None or len(rejects):
                written = self.request.rejects_path or out.with_name(out.stem + ".rejects.csv")
                with write_table(written, format=_format_of(written)) as w:
                    w.write(rejects)
        self.timings["write"] += time.perf_counter() - t0
        return written


class CompanyChunks:
    """A file (or a frame) read a chunk at a time, no chunk ending inside one company's run of rows.

    Iterate for the chunks (:class:`~riskcore.data.tabular.Table`, rows numbered as in the file). With
    ``gather`` a first pass collects every company's history (``history``, a
    :class:`~riskcore.serving.history.FileHistory`, to score each chunk with) and the chunks are then taken
    as they come; without it (``history`` None) the iteration raises :class:`ScatteredCompanies` as soon as a
    company's rows come back after another company's: read the file again with ``gather``. Use it as a
    context manager: it closes the file and removes the histories' scratch folder.
    """

    def __init__(self, bundle: ModelBundle, source: FileSource | pd.DataFrame, *, gather: bool,
                 chunk_rows: int = CHUNK_ROWS, sheet: str | None = None, max_bytes: int | None = None,
                 timings: dict[str, float] | None = None):
        self.timings = timings if timings is not None else {}
        self.timings.setdefault("read", 0.0)
        self._source = source
        self.reader: TableReader | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self.history: FileHistory | None = None
        try:
            if isinstance(source, pd.DataFrame):
                columns = list(source.columns)
            else:
                self.reader = open_table(source, sheet=sheet, max_bytes=max_bytes, chunk_rows=chunk_rows)
                columns = list(self.reader.columns)
            self.id_column = _id_column(bundle.spec, columns)
            if gather and self.reader is not None:
                t0 = time.perf_counter()
                self._scratch = tempfile.TemporaryDirectory(prefix="riskcore-history-")
                self.history = FileHistory(bundle, self.reader, Path(self._scratch.name),
                                           _expected_rows(source, self.reader, None))
                self.timings["history"] = time.perf_counter() - t0
            self.expected = _expected_rows(source, self.reader, self.history)
        except BaseException:
            self.close()
            raise
        self._seen = None if gather else ChunkHistory()

    @property
    def info(self) -> ReadInfo | None:
        """How the file was read (rows counted once it has been read through); None for a frame."""
        return None if self.reader is None else self.reader.info

    def __iter__(self) -> Iterator[Table]:
        seen, id_column = self._seen, self.id_column
        if isinstance(self._source, pd.DataFrame):  # one chunk: every company whole
            yield from _frame_chunks(self._source)
            return
        parts: Iterator[Table] = iter(())
        if self.reader is not None:
            parts = _checked_start(iter(self.reader), id_column, seen)
        for part in _company_chunks(parts, id_column if self.history is None else None, self.timings):
            if seen is not None and id_column is not None and id_column in part.frame:
                seen.add(company_ids(part.frame, id_column))
            yield part

    def close(self) -> None:
        """Close the file and remove the histories' scratch folder."""
        if self.reader is not None:
            self.reader.close()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self) -> CompanyChunks:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _one_pass(bundle: ModelBundle, source: FileSource | pd.DataFrame, request: FileRequest, *, audit: ScoreLog,
              gather: bool) -> ScoreJob:
    """One pass of :func:`score_in_chunks`; raises :class:`ScatteredCompanies` when chunks cannot be exact.

    With ``gather`` a first pass collects every company's history (:class:`FileHistory`) and the chunks
    are then taken as they come.
    """
    run = _Pass(bundle, request, audit)
    if request.sink is not None:
        request.sink.reset()
    started = time.perf_counter()
    try:
        with CompanyChunks(bundle, source, gather=gather, chunk_rows=request.chunk_rows, sheet=request.sheet,
                           max_bytes=request.max_bytes, timings=run.timings) as chunks:
            for part in chunks:
                run.add(part, chunks.history, chunks.expected)
            info = chunks.info  # rows counted now
        rejects = _concat_rejects(run.rejects)
        request_id = run.commit()
    except BaseException:
        run.abort()
        raise
    written_rejects = run.write(rejects)
    run.timings["total"] = time.perf_counter() - started
    notes = list(run.notes)
    result = _joined(run.kept, rejects, notes, info, bundle.version) if request.keep else None
    request.progress(1.0, "done")
    return ScoreJob(request_id=request_id, tally=run.tally, rejects=rejects, notes=notes,
                    model_version=bundle.version, info=info, result=result, output=request.output,
                    rejects_path=written_rejects, timings=run.timings)


def _checked_start(parts: Iterator[Table], id_column: str | None, seen: ChunkHistory | None) -> Iterator[Table]:
    """The chunks, after checking that the first one's companies do not come back after other companies' rows.

    Such a first chunk (a file sorted by year) says the file is not sorted by
    company: the histories are gathered before anything is scored.
    """
    if seen is None or id_column is None:
        return parts
    first = next(parts, None)
    if first is not None and id_column in first.frame and interleaved(company_ids(first.frame, id_column)):
        raise ScatteredCompanies
    return itertools.chain([first] if first is not None else [], parts)


def _format_of(path: Path | None) -> Literal["csv", "parquet"]:
    return "parquet" if path is not None and path.suffix.lower() in (".parquet", ".pq") else "csv"


def _expected_rows(source: FileSource | pd.DataFrame, reader: TableReader | None,
                   history: FileHistory | None) -> int:
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


def _id_column(spec: DatasetSpec, columns: list[str]) -> str | None:
    """The file's column that holds the company id, if any."""
    if not spec.id:
        return None
    aliases: dict[str, tuple[str, ...]] = {spec.id: ()}
    mapping, _ = match_columns(columns, [spec.id], aliases=aliases)
    return mapping.get(spec.id)


def _frame_chunks(frame: pd.DataFrame) -> Iterator[Table]:
    """A frame given directly (the API, a test) as one chunk."""
    frame = frame.reset_index(drop=True)
    info = ReadInfo(encoding="in memory", delimiter=",", decimal=".", n_rows=len(frame), n_columns=frame.shape[1])
    yield Table(frame=frame, rows=np.arange(1, len(frame) + 1, dtype=np.int64), info=info)


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
        ids = company_ids(table.frame, id_column)
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


def _concat_rejects(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    return pd.concat(parts, ignore_index=True).sort_values(["row", "column"], na_position="first", kind="stable") \
        .reset_index(drop=True)


def _empty_scores(spec: DatasetSpec) -> pd.DataFrame:
    """The output's columns without rows, for a file none of whose rows could be scored."""
    cols = [spec.id or "row", *SCORE_COLUMNS]
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("p_default", "score_raw", "expected_loss") else object)
                         for c in cols})


def _joined(kept: list[ScoreResult], rejects: pd.DataFrame, notes: list[str], info: ReadInfo | None,
            model_version: str) -> ScoreResult:
    """The chunks' results as one :class:`ScoreResult` (for a view that shows every row)."""
    if len(kept) == 1:
        one = kept[0]
        one.rejects, one.notes, one.info = rejects, notes, info
        return one
    scored = [r for r in kept if r.n_scored] or kept[:1]
    scores = pd.concat([r.scores for r in scored], ignore_index=True) if scored else pd.DataFrame()
    inputs = pd.concat([r.inputs for r in scored], ignore_index=True) if scored else pd.DataFrame()
    return ScoreResult(scores=scores, rejects=rejects, notes=notes, info=info,
                       n_rows=sum(r.n_rows for r in kept), model_version=model_version,
                       id_column=kept[0].id_column if kept else "row", _inputs=inputs)
