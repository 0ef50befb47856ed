"""Scoring and monitoring a partitioned portfolio on a Dask cluster, with the results of one process.

One task per partition file (CSV or Parquet; see :func:`riskcore.serving.cluster.partition_files`).
A partition is never split: it is read, validated, scored and graded on a worker by the same
:func:`~riskcore.serving.batch.score_in_chunks` as local scoring, a chunk at a time, so the scores are
those of local scoring bit for bit, and the worker's memory is bounded by the chunk, not the partition.

- **The bundle** is verified once, on the client, where it was loaded; the verified object is sent to
  every worker once (``client.scatter(..., broadcast=True)``), keyed by its manifest hash, and each task
  refers to it by that key: no worker reads the bundle's files.
- **The audit trail** is written by the client alone, as ONE request for the whole job: a worker records
  each scored chunk into a spill file in the job's staging folder, and the client adds those chunks to
  its :class:`~riskcore.serving.audit.AuditBatch` as each partition finishes (in the order they finish),
  then commits. Every chunk of every partition is hashed into the request's digest, so
  ``python -m riskcore audit verify`` checks the job like any other request; the job's
  ``_manifest.json`` says which rows of the request each partition's scores are.
- **No partial output**: workers write ``part-NNNNN.parquet`` into a staging folder next to the output
  folder; the reject report (``_rejects.csv``) and the manifest go there too, and the folder is renamed
  onto the output name only after the audit request committed. A failure anywhere (a worker lost, a
  partition unusable, the audit trail unavailable) aborts the request and removes the staging folder.
  Names starting with ``_`` are skipped by Parquet readers, so ``pandas.read_parquet(output)`` reads the
  scores alone.
- **Companies**: a partition is scored on its own, so when the model uses panel features (a company's
  earlier years) every company's rows must be in one partition. The job checks it (64-bit hashes of the
  ids, 8 bytes per company) and refuses, before anything is recorded, when a company spans partitions.
- **Bit for bit**: a tree model's score of a row depends on that row alone, so the partitions' scores
  equal those of the whole file scored in one process exactly. A logistic model's raw score is a BLAS
  matrix-vector product whose last bit depends on how many rows are multiplied together (OpenBLAS
  handles the tail rows with another kernel): its scores equal local scoring of the same chunks, and
  differ from another chunking by at most an ulp in a few rows of a thousand, as two local runs with
  different ``chunk_rows`` already do.
- **Monitoring** (:func:`monitor_partitions`): each task counts its partition into
  :class:`~riskcore.evaluation.monitoring.MonitorCounts`; the client merges them in partition order, so
  the report equals ``monitor`` on the concatenated partitions in one process.

The staging folder and the partitions must be readable and writable at the same path by the client and
every worker (a local disk for a ``LocalCluster``; a shared file system for a remote cluster).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskcore.data.tabular import ReadInfo, write_csv
from riskcore.errors import DataFileError, Problem, RiskcoreError, SchemaError
from riskcore.serving.batch import FileRequest, ScoreJob
from riskcore.serving.cluster import cluster_failures, n_workers, partition_files
from riskcore.serving.monitor import MonitorSink
from riskcore.serving.partition import Scored, TaskOptions, recorded_chunks, score_partition
from riskcore.serving.results import ScoreTally
from riskcore.serving.scoring import REJECT_COLUMNS

if TYPE_CHECKING:
    from distributed import Client, Future

    from riskcore.modelling.bundle import ModelBundle
    from riskcore.serving.audit import AuditBatch, AuditLog

__all__ = ["PartitionSummary", "PartitionedJob", "monitor_partitions", "score_partitions"]

MANIFEST = "_manifest.json"
REJECTS = "_rejects.csv"
STOP_SECONDS = 30.0
"""How long a failed job waits for its partitions in progress to end before it removes its staging folder."""


@dataclass(frozen=True)
class PartitionSummary:
    """One partition of a job: its file, its output, its rows and where they are in the audit request."""

    input: str
    output: str | None
    n_rows: int
    n_scored: int
    n_rejected: int
    first_audit_row: int
    worker: str
    seconds: float
    peak_rss_bytes: int


@dataclass
class PartitionedJob(ScoreJob):
    """The outcome of :func:`score_partitions` (a :class:`~riskcore.serving.batch.ScoreJob` of many files).

    ``rejects`` has the columns of a reject report with ``partition`` (the input file) first; ``row`` is
    the row number within that file. ``partitions`` lists each partition in input order.
    """

    partitions: list[PartitionSummary] = field(default_factory=list)

    @property
    def n_rejected(self) -> int:
        """Distinct rows rejected, over every partition."""
        return int(self.rejects[["partition", "row"]].drop_duplicates().shape[0]) if len(self.rejects) else 0

    def summary(self) -> str:
        """Plain-text summary of the whole job (rows named by partition and row number)."""
        keyed = self.rejects.assign(row=self.rejects["partition"].astype(str) + ":"
                                    + self.rejects["row"].astype(str)) if len(self.rejects) else self.rejects
        head = f"{len(self.partitions):,} partition(s); "
        return head + self.tally.summary(keyed, self.notes, self.model_version)


def score_partitions(bundle: ModelBundle, inputs: str | os.PathLike[str], output_dir: str | os.PathLike[str], *,
                     client: Client, audit: AuditLog, request: FileRequest,
                     in_flight: int | None = None) -> PartitionedJob:
    """Score a partitioned portfolio on a cluster: Parquet partitions and a reject report in ``output_dir``.

    Parameters
    ----------
    bundle : the verified model bundle (sent to every worker once).
    inputs : a CSV or Parquet file, a folder of them, or a glob (one task per file).
    output_dir : the folder to write: ``part-NNNNN.parquet`` per input partition (input order), ``_rejects.csv``
        when rows were rejected, ``_manifest.json``. An existing folder of that name is replaced, only once
        the job succeeded.
    client : a client of the cluster (:func:`riskcore.serving.cluster.open_cluster`).
    audit : the audit trail the job is recorded in, as one request.
    request : the caller's options (``face``, ``caller``, ``chunk_rows``, ``risk_bands``, ``lgd``, ``explain``,
        ``progress``); its ``output``, ``keep`` and ``sink`` are not used.
    in_flight : partitions handed to the cluster at a time (default twice the workers); results wait on
        the workers only that long, so their memory stays flat however many partitions there are.

    Returns
    -------
    PartitionedJob

    Raises
    ------
    riskcore.errors.ClusterError
        When the cluster is lost or a worker dies mid-job: nothing is recorded or written.
    riskcore.errors.DataFileError
        When no partition is found, a partition cannot be read, or a company's rows span partitions.
    riskcore.errors.SchemaError
        When a required column is missing or no partition has a data row.
    riskcore.errors.AuditError
        When the audit trail cannot be written: nothing is written.
    """
    final = Path(output_dir)
    if final.exists() and not final.is_dir():
        raise DataFileError(f"{str(final)!r} is a file; the scores of a partitioned portfolio are a folder: "
                            "give a folder name for --output")
    parts = partition_files(inputs)
    staging = final.parent / f".{final.name}.partial-{uuid.uuid4().hex[:12]}"
    staging.mkdir(parents=True)
    try:
        job, _ = _run(bundle, parts, client=client, audit=audit, request=request, staging=staging,
                      in_flight=in_flight, monitor=False, period=None)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _replace(staging, final)
    job.output = final
    job.rejects_path = final / REJECTS if job.rejects_path is not None else None
    return job


def monitor_partitions(bundle: ModelBundle, inputs: str | os.PathLike[str], *, client: Client, audit: AuditLog,
                       request: FileRequest, period: str | None = None,
                       in_flight: int | None = None) -> tuple[PartitionedJob, MonitorSink]:
    """Score and record a partitioned portfolio on a cluster, and count its monitoring statistics there.

    Each worker counts its partitions (:class:`~riskcore.evaluation.monitoring.MonitorCounts`: bins per
    period and segment, KS grid cells, score and grade bins, each row's id, period and PD); the client merges
    the counts in partition order. The returned sink is what :func:`riskcore.lifecycle.monitor_file` hands
    to :func:`riskcore.evaluation.monitoring.monitor`, so the report equals one process's on the same rows.
    No scores are written (as ``monitor``); the reject report is ``job.rejects``.

    Parameters
    ----------
    bundle, inputs, client, audit, request, in_flight : as :func:`score_partitions`.
    period : the column naming each row's period (default the model's time column).

    Returns
    -------
    (PartitionedJob, MonitorSink)
        The job (recorded as one audit request) and the merged counts.

    Raises
    ------
    riskcore.errors.BundleError
        When the model has no reference profile.
    riskcore.errors.ClusterError, riskcore.errors.DataFileError, riskcore.errors.SchemaError, riskcore.errors.AuditError
        As :func:`score_partitions`.
    """
    sink = MonitorSink(bundle.reference, bundle.spec, period)  # refuses a bundle without a profile before any work
    files = partition_files(inputs)
    staging = files[0].resolve().parent / f".riskcore-monitor-{uuid.uuid4().hex[:12]}"  # where the workers read
    staging.mkdir(parents=True)
    try:
        job, parts = _run(bundle, files, client=client, audit=audit, request=request, staging=staging,
                          in_flight=in_flight, monitor=True, period=period)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for part in parts:
        if part.monitor is not None:
            sink.counts.merge(part.monitor.counts)
            sink.period_found = sink.period_found or part.monitor.period_found
            sink.seconds += part.monitor.seconds
    return job, sink


class _Gathered:
    """What the client keeps of the finished partitions: their tallies, rejects, notes and company keys."""

    def __init__(self, parts: list[Path], batch: AuditBatch):
        self.parts, self.batch = parts, batch
        self.tally = ScoreTally()
        self.done: dict[int, Scored] = {}
        self.summaries: dict[int, PartitionSummary] = {}
        self.notes: dict[str, None] = {}

    def add(self, scored: Scored) -> None:
        """Record the partition's scored chunks in the job's audit request and keep its counts."""
        first = self.batch.n_rows + 1
        if not Path(scored.spill).is_file():
            raise DataFileError(f"the file {scored.spill!r} a worker wrote cannot be seen here: the output folder "
                                "(and the partitions) must be on storage that this machine and every worker "
                                "reach at the same path, such as a shared file system")
        for chunk in recorded_chunks(Path(scored.spill)):
            self.batch.add(*chunk)
        Path(scored.spill).unlink(missing_ok=True)
        _add_tally(self.tally, scored.tally)
        self.notes.update(dict.fromkeys(scored.notes))
        n_rejected = int(scored.rejects["row"].nunique()) if len(scored.rejects) else 0
        self.summaries[scored.index] = PartitionSummary(
            input=str(self.parts[scored.index]), output=scored.output, n_rows=scored.tally.n_rows,
            n_scored=scored.tally.n_scored, n_rejected=n_rejected, first_audit_row=first, worker=scored.worker,
            seconds=scored.seconds, peak_rss_bytes=scored.peak_rss_bytes)
        self.done[scored.index] = scored

    def ordered(self) -> list[Scored]:
        """The partitions' results in input order."""
        return [self.done[i] for i in sorted(self.done)]

    def rejects(self) -> pd.DataFrame:
        """Every partition's rejects, in input order, with the partition's file first."""
        frames = [s.rejects.assign(partition=str(self.parts[s.index])) for s in self.ordered() if len(s.rejects)]
        columns = ["partition", *REJECT_COLUMNS]
        if not frames:
            return pd.DataFrame(columns=columns)
        return pd.concat(frames, ignore_index=True)[columns]

    def check_companies(self, id_column: str | None) -> None:
        """Refuse a job whose companies span partitions when the model reads a company's earlier rows."""
        if id_column is None:
            return
        done = self.ordered()
        keys = [s.company_keys for s in done]
        if not keys:
            return
        owner = np.repeat(np.arange(len(keys)), [len(k) for k in keys])
        flat = np.concatenate(keys)
        order = np.argsort(flat, kind="stable")
        same = np.flatnonzero(flat[order][1:] == flat[order][:-1])
        if not len(same):
            return
        a, b = owner[order][same[0]], owner[order][same[0] + 1]
        raise DataFileError(
            f"{len(np.unique(flat[order][same])):,} companies have rows in more than one partition (for one, "
            f"{self.parts[done[a].index]} and {self.parts[done[b].index]}); the model computes features from a "
            f"company's earlier rows, so all rows of a company must be in one partition: partition the "
            f"portfolio by {id_column!r} (for example by a hash of it), not by period, or score it in one "
            "process")


