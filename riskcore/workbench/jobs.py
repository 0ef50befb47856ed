"""Scoring a portfolio as a durable job: the stored upload, the run a worker makes of it, its files and their end.

A scoring job's input is a file in its own folder under the state folder's ``jobs/`` (an upload the API or
the dashboard stored, named ``input.csv``, ``input.xlsx`` or ``input.parquet`` after its bytes), or a file
on the server that a role allowed to name one gave by path. A worker runs it with the same
:func:`~riskcore.workflows.score_and_record` as ``python -m riskcore score``: validated, scored, every score
recorded in the audit trail in one request committed at the end, then the scored rows (CSV or Parquet,
injection-safe as every download) and the reject report appear in the job's folder. While it runs, a
:class:`Heartbeat` renews the job's lease on its own thread and records the progress (rows read, scored,
rejected); when the heartbeat finds the job cancelled (or taken by another worker after a lost lease), the
next chunk stops the run with :class:`JobStopped`, which aborts it: no output and no audit request.

Finished jobs keep their files for ``[jobs] keep_hours``; :func:`expire_files` then deletes them and records
it in the audit trail's chain (a :class:`~riskcore.serving.audit.JobEvent`), so a download that is gone says
when and why.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from riskcore.config import Settings
from riskcore.data.sources import format_of, open_source
from riskcore.errors import AuditError, ConfigError, DataFileError
from riskcore.modelling.bundle import ModelBundle
from riskcore.progress import Progress
from riskcore.serving.audit import AuditLog, Job, JobEvent, JobQueue, Source
from riskcore.serving.batch import ScoreJob
from riskcore.serving.scoring import ScoreResult
from riskcore.workflows import score_and_record

__all__ = ["JOB_KINDS", "RESULT_FORMATS", "RETRAIN", "SCORE", "Heartbeat", "JobFiles", "JobStopped", "ResultFormat",
           "ScoreCounter", "expire_files", "run_score_job", "score_params"]

SCORE: Final = "score"
RETRAIN: Final = "retrain"
JOB_KINDS: Final[tuple[str, ...]] = (SCORE, RETRAIN)
ResultFormat = Literal["csv", "parquet"]
RESULT_FORMATS: Final[tuple[str, ...]] = ("csv", "parquet")
_SUFFIX: Final = {"csv": ".csv", "excel": ".xlsx", "parquet": ".parquet"}


class JobStopped(Exception):
    """The job was cancelled, or is no longer this worker's: the run stops and records nothing."""


