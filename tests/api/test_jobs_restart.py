"""Jobs outlive the API: submitted to a real ``python -m api``, kept across its restart, run by a worker process.

A real server on a copy of a state folder holding a champion (tests/models.py), started twice: first with no
worker of its own (``RISKCORE_JOB_WORKERS=0``), so the jobs it takes wait through a SIGTERM; then with one, which
runs them, and stopping the API leaves no worker process behind. Each job's scores are one audit request of the
trail. (A worker whose face was killed stops on its own: tests/unit/test_worker_processes.py.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil
import pytest
from models import champion_and_challenger, demo_panel

from riskcore.config import Settings
from riskcore.identity import KeyStore
from riskcore.serving.audit import AuditLog
from riskcore.workbench import Workbench

pytestmark = pytest.mark.slow  # real servers and worker processes

ROOT = Path(__file__).resolve().parents[2]
ROWS = 25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(check: Callable[[], Any], what: str, timeout: float = 180.0) -> Any:
    """Poll ``check`` until it returns something true; its value."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


@pytest.fixture
def home(model_cache, tmp_path) -> Path:
    """This test's copy of a state folder whose registry holds a champion."""
    return champion_and_challenger(model_cache).copy_to(tmp_path / "home").folder


@pytest.fixture
def portfolio(model_cache) -> bytes:
    return demo_panel(model_cache).frame.head(ROWS).to_csv(index=False).encode()


def _env(home: Path, workers: int) -> dict[str, str]:
    env = {**os.environ, "RISKCORE_HOME": str(home), "RISKCORE_JOB_WORKERS": str(workers)}
    for name in ("RISKCORE_API_BUNDLE", "RISKCORE_AUDIT_URL", "RISKCORE_CONFIG", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    return env


class Server:
    """A ``python -m api`` process on a free port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "api", "--port", str(self.port), "--log-level",
                                      "warning"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def ready(self) -> None:
        def answered() -> bool:
            assert self.proc.poll() is None, "the server exited"
            try:
                return httpx.get(f"{self.base}/ready", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        _until(answered, "the server to be ready")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.log.close()


@contextmanager
def _serving(env: dict[str, str], log: Path) -> Iterator[Server]:
    server = Server(env, log)
    try:
        server.ready()
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=30)
        server.log.close()


def _submit(server: Server, key: str, data: bytes, name: str) -> dict[str, Any]:
    r = httpx.post(f"{server.base}/jobs/score", headers={"X-API-Key": key}, timeout=60,
                   files={"file": (name, data, "text/csv")})
    assert r.status_code == 202, r.text
    return r.json()


def _job(server: Server, key: str, job_id: str) -> dict[str, Any]:
    r = httpx.get(f"{server.base}/jobs/{job_id}", headers={"X-API-Key": key}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _ended(server: Server, key: str, job_id: str) -> dict[str, Any]:
    return _until(lambda: (lambda j: j if j["state"] in ("succeeded", "failed", "cancelled") else None)(
        _job(server, key, job_id)), f"job {job_id} to end")


def _requests(home: Path) -> pd.Series:
    """Rows recorded per audit request."""
    audit = AuditLog(Settings(home=home).resolved_audit_url)
    try:
        assert audit.verify().ok
        return audit.recent(10_000)["request_id"].value_counts()
    finally:
        audit.close()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _workers_of(pid: int) -> list[int]:
    """The ``python -m riskcore worker`` processes a server started."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "worker" in child.cmdline() and "riskcore" in child.cmdline():
                found.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def test_jobs_wait_through_a_restart_and_the_apis_own_worker_runs_them_and_stops_with_it(home, portfolio,
                                                                                          tmp_path):
    key = KeyStore(Settings(home=home).keys_file).add("service", "restart")[1]
    log = tmp_path / "server.log"
    with _serving(_env(home, workers=0), log) as server:
        assert _workers_of(server.proc.pid) == []
        jobs = [_submit(server, key, portfolio, f"book-{k}.csv") for k in range(2)]
        assert server.stop() == 0, log.read_text(errors="replace")
    stored = sorted(p.name for p in (home / "jobs").iterdir() if (p / "input.csv").is_file())
    assert stored == sorted(j["id"] for j in jobs)  # the uploads are on disk, waiting
    assert [j.state for j in Workbench(Settings(home=home)).jobs()] == ["queued", "queued"]  # nothing ran them

    with _serving(_env(home, workers=1), log) as server:  # started again, now with a worker of its own
        workers = _until(lambda: _workers_of(server.proc.pid), "the API's worker to start")
        assert len(workers) == 1
        ended = [_ended(server, key, j["id"]) for j in jobs]
        assert [j["state"] for j in ended] == ["succeeded", "succeeded"], ended
        for job in ended:
            assert (job["result"]["rows"], job["result"]["scored"], job["attempts"]) == (ROWS, ROWS, 1)
            r = httpx.get(f"{server.base}{job['result_url']}", headers={"X-API-Key": key}, timeout=30)
            assert r.status_code == 200 and r.content.count(b"\n") == ROWS + 1
        assert server.stop() == 0, log.read_text(errors="replace")
        _until(lambda: not any(_alive(pid) for pid in workers), "the API's worker to stop", timeout=60)
    per_request = _requests(home)  # exactly one audit request per job, holding each of its scores
    assert per_request.to_dict() == {j["result"]["request_id"]: ROWS for j in ended}