def _run(bundle: ModelBundle, parts: list[Path], *, client: Client, audit: AuditLog,
         request: FileRequest, staging: Path, in_flight: int | None, monitor: bool,
         period: str | None) -> tuple[PartitionedJob, list[Scored]]:
    """Score every partition on the cluster, record the job as one audit request, and commit it."""
    import time

    started = time.perf_counter()
    audit.check_writable()
    (staging / "_audit").mkdir()
    options = TaskOptions(face=request.face, caller=request.caller, staging=str(staging), write=not monitor,
                          risk_bands=request.risk_bands, lgd=request.lgd, explain=request.explain,
                          chunk_rows=request.chunk_rows, monitor=monitor, period=period)
    batch = audit.batch(source=request.face, caller=request.caller, model_version=bundle.version,
                        bundle_hash=bundle.manifest_hash, key=bundle.spec.id or "row")
    gathered = _Gathered(parts, batch)
    timings = {"audit": 0.0}
    try:
        with cluster_failures(f"scoring {len(parts):,} partition(s) on the cluster"):
            for scored in _completed(bundle, parts, options, client=client, in_flight=in_flight):
                t0 = time.perf_counter()
                gathered.add(scored)
                timings["audit"] += time.perf_counter() - t0
                request.progress(min(0.95, 0.02 + 0.93 * len(gathered.done) / len(parts)),
                                 f"{len(gathered.done):,} of {len(parts):,} partitions scored "
                                 f"({gathered.tally.n_scored:,} rows)")
        gathered.check_companies(bundle.spec.id if bundle.spec.panel_features else None)
        if gathered.tally.n_rows == 0:
            raise SchemaError(Problem(None, None, None, "no partition has data rows; add rows below the header"))
        rejects = gathered.rejects()
        summaries = [gathered.summaries[i] for i in sorted(gathered.summaries)]
        rejects_path = staging / REJECTS if len(rejects) else None
        if not monitor:
            _write_job_files(staging, batch.request_id, bundle.version, summaries, rejects, rejects_path)
        t0 = time.perf_counter()
        request_id = batch.commit()
        timings["audit"] += time.perf_counter() - t0
    except BaseException:
        batch.abort()
        raise
    request.progress(1.0, "done")
    job = PartitionedJob(request_id=request_id, tally=gathered.tally, rejects=rejects, notes=list(gathered.notes),
                         model_version=bundle.version, info=_info(gathered), rejects_path=rejects_path,
                         timings={**timings, "workers": sum(s.seconds for s in summaries),
                                  "total": time.perf_counter() - started}, partitions=summaries)
    return job, gathered.ordered()