@dataclass(frozen=True)
class JobFiles:
    """The jobs' folder (``Settings.jobs_dir``): one folder per job, named by its id."""

    root: Path

    def folder(self, job_id: str) -> Path:
        """The folder of one job (its id is 32 hexadecimal characters; anything else is refused)."""
        if len(job_id) != 32 or any(c not in "0123456789abcdef" for c in job_id):
            raise DataFileError(f"{job_id!r} is not a job id (32 hexadecimal characters)")
        return self.root / job_id

    def new_id(self) -> str:
        """A fresh job id, whose folder the caller may fill before submitting the job."""
        return uuid.uuid4().hex

    def receive(self, job_id: str) -> Path:
        """The file an upload is streamed into before its format is known (the folder is made)."""
        folder = self.folder(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / "upload.part"

    def settle(self, job_id: str, received: Path, name: str = "") -> Path:
        """Name a received upload after its bytes (``input.csv``, ``.xlsx``, ``.parquet``); refuse any other file.

        Raises
        ------
        riskcore.errors.DataFileError
            When the file is empty or not a CSV, Excel or Parquet file (the folder is removed).
        """
        try:
            fmt = format_of(open_source(received, None))
        except (OSError, DataFileError) as err:
            self.discard(job_id)
            raise DataFileError(f"{name or 'the upload'} cannot be scored: {err}") from None
        target = received.with_name("input" + _SUFFIX[fmt])
        os.replace(received, target)
        return target

    def discard(self, job_id: str) -> None:
        """Remove a job's folder and everything in it (nothing when it is not there)."""
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def size(self, job_id: str) -> int:
        """Bytes held in a job's folder."""
        folder = self.folder(job_id)
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def score_params(*, input: str | os.PathLike[str], stored: bool, face: Source, name: str = "",
                 result_format: str = "csv", model: str = "champion", sheet: str | None = None,
                 explain: bool = False, lgd: float | None = None) -> dict[str, Any]:
    """The parameters of a scoring job, checked: what a worker needs to run it.

    ``stored``: the input is the job's own upload (deleted with its files); otherwise a server-side file.

    Raises
    ------
    riskcore.errors.ConfigError
        When an option is out of range (the message names it).
    """
    if result_format not in RESULT_FORMATS:
        raise ConfigError(f"format={result_format!r} must be csv or parquet")
    if lgd is not None and not 0 <= lgd <= 1:
        raise ConfigError(f"lgd={lgd!r} must be a share between 0 and 1, e.g. 0.45")
    return {"input": str(input), "stored": bool(stored), "face": face, "name": name or Path(input).name,
            "format": result_format, "model": model or "champion", "sheet": sheet, "explain": bool(explain),
            "lgd": lgd}


@dataclass
class ScoreCounter:
    """Rows read, scored and rejected so far: a sink of the scoring run, read by the heartbeat."""

    rows: int = 0
    scored: int = 0
    rejected: int = 0

    def add(self, result: ScoreResult) -> None:
        """Count one scored chunk."""
        self.rows += result.n_rows
        self.scored += len(result.scores)
        if len(result.rejects):
            self.rejected += int(result.rejects["row"].nunique())

    def reset(self) -> None:
        """Start again (the file is read a second time)."""
        self.rows = self.scored = self.rejected = 0


@dataclass
class Heartbeat:
    """Renew a running job's lease on a thread and record its progress; notice when it is cancelled.

    Use as a context manager around the run; :meth:`progress` is the run's progress callback, which raises
    :class:`JobStopped` once a heartbeat was refused.
    """

    queue: JobQueue
    job: Job
    every_s: float
    counter: ScoreCounter | None = None
    fraction: float = 0.0
    message: str = "starting"
    stopped: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.job.id[:8]}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def snapshot(self) -> dict[str, Any]:
        """The progress as stored: the fraction, the message and the counts."""
        found: dict[str, Any] = {"fraction": round(self.fraction, 4), "message": self.message}
        if self.counter is not None:
            found |= {"rows_read": self.counter.rows, "rows_scored": self.counter.scored,
                      "rows_rejected": self.counter.rejected}
        return found

    def beat(self) -> bool:
        """Renew the lease now with the progress so far; False (and :attr:`stopped` set) when refused."""
        try:
            alive = self.queue.heartbeat(self.job, self.snapshot())
        except AuditError:  # a store that cannot be written now is tried again at the next beat
            return True
        if not alive:
            self.stopped.set()
        return alive

    def _run(self) -> None:
        while not self._done.wait(self.every_s):
            if not self.beat():
                return

    def progress(self, fraction: float, message: str) -> None:
        """The run's progress callback: remember where it is; stop it when the job was cancelled.

        The last step (``fraction`` 1) is never stopped: the run is through, its scores committed to the audit
        trail (or its ledger entry written), so stopping it then would only call a finished run cancelled, or
        give it back to the queue to be recorded a second time.
        """
        self.fraction, self.message = min(max(float(fraction), 0.0), 1.0), message
        if self.stopped.is_set() and self.fraction < 1.0:
            raise JobStopped(f"job {self.job.id} was cancelled or taken over")


