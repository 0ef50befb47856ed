"""Jobs outlive the API: submitted to a real ``python -m api``, kept across its restart, run by a worker process.

A real server on a copy of a state folder holding a champion (tests/models.py), started twice: first with no
worker of its own (``RISKCORE_JOB_WORKERS=0``), so the jobs it takes wait through a SIGTERM; then with one, which
runs them, and stopping the API leaves no worker process behind. Each job's scores are one audit request of the
trail. (A worker whose face was killed stops on its own: tests/unit/test_worker_processes.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest
from apitools import job_ended, serving, submit_job, until
from models import champion_and_challenger, demo_panel

from riskcore.config import Settings
from riskcore.identity import KeyStore
from riskcore.serving.audit import AuditLog
from riskcore.workbench import Workbench

pytestmark = pytest.mark.slow  # real servers and worker processes

ROWS = 25


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
    with serving(_env(home, workers=0), log) as server:
        assert _workers_of(server.proc.pid) == []
        jobs = [submit_job(server, key, portfolio, f"book-{k}.csv") for k in range(2)]
        assert server.stop() == 0, log.read_text(errors="replace")
    stored = sorted(p.name for p in (home / "jobs").iterdir() if (p / "input.csv").is_file())
    assert stored == sorted(j["id"] for j in jobs)  # the uploads are on disk, waiting
    assert [j.state for j in Workbench(Settings(home=home)).jobs()] == ["queued", "queued"]  # nothing ran them

    with serving(_env(home, workers=1), log) as server:  # started again, now with a worker of its own
        workers = until(lambda: _workers_of(server.proc.pid), "the API's worker to start")
        assert len(workers) == 1
        ended = [job_ended(server, key, j["id"]) for j in jobs]
        assert [j["state"] for j in ended] == ["succeeded", "succeeded"], ended
        for job in ended:
            assert (job["result"]["rows"], job["result"]["scored"], job["attempts"]) == (ROWS, ROWS, 1)
            r = httpx.get(f"{server.base}{job['result_url']}", headers={"X-API-Key": key}, timeout=30)
            assert r.status_code == 200 and r.content.count(b"\n") == ROWS + 1
        assert server.stop() == 0, log.read_text(errors="replace")
        until(lambda: not any(_alive(pid) for pid in workers), "the API's worker to stop", timeout=60)
    per_request = _requests(home)  # exactly one audit request per job, holding each of its scores
    assert per_request.to_dict() == {j["result"]["request_id"]: ROWS for j in ended}