def _completed(bundle: ModelBundle, parts: list[Path], options: TaskOptions, *, client: Client,
               in_flight: int | None) -> Iterator[Scored]:
    """Each partition's result as it finishes; at most ``in_flight`` partitions are handed out at a time.

    The bundle goes to every worker once, under a key made of its manifest hash; a task names it by that key.
    Whatever is still running when the caller stops (an error) is cancelled.
    """
    from distributed import as_completed

    key = f"riskcore-bundle-{bundle.manifest_hash}"
    shared = client.scatter({key: bundle}, broadcast=True)[key]
    limit = in_flight or max(2, 2 * n_workers(client))
    job = uuid.uuid4().hex[:8]
    todo = iter(enumerate(parts))
    live: dict[Any, Future] = {}

    def submit(index: int, path: Path) -> Future:
        future = client.submit(score_partition, shared, str(path), index, options, key=f"riskcore-score-{job}-"
                               f"{index:05d}", pure=False)
        live[future.key] = future
        return future

    running = as_completed([submit(i, p) for i, p in (next(todo) for _ in range(min(limit, len(parts))))],
                           loop=client.loop)
    try:
        for future in running:
            try:
                scored = future.result()
            except RiskcoreError as err:
                err.args = (f"partition {parts[int(str(future.key).rsplit('-', 1)[1])]}: {err}", *err.args[1:])
                raise
            live.pop(future.key, None)
            future.release()
            following = next(todo, None)
            if following is not None:
                running.add(submit(*following))
            yield scored
    finally:
        if live:
            _stop(client, list(live.values()))