def run_score_job(job: Job, *, settings: Settings, audit: AuditLog, files: JobFiles,
                  open_model: Callable[[str], ModelBundle], progress: Progress,
                  counter: ScoreCounter | None = None) -> dict[str, Any]:
    """Run one scoring job (see the module docstring); returns its result as stored on the job.

    ``progress`` is the heartbeat's callback (:meth:`Heartbeat.progress`), which stops the run when the job is
    cancelled. Raises what scoring raises (:class:`~riskcore.errors.RiskcoreError` for what a user can fix);
    nothing is recorded or written then.
    """
    p = job.params
    fmt = str(p.get("format", "csv"))
    folder = files.folder(job.id)
    folder.mkdir(parents=True, exist_ok=True)
    output, rejects = folder / f"scored.{fmt}", folder / "rejects.csv"
    for stale in (output, rejects):  # a run retried after its worker died starts from nothing
        stale.unlink(missing_ok=True)
    source = Path(str(p["input"]))
    if not source.is_file():
        raise DataFileError(f"the job's input {p.get('name') or source.name!r} is no longer there; submit it again")
    bundle = open_model(str(p.get("model") or "champion"))
    counter = counter or ScoreCounter()
    started = time.perf_counter()
    scored: ScoreJob = score_and_record(
        bundle, source, audit=audit, face=p.get("face", "api"), caller=job.caller, output=output,
        rejects_path=rejects, sheet=p.get("sheet"), explain=bool(p.get("explain")), lgd=p.get("lgd"),
        max_bytes=settings.job_upload_max_bytes if p.get("stored") else None, risk_bands=settings.risk_bands,
        progress=progress, sink=counter)
    if not scored.n_rejected:  # the reject report of a file without a rejected row is only its header
        rejects.unlink(missing_ok=True)
    kept = {"result": output.name if output.exists() else None,
            "rejects": rejects.name if rejects.exists() else None}
    return {"request_id": scored.request_id, "model_version": scored.model_version, "rows": scored.n_rows,
            "scored": scored.n_scored, "rejected": scored.n_rejected, "refer": scored.tally.n_refer,
            "files": kept, "format": fmt, "notes": list(scored.notes)[:20], "summary": scored.summary(),
            "seconds": round(time.perf_counter() - started, 3),
            "timings": {k: round(v, 3) for k, v in scored.timings.items()}}


def expire_files(queue: JobQueue, files: JobFiles, audit: AuditLog, *, keep_hours: float, actor: str,
                 now: float | None = None) -> list[str]:
    """Delete the files of scoring jobs finished more than ``keep_hours`` ago, each deletion on record; their ids.

    A job's row stays (its state, counts and audit request); its result notes when and why the files went.
    Folders of uploads that never became a job (a client that stopped half-way) go after the same time.
    """
    now = time.time() if now is None else now
    before = now - keep_hours * 3600
    deleted = []
    # only scoring jobs have files here (a retraining run's report stays with the reports); the rest next call
    for job in queue.list(kind=SCORE, finished_before=before, with_files=True, limit=500):
        if job.result.get("files_deleted"):
            continue
        folder = files.folder(job.id)
        names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        size = files.size(job.id)
        stored_input = job.params.get("stored") and Path(str(job.params.get("input", ""))).is_relative_to(folder)
        audit.record_event(JobEvent(event="results_deleted", job_id=job.id, actor=actor, detail=json.dumps(
            {"files": names, "bytes": size, "kept_hours": keep_hours, "finished": job.finished,
             "input_deleted": bool(stored_input)}, sort_keys=True)))
        files.discard(job.id)
        queue.annotate(job.id, files_deleted=now, files_deleted_reason=f"kept {keep_hours:g} h after the job ended")
        deleted.append(job.id)
    if files.root.is_dir():
        for folder in files.root.iterdir():
            if folder.is_dir() and folder.stat().st_mtime < before and len(folder.name) == 32 \
                    and queue.get(folder.name) is None:
                shutil.rmtree(folder, ignore_errors=True)
    return deleted
