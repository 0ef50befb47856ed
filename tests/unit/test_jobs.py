"""Durable jobs: claimed once, held by a lease, retried when their worker stops answering, cancelled on request.

On SQLite and PostgreSQL (``database``), and with two processes claiming from one queue at once.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest

from riskcore.errors import AuditError
from riskcore.serving.audit import AuditLog, JobQueue


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def queue(database):
    clock = _Clock()
    log = AuditLog(database.url)
    yield JobQueue(log.store, lease_s=30.0, clock=clock), clock
    log.close()


def test_jobs_are_claimed_oldest_first_and_once(queue):
    jobs, clock = queue
    first = jobs.submit("score", "alice", {"input": "a.csv"})
    clock.now += 1
    second = jobs.submit("score", "bob", {"input": "b.csv"})
    assert [j.id for j in jobs.list()] == [second.id, first.id]
    assert [j.id for j in jobs.list(caller="alice")] == [first.id]
    a = jobs.claim("worker-a")
    b = jobs.claim("worker-b")
    assert (a.id, b.id) == (first.id, second.id) and jobs.claim("worker-c") is None
    assert a.state == "running" and a.attempts == 1 and a.params == {"input": "a.csv"}
    assert jobs.heartbeat(a, {"rows": 10}) and jobs.get(a.id).progress == {"rows": 10}
    assert jobs.finish(a, {"rows": 10, "output": "out.csv"})
    done = jobs.get(a.id)
    assert done.state == "succeeded" and done.done and done.result == {"rows": 10, "output": "out.csv"}
    assert jobs.finish(b, error="the file has no id column")
    assert jobs.get(b.id).state == "failed" and jobs.get(b.id).error == "the file has no id column"


def test_a_job_whose_worker_stops_answering_is_taken_again_then_failed(queue):
    jobs, clock = queue
    job = jobs.submit("score", "alice", max_attempts=2)
    lost = jobs.claim("worker-a")
    clock.now += 31  # the lease ran out: worker-a died
    again = jobs.claim("worker-b")
    assert again.id == job.id and again.attempts == 2
    assert not jobs.heartbeat(lost) and not jobs.finish(lost, {"rows": 1})  # the old worker cannot end it
    clock.now += 31
    assert jobs.claim("worker-c") is None  # tried twice: failed, never stuck in "running"
    failed = jobs.get(job.id)
    assert failed.state == "failed" and "stopped answering" in failed.error


def test_cancelling(queue):
    jobs, clock = queue
    waiting = jobs.submit("score", "alice")
    running = jobs.submit("score", "alice")
    assert jobs.cancel(waiting.id).state == "cancelled"
    claimed = jobs.claim("worker-a")
    assert claimed.id == running.id  # the cancelled one is never run
    assert jobs.cancel(running.id).cancel_requested
    assert not jobs.heartbeat(claimed)  # the worker is asked to stop
    assert jobs.finish(claimed, {"rows": 5}, error="cancelled") and jobs.get(running.id).state == "cancelled"
    assert jobs.get(running.id).result == {}
    assert jobs.cancel("no-such-job") is None


def test_a_run_through_before_its_worker_noticed_the_cancel_succeeded(queue):
    """What it recorded is on record: the job says so, with its result, instead of claiming nothing was kept."""
    jobs, _ = queue
    job = jobs.submit("score", "alice")
    claimed = jobs.claim("worker-a")
    assert jobs.cancel(job.id).cancel_requested
    assert jobs.finish(claimed, {"rows": 5, "request_id": "r1"})
    ended = jobs.get(job.id)
    assert (ended.state, ended.result) == ("succeeded", {"rows": 5, "request_id": "r1"})
    assert jobs.cancel(job.id).state == "succeeded"  # an ended job stays as it ended


def test_the_jobs_whose_files_are_still_there(queue):
    jobs, clock = queue
    ids = []
    for note in ('the "files_deleted": key quoted in a note', "none"):
        ids.append(jobs.submit("score", "alice").id)
        clock.now += 1
        jobs.finish(jobs.claim("worker-a"), {"notes": [note]})
    assert jobs.annotate(ids[1], files_deleted=clock.now, files_deleted_reason="kept 24 h").result["notes"] == ["none"]
    assert [j.id for j in jobs.list(with_files=True)] == [ids[0]]
    assert [j.id for j in jobs.list()] == ids[::-1]


def test_what_cannot_be_queued_is_refused(queue):
    jobs, _ = queue
    with pytest.raises(AuditError, match="max_attempts"):
        jobs.submit("score", "alice", max_attempts=0)
    for params in ({"x": float("nan")}, {"y": object()}):
        with pytest.raises(AuditError, match="JSON"):
            jobs.submit("score", "alice", params)
    assert jobs.list() == []


def _claim_all(url: str, worker: str, out: multiprocessing.Queue) -> None:
    log = AuditLog(url)
    jobs = JobQueue(log.store)
    claimed = []
    while (job := jobs.claim(worker)) is not None:
        claimed.append(job.id)
        jobs.finish(job, {"by": worker})
    out.put(claimed)
    log.close()


def test_two_processes_on_one_queue_never_run_the_same_job(database):
    log = AuditLog(database.url)
    jobs = JobQueue(log.store)
    ids = {jobs.submit("score", "alice", {"n": i}).id for i in range(40)}
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_claim_all, args=(database.url, f"w{k}", out)) for k in range(2)]
    for w in workers:
        w.start()
    results = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert not set(results[0]) & set(results[1])
    assert set(results[0]) | set(results[1]) == ids
    assert all(j.state == "succeeded" for j in jobs.list(limit=100))
    log.close()


def test_a_single_run_is_queued_once_however_many_callers_race(database):
    log = AuditLog(database.url)
    jobs = JobQueue(log.store)
    jobs.submit("score", "alice")  # another kind waits too: it does not count
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda k: jobs.submit("retrain", f"caller{k}", {"k": k}, single=True).id, range(16)))
    assert len(set(got)) == 1
    assert [j.id for j in jobs.list(kind="retrain")] == got[:1]
    claimed = jobs.claim("w", ("retrain",))
    assert jobs.submit("retrain", "late", single=True).id == claimed.id  # a running one is returned too
    jobs.finish(claimed, {"decision": "stopped"})
    assert jobs.submit("retrain", "after", single=True).id != claimed.id  # once it ended, a new one is queued
    log.close()