def _stop(client: Client, futures: list[Future]) -> None:
    """Let the partitions in progress end (at most :data:`STOP_SECONDS`), then cancel what is left.

    A task already running on a worker cannot be stopped: cancelling only drops its result, and it would go
    on writing its part into the staging folder the caller removes next, creating the folder again. The tasks
    handed out are at most the job's ``in_flight``, each one partition.
    """
    from distributed import wait

    with contextlib.suppress(Exception):  # a timeout, or a future that failed: either way, it is cancelled next
        wait(futures, timeout=STOP_SECONDS)
    client.cancel(futures)


def _add_tally(total: ScoreTally, part: ScoreTally) -> None:
    """Add a partition's tally to the job's (every field is a sum)."""
    total.n_rows += part.n_rows
    total.n_scored += part.n_scored
    total.n_refer += part.n_refer
    total.sum_pd += part.sum_pd
    total.grade_counts += part.grade_counts
    total.grade_pd += part.grade_pd
    total.expected_loss += part.expected_loss
    total.has_expected_loss = total.has_expected_loss or part.has_expected_loss


def _info(gathered: _Gathered) -> ReadInfo | None:
    """How the first partition was read, with the rows of every partition."""
    infos = [s.info for s in gathered.ordered() if s.info is not None]
    if not infos:
        return None
    first = infos[0]
    return ReadInfo(encoding=first.encoding, delimiter=first.delimiter, decimal=first.decimal,
                    n_rows=sum(i.n_rows for i in infos), n_columns=first.n_columns)


def _write_job_files(staging: Path, request_id: str, model_version: str, summaries: list[PartitionSummary],
                     rejects: pd.DataFrame, rejects_path: Path | None) -> None:
    """The reject report and the manifest, in the staging folder (renamed with it once the request committed)."""
    if rejects_path is not None:
        write_csv(rejects, rejects_path)
    manifest: dict[str, Any] = {"audit_request": request_id, "model_version": model_version,
                                "partitions": [s.__dict__ | {"output": s.output and Path(s.output).name}
                                               for s in summaries]}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    shutil.rmtree(staging / "_audit", ignore_errors=True)


def _replace(staging: Path, final: Path) -> None:
    """Put the staging folder under the final name; an existing folder there is removed only after the swap."""
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:12]}"
        final.rename(old)
    staging.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
