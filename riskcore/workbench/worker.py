"""The worker: claims jobs from the queue and runs them; fires the retraining schedule; deletes old job files.

``python -m riskcore worker`` runs :meth:`Worker.serve` until it is stopped. The API and the dashboard start
``[jobs] api_workers`` / ``dashboard_workers`` of them as child processes (:class:`WorkerProcesses`) and stop
them when they stop, so a newcomer's dashboard or API runs jobs without a second command; with 0 a separate
``python -m riskcore worker`` (on any host that reaches the same database) serves the queue.

Each claimed job runs under a :class:`~riskcore.workbench.jobs.Heartbeat` that renews its lease every third of
``[jobs] lease_seconds``. A job ends succeeded with its result, failed with its error in words (a
:class:`~riskcore.errors.RiskcoreError`'s message; for anything else, its type and where the worker's log has
the details), or cancelled. A worker asked to stop (SIGTERM, SIGINT) gives its running job back to the queue at
once, so another worker (or itself, restarted) starts it again from the beginning.

When a job has ended, the worker hands the memory it freed back to the system (``_release_memory``): Arrow's
memory pool and the C allocator keep freed pages for the process's next allocations, so without it a worker's
resident memory ratchets up job after job, above what one ``python -m riskcore score`` of the same file needs.

Between jobs, at most every ``_TICK_S`` seconds, a worker submits the retraining loop when its schedule is due
(the job's id is derived from the due time, so however many workers look, the run is queued once; a missed run
is queued once on the next start), deletes the files of jobs kept longer than ``[jobs] keep_hours``, and sends
the alert deliveries a process that ended left pending. A job that fails (or whose worker stopped answering
too often) is delivered to the people ``[alerts.delivery]`` names for errors.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

import pyarrow as pa

from riskcore.errors import AuditError, RiskcoreError, loggable
from riskcore.lifecycle.delivery import job_failed_notice
from riskcore.serving.audit import Job
from riskcore.workbench.bench import Workbench
from riskcore.workbench.jobs import Heartbeat, JobStopped
from riskcore.workbench.retraining import schedule_due

__all__ = ["Worker", "WorkerProcesses", "schedule_job_id"]

log = logging.getLogger("riskcore.worker")
_TICK_S = 30.0


def _release_memory() -> None:
    """Return the memory freed by a finished job to the system: Arrow's pool's unused pages, then the C heap's.

    Cycles are collected first, so what the job left in them is freed too. Does nothing where an allocator offers
    no such call (``malloc_trim`` is glibc's).
    """
    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:  # pragma: no cover - no C library to open
        trim = None
    if trim is not None:
        trim(0)


def schedule_job_id(cron: str, due: datetime) -> str:
    """The id of the scheduled retraining run due at ``due``: the same for every worker that computes it."""
    return hashlib.sha256(f"retrain|{cron}|{due.isoformat()}".encode()).hexdigest()[:32]


class Worker:
    """Claims and runs jobs of one workbench's queue (see the module docstring).

    Parameters
    ----------
    bench : the workbench whose queue, audit trail and settings it uses.
    name : how the worker is named on the jobs it runs (default ``host:pid``).
    kinds : the kinds of job it takes (default all).
    parent : the process that started it (a face's :class:`WorkerProcesses`): it stops when that one is gone.
    """

    def __init__(self, bench: Workbench, *, name: str | None = None, kinds: Sequence[str] | None = None,
                 parent: int | None = None) -> None:
        self.bench = bench
        self.parent = parent
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.kinds = tuple(kinds) if kinds is not None else None
        self.stopping = threading.Event()
        self._last_tick = 0.0

    def stop(self, *_: object) -> None:
        """Ask the worker to stop: the running job goes back to the queue, the loop ends."""
        self.stopping.set()

    def run_one(self) -> Job | None:
        """Claim one job and run it to its end; the job as it ended, or ``None`` when none was waiting."""
        queue = self.bench.queue
        job = queue.claim(self.name, self.kinds, lost=self._failed)
        if job is None:
            return None
        log.info("job %s (%s) started by %s, attempt %d of %d", job.id, job.kind, self.name, job.attempts,
                 job.max_attempts)
        every = max(self.bench.settings.jobs.lease_seconds / 3, 0.2)
        told = None  # what the people told of a failure read: the error without the data's values
        with Heartbeat(queue, job, every) as beat:
            watch = threading.Thread(target=self._watch_stop, args=(beat,), daemon=True)
            watch.start()
            try:
                result = self.bench.run_job(job, beat)
            except JobStopped:
                if self.stopping.is_set() and queue.release(job):
                    log.info("job %s given back to the queue: the worker is stopping", job.id)
                else:
                    queue.finish(job, error="cancelled", progress=beat.snapshot())
            except RiskcoreError as err:
                told = loggable(err)  # the job's own error, shown to who submitted it, keeps the whole message
                log.info("job %s failed: %s", job.id, told)
                queue.finish(job, error=str(err), progress=beat.snapshot())
            except Exception as err:  # noqa: BLE001 - a bug must not stop the worker or leave the job running
                log.exception("job %s failed unexpectedly", job.id)
                queue.finish(job, error=f"the job failed unexpectedly ({type(err).__name__}); the worker's log "
                                        f"({self.name}) has the details", progress=beat.snapshot())
            else:
                beat.fraction = 1.0
                if not queue.finish(job, result, progress=beat.snapshot()):
                    log.info("job %s ended after it stopped being this worker's; its result was not kept", job.id)
            finally:
                beat.stopped.set()
        _release_memory()
        ended = queue.get(job.id)
        if ended is not None and ended.state == "failed":
            self._failed(ended, told)
        return ended

    def _failed(self, job: Job, told: str | None = None) -> None:
        """A job failed: tell the people ``[alerts.delivery]`` names for errors (``told``: its error, for them)."""
        self.bench.notify([job_failed_notice(job, told)])

    def _watch_stop(self, beat: Heartbeat) -> None:
        """While a job runs: a stop request, or the end of the process that started the worker, stops it."""
        while not beat.stopped.is_set():
            if self.parent is not None and os.getppid() != self.parent:
                log.info("the process that started worker %s has ended; giving its job back", self.name)
                self.stop()
            if self.stopping.wait(0.2):
                beat.stopped.set()
                return

    def tick(self, *, now: float | None = None) -> list[str]:
        """The periodic work: the retraining schedule, old files, alert deliveries a process that ended left pending.

        At most every 30 s unless ``now`` is given.

        Returns what it did, in words (for the log and the tests).
        """
        clock = time.time() if now is None else now
        if now is None and clock - self._last_tick < _TICK_S:
            return []
        self._last_tick = clock
        done: list[str] = []
        settings = self.bench.settings
        cron = settings.retraining.cron
        try:
            if cron:
                due = schedule_due(cron, datetime.fromtimestamp(clock, UTC))
                job_id = schedule_job_id(cron, due)
                if self.bench.queue.get(job_id) is None:
                    job = self.bench.submit_retrain(caller=settings.retraining.identity, trigger="schedule",
                                                    job_id=job_id)
                    done.append(f"retraining due {due.isoformat()} queued as job {job.id}")
            deleted = self.bench.expire_job_files(actor=f"worker {self.name}", now=clock)
            done += [f"files of job {j} deleted" for j in deleted]
            done += [f"alert delivery {d.id} ({d.kind} to {d.target}) left pending, sent again"
                     for d in self.bench.resend_deliveries()]
        except AuditError as err:
            log.warning("the periodic work could not reach the job queue: %s", err)
        for line in done:
            log.info("%s", line)
        return done

    def serve(self, *, once: bool = False, poll_s: float | None = None) -> int:
        """Run jobs until stopped (or, with ``once``, until the queue is empty); the number of jobs it ended.

        A job given back to the queue (the worker stopping) or taken over by another worker is not counted.
        """
        poll = self.bench.settings.jobs.poll_seconds if poll_s is None else poll_s
        ran = 0
        while not self.stopping.is_set():
            if self.parent is not None and os.getppid() != self.parent:
                log.info("the process that started worker %s has ended; stopping", self.name)
                break
            self.tick()
            try:
                job = self.run_one()
            except AuditError as err:
                log.warning("the job queue cannot be reached (%s); trying again", err)
                job = None
            if job is not None:
                if job.done and job.worker == self.name:
                    ran += 1
                continue
            if once:
                break
            self.stopping.wait(poll)
        return ran

    def install_signals(self) -> None:
        """Stop on SIGTERM and SIGINT (the running job goes back to the queue)."""
        def handler(signum: int, frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


class WorkerProcesses:
    """``python -m riskcore worker`` child processes of a long-running face, stopped with it.

    They read the same settings (the environment and ``riskcore.toml``) as the face that starts them.
    """

    def __init__(self, count: int, *, env: dict[str, str] | None = None) -> None:
        self.count = count
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> WorkerProcesses:
        """Start the workers (none when the count is 0)."""
        env = {**os.environ, **(self.env or {})}
        for _ in range(self.count):
            self.procs.append(subprocess.Popen([sys.executable, "-m", "riskcore", "worker", "--parent",
                                                str(os.getpid())], env=env, stdin=subprocess.DEVNULL))
        return self

    def alive(self) -> int:
        """How many are running."""
        return sum(p.poll() is None for p in self.procs)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Ask each to stop (its running job goes back to the queue), then end those that do not."""
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for p in self.procs:
            try:
                p.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()
