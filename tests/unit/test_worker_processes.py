"""``python -m riskcore worker`` as real processes on one queue: each job run once, a killed worker's job taken
over after its lease, a stopped worker's job given back, a worker whose parent is gone stopping.

The workers serve a copy of the state the run shares (a logistic champion, tests/models.py), with a
``riskcore.toml`` that makes them poll every 0.1 s. Every wait polls the queue with a generous time limit;
nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from models import champion_and_challenger, demo_panel
from sqlalchemy import select

import riskcore
from riskcore.config import load_settings
from riskcore.data.tabular import write_csv
from riskcore.serving.audit import Job
from riskcore.serving.audit._tables import audit_requests
from riskcore.workbench import Workbench

pytestmark = pytest.mark.slow  # several worker processes

ROOT = Path(riskcore.__file__).resolve().parents[1]
WAIT_S = 240.0


@pytest.fixture(scope="module")
def state(model_cache):
    return champion_and_challenger(model_cache)


@pytest.fixture(scope="module")
def files(model_cache, tmp_path_factory) -> dict[str, Path]:
    """Six small portfolios (60 company-years each) and a large one (about 60,000, the demo panel 14 times)."""
    folder = tmp_path_factory.mktemp("portfolios")
    frame = demo_panel(model_cache).frame.drop(columns=["default_12m", "true_pd"])
    found = {}
    for k in range(6):
        found[f"small-{k}"] = folder / f"small-{k}.csv"
        write_csv(frame.iloc[60 * k: 60 * (k + 1)], found[f"small-{k}"])
    copies = [frame.assign(company_id=frame["company_id"] + f"-{k}") for k in range(14)]
    found["large"] = folder / "large.csv"
    write_csv(pd.concat(copies, ignore_index=True), found["large"])
    return found


class Queue:
    """The test's side of the queue: the environment the workers get, a workbench on it, the workers started."""

    def __init__(self, home: Path, folder: Path, lease_s: float) -> None:
        self.folder = folder
        config = folder / "riskcore.toml"
        config.write_text(f"[jobs]\nlease_seconds = {lease_s}\npoll_seconds = 0.1\n", encoding="utf-8")
        self.env = {**os.environ, "RISKCORE_HOME": str(home), "RISKCORE_CONFIG": str(config),
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                    "PYTHONUNBUFFERED": "1"}
        self.env.pop("RISKCORE_AUDIT_URL", None)
        self.env.pop("MLFLOW_TRACKING_URI", None)
        self.bench = Workbench(load_settings(env=self.env))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """A worker process named ``name``; its output goes to ``NAME.out`` and ``NAME.err``."""
        with (self.folder / f"{name}.out").open("wb") as out, (self.folder / f"{name}.err").open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "riskcore", "worker", "--name", name, *args],
                                    env=self.env, cwd=self.folder, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        """What worker ``name`` printed so far (stdout, then stderr)."""
        paths = [self.folder / f"{name}.{kind}" for kind in ("out", "err")]
        return "".join(p.read_text(encoding="utf-8", errors="replace") for p in paths if p.is_file())

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)}" for name in self.procs)

    def until(self, what: str, condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        """Poll ``condition`` until it holds; fail with ``what`` and the workers' output when it never does."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            for name, proc in self.procs.items():
                if proc.poll() is not None and proc.returncode not in (0, -signal.SIGKILL):
                    pytest.fail(f"worker {name} ended with {proc.returncode} while waiting for {what}\n{self.logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout_s:.0f} s\n{self.logs()}")
            time.sleep(0.1)

    def ended(self, name: str, timeout_s: float = WAIT_S) -> int:
        try:
            return self.procs[name].wait(timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {name} did not stop within {timeout_s:.0f} s\n{self.logs()}")

    def job(self, job_id: str) -> Job:
        found = self.bench.job(job_id)
        assert found is not None
        return found

    def heads(self) -> list[str]:
        """The request id of every head of the audit trail, in order."""
        with self.bench.audit.store.reading() as conn:
            return [r[0] for r in conn.execute(select(audit_requests.c.request_id).order_by(audit_requests.c.seq))]

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(60)


@pytest.fixture
def queue_of(state, tmp_path) -> Iterator[Callable[[float], Queue]]:
    """``queue_of(lease_s)``: the queue on a copy of the state, its workers' leases that long; killed at the end."""
    made: list[Queue] = []

    def make(lease_s: float) -> Queue:
        made.append(Queue(state.copy_to(tmp_path / "home").folder, tmp_path, lease_s))
        return made[-1]

    yield make
    for q in made:
        q.close()


@pytest.fixture
def queue(queue_of) -> Queue:
    """The queue with 30-second leases: long enough that no live worker's job is ever taken over."""
    return queue_of(30.0)


def _submit(q: Queue, path: Path) -> str:
    return q.bench.submit_upload(path, caller="cli:alice", face="cli").id


def test_two_workers_run_every_job_once(queue, files):
    ids = [_submit(queue, files[f"small-{k}"]) for k in range(6)]
    for name in ("w1", "w2"):
        queue.start(name)
    queue.until("every job ended", lambda: all(queue.job(i).done for i in ids))
    jobs = [queue.job(i) for i in ids]
    assert [(j.state, j.attempts) for j in jobs] == [("succeeded", 1)] * 6, queue.logs()
    assert {j.worker for j in jobs} <= {"w1", "w2"}
    requests = [j.result["request_id"] for j in jobs]
    assert sorted(queue.heads()) == sorted(requests)  # one audit request per job, none twice
    assert queue.bench.audit.count() == sum(j.result["scored"] for j in jobs) and queue.bench.verify_audit().ok

    for name in ("w1", "w2"):
        queue.procs[name].send_signal(signal.SIGTERM)
    ran = 0
    for name in ("w1", "w2"):
        assert queue.ended(name) == 0, queue.logs()
        (line,) = [line for line in queue.log(name).splitlines() if line.startswith(f"worker {name} stopped after")]
        ran += int(line.split()[4])
    assert ran == 6  # between them the workers ran six jobs: none was run twice


def test_a_killed_workers_job_is_taken_over_after_its_lease(queue_of, files):
    queue = queue_of(2.0)  # one worker at a time: a short lease only makes the takeover quick
    job_id = _submit(queue, files["large"])
    queue.start("doomed")
    queue.until("the first worker runs the job", lambda: queue.job(job_id).state == "running")
    queue.procs["doomed"].send_signal(signal.SIGKILL)  # no time to give the job back, nor to commit anything
    assert queue.ended("doomed") == -signal.SIGKILL
    lost = queue.job(job_id)
    assert (lost.state, lost.worker, lost.attempts) == ("running", "doomed", 1)

    queue.start("heir")
    queue.until("the job ended", lambda: queue.job(job_id).done)
    done = queue.job(job_id)
    assert (done.state, done.worker, done.attempts) == ("succeeded", "heir", 2), queue.logs()
    assert done.result["rows"] > 60_000 and done.result["scored"] + done.result["rejected"] == done.result["rows"]
    assert queue.heads() == [done.result["request_id"]]  # the killed run left nothing on record
    assert queue.bench.audit.count() == done.result["scored"] and queue.bench.verify_audit().ok


def test_a_stopped_worker_gives_its_job_back_to_another(queue, files):
    job_id = _submit(queue, files["large"])
    queue.start("leaving")
    queue.until("the first worker runs the job", lambda: queue.job(job_id).state == "running")
    queue.start("staying")
    queue.procs["leaving"].send_signal(signal.SIGTERM)
    assert queue.ended("leaving") == 0, queue.logs()
    assert f"job {job_id} given back to the queue: the worker is stopping" in queue.log("leaving")
    assert "worker leaving stopped after 0 job(s)" in queue.log("leaving")

    queue.until("the job ended", lambda: queue.job(job_id).done)
    done = queue.job(job_id)
    assert (done.state, done.worker, done.attempts) == ("succeeded", "staying", 1), queue.logs()  # not counted
    assert queue.heads() == [done.result["request_id"]] and queue.bench.verify_audit().ok


def test_a_worker_whose_parent_is_gone_stops(queue, tmp_path):
    """A face's worker (``--parent``) outlives neither the face nor a face killed without stopping it."""
    starter = subprocess.Popen(
        [sys.executable, "-c", "import os, subprocess, sys\n"
         "w = subprocess.Popen([sys.executable, '-m', 'riskcore', 'worker', '--name', 'child', '--parent',\n"
         "                      str(os.getpid())], stdout=open('child.out', 'wb'), stderr=open('child.err', 'wb'))\n"
         "print(w.pid, flush=True)\n"
         "sys.stdin.readline()\n"],
        env=queue.env, cwd=queue.folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    worker = int(starter.stdout.readline())
    queue.until("the child worker serves", lambda: "serving the job queue" in queue.log("child"))
    assert _alive(worker)
    starter.stdin.close()  # the face ends without stopping its worker
    assert starter.wait(60) == 0
    queue.until("the child worker stops", lambda: not _alive(worker))
    assert "has ended; stopping" in queue.log("child") and "worker child stopped after 0 job(s)" in queue.log("child")


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting for its new parent to reap it has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] not in ("Z", "X")
