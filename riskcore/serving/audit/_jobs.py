"""Durable jobs in the audit trail's database: a queue that several processes serve, and that survives them.

A job is a row of ``riskcore_jobs``: its kind, who submitted it, its parameters (JSON), its state, its
progress and result (JSON), its error in words, and the lease of the worker running it. Workers claim
jobs atomically (:meth:`JobQueue.claim`: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite the
write lock that ``BEGIN IMMEDIATE`` takes serialises claims), so any number of processes, on one host or
several, serve one queue and never run the same job twice at once.

A running job holds a lease that its worker renews (:meth:`JobQueue.heartbeat`). A worker that dies stops
renewing it; when the lease has expired, the next claim takes the job again from the start (scoring commits
its audit request only at the end, so nothing of the lost run is recorded), or marks it failed once it has
been tried ``max_attempts`` times. A job is never left "running" without a live worker.

States: ``queued`` → ``running`` → ``succeeded`` | ``failed`` | ``cancelled``. Cancelling a queued job ends
it at once; cancelling a running one asks its worker to stop (the next heartbeat answers ``False``). A run
that ended before its worker noticed is not undone: it ends succeeded, with what it recorded and wrote.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping, MutableSequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal, get_args

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, select, text, update
from sqlalchemy.engine import Connection

from riskcore.errors import AuditError
from riskcore.serving.audit._events import ChainedEvent, EventHead
from riskcore.serving.audit._store import AuditStore
from riskcore.serving.audit._tables import MAX_TEXT

__all__ = ["FINISHED", "Job", "JobEvent", "JobEventKind", "JobQueue", "JobState"]

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: Final[frozenset[str]] = frozenset({"succeeded", "failed", "cancelled"})
_STATES: Final = get_args(JobState)

# apart from the trail's own tables: a store opened read-only (verify) never needs it
_metadata = MetaData()
jobs = Table(
    "riskcore_jobs",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("caller", String(MAX_TEXT), nullable=False),
    Column("params", Text(), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("cancel_requested", Integer(), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("max_attempts", Integer(), nullable=False),
    Column("worker", String(MAX_TEXT), nullable=False),
    Column("lease_until", Float(), nullable=False),
    Column("progress", Text(), nullable=False),
    Column("result", Text(), nullable=False),
    Column("error", Text(), nullable=False),
    Column("created", Float(), nullable=False, index=True),
    Column("started", Float(), nullable=False),
    Column("finished", Float(), nullable=False),
)
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Job:
    """One job as stored. Times are UTC seconds (``0.0``: not yet); ``params``, ``progress`` and ``result`` JSON."""

    id: str
    kind: str
    caller: str
    params: dict[str, Any]
    state: str
    cancel_requested: bool
    attempts: int
    max_attempts: int
    worker: str
    lease_until: float
    progress: dict[str, Any]
    result: dict[str, Any]
    error: str
    created: float
    started: float
    finished: float

    @property
    def done(self) -> bool:
        """Whether the job has ended (succeeded, failed or cancelled)."""
        return self.state in FINISHED


JobEventKind = Literal["results_deleted"]
_EVENT_KINDS: Final = get_args(JobEventKind)
_MAX_DETAIL: Final = 20_000


@dataclass(frozen=True)
class JobEvent(ChainedEvent):
    """What a job did that stays on record after its row and files are gone, chained into the audit trail.

    A head with source ``jobs`` and no rows, like a move of the model ledger (where each run of the retraining
    loop is recorded, as a ``retrain`` move): ``results_deleted`` says a finished job's files were deleted
    after the time they are kept, naming them and their sizes in ``detail`` (JSON). The hash chain covers it,
    so ``verify`` catches an edited or removed one.

    Attributes
    ----------
    event : {"results_deleted"}
    job_id : the job's id.
    actor : who ran it (the loop's identity, or the worker deleting files).
    detail : JSON text (at most 20,000 characters).
    model_version : the model version it concerns (empty when none).
    ts, seq : set when it is recorded.
    """

    source: ClassVar[str] = "jobs"
    label: ClassVar[str] = "job record"

    event: JobEventKind
    job_id: str
    actor: str
    detail: str = "{}"
    model_version: str = ""
    ts: str = ""
    seq: int = 0

    def check(self) -> None:
        """Refuse an event the trail cannot hold faithfully."""
        if self.event not in _EVENT_KINDS:
            raise AuditError(f"event={self.event!r} is unknown; use one of {', '.join(_EVENT_KINDS)}")
        if not self.job_id or len(self.job_id) > 64 or not self.actor or len(self.actor) > MAX_TEXT:
            raise AuditError("a job record names its job (at most 64 characters) and its actor (at most "
                             f"{MAX_TEXT})")
        if len(self.detail) > _MAX_DETAIL:
            raise AuditError(f"the detail of a job record is longer than {_MAX_DETAIL:,} characters")
        try:
            json.loads(self.detail)
        except ValueError:
            raise AuditError("the detail of a job record must be JSON text") from None

    def head(self) -> EventHead:
        """The actor is the head's caller; the model version, when there is one, its model."""
        return EventHead(caller=self.actor, model_version=self.model_version)

    @property
    def facts(self) -> dict[str, Any]:
        """``detail`` read back as a dict."""
        found = json.loads(self.detail)
        return found if isinstance(found, dict) else {"detail": found}


class JobQueue:
    """The jobs of one audit store (see the module docstring).

    Parameters
    ----------
    store : the audit trail's store (``AuditLog.store``).
    lease_s : how long a claim or a heartbeat keeps a job its worker's.
    clock : UTC seconds (tests pass their own).
    """

    def __init__(self, store: AuditStore, *, lease_s: float = 60.0, clock: Callable[[], float] = time.time):
        if lease_s <= 0:
            raise ValueError("a job lease needs a positive number of seconds")
        self.store = store
        self.lease_s = lease_s
        self._clock = clock

    # -- submitting and reading -------------------------------------------------------------
    def submit(self, kind: str, caller: str, params: Mapping[str, Any] | None = None, *,
               max_attempts: int = 3, job_id: str | None = None, single: bool = False) -> Job:
        """Queue a job; returns it as stored.

        ``job_id`` (32 hexadecimal characters, default a new one) lets a caller store files under the id first,
        or submit a job at most once: a second submission with the same id returns the first job unchanged.
        ``single``: when a job of this kind is queued or running, return it instead of queuing another; the look
        and the insert are one transaction (SQLite's write lock; a transaction-scoped advisory lock per kind on
        PostgreSQL), so callers racing each other queue one job.

        Raises
        ------
        riskcore.errors.AuditError
            When a field cannot be stored or the store cannot be written.
        """
        if job_id is not None and (len(job_id) != 32 or any(c not in "0123456789abcdef" for c in job_id)):
            raise AuditError(f"cannot queue the job: id {job_id!r} must be 32 hexadecimal characters")
        if not kind or len(kind) > 64 or not isinstance(caller, str) or len(caller) > MAX_TEXT:
            raise AuditError(f"cannot queue the job: kind={kind!r} needs 1 to 64 characters and caller at most "
                             f"{MAX_TEXT}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise AuditError(f"cannot queue the job: max_attempts={max_attempts!r} must be a whole number >= 1")
        try:
            encoded = _JSON.encode(dict(params or {}))
        except (TypeError, ValueError) as err:
            raise AuditError(f"cannot queue the job: its parameters cannot be stored as JSON ({err})") from None
        row = {"id": job_id or uuid.uuid4().hex, "kind": kind, "caller": caller, "params": encoded, "state": "queued",
               "cancel_requested": 0, "attempts": 0, "max_attempts": max_attempts, "worker": "", "lease_until": 0.0,
               "progress": "{}", "result": "{}", "error": "", "created": self._clock(), "started": 0.0,
               "finished": 0.0}
        self.store.ensure_side_table(jobs)
        with self.store.writing() as conn:
            if job_id is not None:
                found = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
                if found is not None:
                    return _job(dict(found))
            if single:
                if not self.store.is_sqlite:
                    key = int.from_bytes(hashlib.sha256(f"riskcore_jobs:{kind}".encode()).digest()[:8], "big",
                                         signed=True)
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                found = conn.execute(select(jobs).where(jobs.c.kind == kind, jobs.c.state.in_(("queued", "running")))
                                     .order_by(jobs.c.created).limit(1)).mappings().first()
                if found is not None:
                    return _job(dict(found))
            conn.execute(jobs.insert(), row)
        return _job(row)

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        self.store.ensure_side_table(jobs)
        with self.store.reading() as conn:
            found = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return None if found is None else _job(dict(found))

    def list(self, *, caller: str | None = None, kind: str | None = None, states: tuple[str, ...] | None = None,
             finished_before: float | None = None, with_files: bool = False, limit: int = 100) -> list[Job]:
        """The newest jobs first: of one caller or kind, in some states, or finished before a time, when given.

        ``with_files``: only jobs whose files were not deleted (no ``files_deleted`` noted on their result, see
        :meth:`annotate`), so the jobs whose files are still to be deleted are found however many went before.
        """
        self.store.ensure_side_table(jobs)
        query = select(jobs).order_by(jobs.c.created.desc(), jobs.c.id).limit(limit)
        if with_files:  # the key as the result's JSON spells it (one in a text value would have its quote escaped)
            query = query.where(jobs.c.result.not_like('%"files_deleted":%'))
        if caller is not None:
            query = query.where(jobs.c.caller == caller)
        if kind is not None:
            query = query.where(jobs.c.kind == kind)
        if states is not None:
            query = query.where(jobs.c.state.in_(states))
        if finished_before is not None:
            query = query.where(jobs.c.state.in_(sorted(FINISHED)), jobs.c.finished > 0,
                                jobs.c.finished < finished_before)
        with self.store.reading() as conn:
            return [_job(dict(row)) for row in conn.execute(query).mappings().all()]

    # -- running -------------------------------------------------------------------------------
    def claim(self, worker: str, kinds: tuple[str, ...] | None = None, *,
              lost: Callable[[Job], None] | None = None) -> Job | None:
        """Take the oldest job that is queued, or whose worker's lease expired; None when there is none.

        A job whose lease expired after its last allowed attempt is marked failed instead, with the reason, and
        handed to ``lost`` once that is committed (the worker tells people).
        """
        failed: MutableSequence[Job] = []
        try:
            return self._claim(worker, kinds, failed)
        finally:
            if lost is not None:
                for job in failed:
                    lost(job)

    def _claim(self, worker: str, kinds: tuple[str, ...] | None, failed: MutableSequence[Job]) -> Job | None:
        self.store.ensure_side_table(jobs)
        while True:
            now = self._clock()
            with self.store.writing() as conn:
                found = self._next(conn, now, kinds)
                if found is None:
                    return None
                if found["state"] == "running" and found["attempts"] >= found["max_attempts"]:
                    ended = {"state": "failed", "finished": now, "worker": "",
                             "error": f"the worker running it stopped answering {found['attempts']} times (attempts "
                                      f"{found['attempts']} of {found['max_attempts']}); submit it again"}
                    conn.execute(update(jobs).where(jobs.c.id == found["id"]).values(**ended))
                    failed.append(_job({**found, **ended}))
                    continue
                values = {"state": "running", "worker": worker, "lease_until": now + self.lease_s,
                          "attempts": found["attempts"] + 1, "started": now, "progress": "{}"}
                conn.execute(update(jobs).where(jobs.c.id == found["id"]).values(**values))
            return _job({**found, **values})

    def _next(self, conn: Connection, now: float, kinds: tuple[str, ...] | None) -> Mapping[str, Any] | None:
        c = jobs.c
        query = select(jobs).where(c.cancel_requested == 0, (c.state == "queued") | (
            (c.state == "running") & (c.lease_until < now))).order_by(c.created, c.id).limit(1)
        if kinds is not None:
            query = query.where(c.kind.in_(kinds))
        if not self.store.is_sqlite:  # SQLite's BEGIN IMMEDIATE already holds the write lock
            query = query.with_for_update(skip_locked=True)
        found = conn.execute(query).mappings().first()
        return None if found is None else dict(found)

    def heartbeat(self, job: Job, progress: Mapping[str, Any] | None = None) -> bool:
        """Renew the lease (and record progress); False when the job is no longer this worker's or was cancelled.

        A worker that gets False stops: the job was cancelled, or its lease expired and another worker took it.
        """
        values: dict[str, Any] = {"lease_until": self._clock() + self.lease_s}
        if progress is not None:
            values["progress"] = _JSON.encode(dict(progress))
        with self.store.writing() as conn:
            renewed = conn.execute(update(jobs).where(
                jobs.c.id == job.id, jobs.c.worker == job.worker, jobs.c.state == "running",
                jobs.c.attempts == job.attempts, jobs.c.cancel_requested == 0).values(**values)).rowcount
        return bool(renewed)

    def finish(self, job: Job, result: Mapping[str, Any] | None = None, *, error: str = "",
               progress: Mapping[str, Any] | None = None) -> bool:
        """End a running job: succeeded with ``result``, or failed with ``error``, or cancelled.

        A job asked to stop that ends with an error (its worker stopped it) is cancelled; one that ends with its
        result was through before its worker noticed (what it recorded is on record), so it succeeded.
        ``progress``: where it ended (rows read, scored, rejected), kept with it. Returns False (and changes
        nothing) when the job is no longer this worker's.
        """
        now = self._clock()
        with self.store.writing() as conn:
            row = conn.execute(select(jobs.c.cancel_requested).where(
                jobs.c.id == job.id, jobs.c.worker == job.worker, jobs.c.state == "running",
                jobs.c.attempts == job.attempts)).first()
            if row is None:
                return False
            state = ("cancelled" if row[0] else "failed") if error else "succeeded"
            values: dict[str, Any] = {"progress": _JSON.encode(dict(progress))} if progress is not None else {}
            conn.execute(update(jobs).where(jobs.c.id == job.id).values(
                state=state, finished=now, lease_until=0.0, error=error,
                result=_JSON.encode(dict(result or {})) if state == "succeeded" else "{}", **values))
        return True

    def release(self, job: Job) -> bool:
        """Give a running job back to the queue at once (its worker is shutting down); it will start again.

        The attempt does not count. False (and nothing changes) when the job is no longer this worker's.
        """
        with self.store.writing() as conn:
            released = conn.execute(update(jobs).where(
                jobs.c.id == job.id, jobs.c.worker == job.worker, jobs.c.state == "running",
                jobs.c.attempts == job.attempts).values(
                    state="queued", worker="", lease_until=0.0, attempts=max(job.attempts - 1, 0),
                    progress="{}")).rowcount
        return bool(released)

    def annotate(self, job_id: str, **result: Any) -> Job | None:
        """Add fields to a finished job's result (e.g. when its files were deleted); None when there is no such job."""
        with self.store.writing() as conn:
            found = conn.execute(select(jobs.c.result).where(jobs.c.id == job_id)).first()
            if found is None:
                return None
            merged = {**json.loads(found[0]), **result}
            try:
                encoded = _JSON.encode(merged)
            except (TypeError, ValueError) as err:
                raise AuditError(f"cannot record on job {job_id}: not JSON ({err})") from None
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(result=encoded))
        return self.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a job: a queued one ends now, a running one is asked to stop. None when there is no such job."""
        now = self._clock()
        self.store.ensure_side_table(jobs)
        with self.store.writing() as conn:
            found = conn.execute(select(jobs.c.state).where(jobs.c.id == job_id)).first()
            if found is None:
                return None
            if found[0] == "queued":
                conn.execute(update(jobs).where(jobs.c.id == job_id).values(state="cancelled", finished=now,
                                                                            cancel_requested=1))
            elif found[0] == "running":
                conn.execute(update(jobs).where(jobs.c.id == job_id).values(cancel_requested=1))
        return self.get(job_id)


def _job(row: Mapping[str, Any]) -> Job:
    state = str(row["state"])
    if state not in _STATES:  # pragma: no cover - only this module writes the table
        raise AuditError(f"job {row['id']} has an unknown state {state!r}")
    return Job(id=str(row["id"]), kind=str(row["kind"]), caller=str(row["caller"]), params=json.loads(row["params"]),
               state=state, cancel_requested=bool(row["cancel_requested"]), attempts=int(row["attempts"]),
               max_attempts=int(row["max_attempts"]), worker=str(row["worker"]),
               lease_until=float(row["lease_until"]), progress=json.loads(row["progress"]),
               result=json.loads(row["result"]), error=str(row["error"]), created=float(row["created"]),
               started=float(row["started"]), finished=float(row["finished"]))
