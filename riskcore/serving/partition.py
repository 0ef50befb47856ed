"""One partition of a distributed job, as a worker scores it (see :mod:`riskcore.serving.distributed`).

:func:`score_partition` is the task a cluster runs per partition file. It calls the
same :func:`~riskcore.serving.batch.score_in_chunks` as local scoring, with two
stand-ins: the audit trail is a spill file (:class:`_Spill`; the client records its
chunks, so one process writes the trail) and the chunk sink counts the partition's
companies and, for monitoring, its statistics (:class:`_PartitionSink`).
"""

from __future__ import annotations

import pickle
import resource
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from riskcore.data.tabular import ReadInfo
from riskcore.serving.audit import Source
from riskcore.serving.batch import FileRequest, score_in_chunks
from riskcore.serving.monitor import MonitorSink
from riskcore.serving.results import ScoreResult, ScoreTally

if TYPE_CHECKING:
    from riskcore.modelling.bundle import ModelBundle

__all__ = ["Scored", "TaskOptions", "recorded_chunks", "score_partition"]


@dataclass(frozen=True)
class TaskOptions:
    """What every partition's task needs besides the bundle and its file (small: it travels with each task)."""

    face: Source
    caller: str
    staging: str
    write: bool
    risk_bands: Literal["master", "fixed"]
    lgd: float | None
    explain: bool
    chunk_rows: int
    monitor: bool
    period: str | None


@dataclass
class Scored:
    """A task's result: the partition's counts, rejects and notes, and the spill file of its audit chunks.

    ``company_keys`` are the sorted 64-bit hashes of its scored companies' ids (empty when the model has no
    panel features: then a company may span partitions).
    """

    index: int
    output: str | None
    spill: str
    tally: ScoreTally
    rejects: pd.DataFrame
    notes: list[str]
    info: ReadInfo | None
    company_keys: np.ndarray
    monitor: MonitorSink | None
    worker: str
    seconds: float
    peak_rss_bytes: int


def score_partition(bundle: ModelBundle, path: str, index: int, options: TaskOptions) -> Scored:
    """Validate, score and grade one partition file on a worker, a chunk at a time, as local scoring does.

    Parameters
    ----------
    bundle : the verified bundle (the cluster hands every task the copy sent to its worker once).
    path : the partition file (CSV or Parquet), readable on the worker.
    index : the partition's position in the job's input order (names its output ``part-NNNNN.parquet``).
    options : the job's options.

    Returns
    -------
    Scored
    """
    started = time.perf_counter()
    staging = Path(options.staging)
    spill = _Spill(staging / "_audit" / f"part-{index:05d}-{uuid.uuid4().hex[:8]}.pkl")
    output = staging / f"part-{index:05d}.parquet" if options.write else None
    sink = _PartitionSink(bundle, options)
    request = FileRequest(face=options.face, caller=options.caller, output=output,
                          rejects_path=spill.path.with_suffix(".rejects.csv"), chunk_rows=options.chunk_rows,
                          risk_bands=options.risk_bands, lgd=options.lgd, explain=options.explain, sink=sink)
    job = score_in_chunks(bundle, path, request, audit=spill)
    if job.rejects_path is not None:
        job.rejects_path.unlink(missing_ok=True)  # the client writes one report for the whole job
    return Scored(index=index, output=str(output) if output is not None else None, spill=str(spill.path),
                  tally=job.tally, rejects=job.rejects, notes=job.notes, info=job.info,
                  company_keys=sink.company_keys(), monitor=sink.monitor, worker=_worker_name(),
                  seconds=time.perf_counter() - started,
                  peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def recorded_chunks(path: Path) -> Iterator[tuple[Any, ...]]:
    """The chunks a worker recorded in a spill file, as the arguments of ``AuditBatch.add``, in order.

    The file is the job's own, written by its worker into the job's private staging folder.
    """
    with open(path, "rb") as fh:
        while True:
            try:
                yield pickle.load(fh)
            except EOFError:
                return


class _Spill:
    """The audit trail as a worker sees it: each chunk of scores goes to a file, for the client to record.

    Opening a batch starts the file again (a second pass over a file whose companies are scattered
    aborts the first); ``commit`` only closes it: the client commits the job's one request.
    """

    def __init__(self, path: Path):
        self.path = path
        self._file: IO[bytes] | None = None

    def batch(self, *, source: str, caller: str, model_version: str, bundle_hash: str,
              key: str = "company_id") -> _Spill:
        """Start the spill file again (the arguments are the client's, who records the request)."""
        self.abort()
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by commit or abort
        return self

    def add(self, company_ids: Any, inputs: Any, p_default: Any, decision: Any, grade: Any,
            reasons: Any = None) -> None:
        """Append one chunk, exactly as it would have gone to the audit trail."""
        if self._file is None:
            raise RuntimeError("a spill file takes chunks only between batch() and commit()")
        pickle.dump((company_ids, inputs, p_default, decision, grade, reasons), self._file,
                    protocol=pickle.HIGHEST_PROTOCOL)

    def commit(self) -> str:
        """Close the file; the request id is the client's."""
        if self._file is not None:
            self._file.close()
            self._file = None
        return ""

    def abort(self) -> None:
        """Close and remove the file."""
        self.commit()
        self.path.unlink(missing_ok=True)


class _PartitionSink:
    """Sees every scored chunk of a partition: gathers its companies' id hashes, and its monitoring counts."""

    def __init__(self, bundle: ModelBundle, options: TaskOptions):
        spec = bundle.spec
        self.id_column = spec.id if spec.id and spec.panel_features else None
        self.monitor = MonitorSink(bundle.reference, spec, options.period) if options.monitor else None
        self._keys: list[np.ndarray] = []

    def reset(self) -> None:
        """Start again (the partition is being read a second time)."""
        self._keys = []
        if self.monitor is not None:
            self.monitor.reset()

    def add(self, result: ScoreResult) -> None:
        """Count one scored chunk."""
        if self.monitor is not None:
            self.monitor.add(result)
        if self.id_column is not None and result.id_column == self.id_column and result.n_scored:
            ids = result.scores[self.id_column].astype(str).to_numpy(dtype=object)
            self._keys.append(np.unique(pd.util.hash_array(ids)))

    def company_keys(self) -> np.ndarray:
        """Sorted distinct hashes of the partition's company ids."""
        return np.unique(np.concatenate(self._keys)) if self._keys else np.zeros(0, dtype=np.uint64)


def _worker_name() -> str:
    """The address of the worker running the task (empty outside a cluster)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except ValueError:
        return ""
