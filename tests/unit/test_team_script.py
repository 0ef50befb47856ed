"""scripts/team: the MLflow server, the API and the dashboard on one fresh PostgreSQL database, for real.

The script runs as a user runs it (a subprocess, free ports, its own state folder); the test waits for the three
to answer, scores a company through the API, reads the audit row and MLflow's registry from the database, and
stops the script: with SIGTERM (every process ends, exit 0), or by ending one of the three (the others end too,
exit 1, naming it). Skipped without RISKCORE_TEST_POSTGRES_URL, unless RISKCORE_REQUIRE_POSTGRES=1.

The script trains its first model through the tracking server with ``python -m riskcore train``; the second
version, the one another host promotes, is a run the test suite trains once (tests/models.py) logged and
registered from that host through the same server, as ``train``'s last stage does it, rather than a second
training of the same kind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest
from databases import Database, new_database
from models import ModelCache, demo_panel, quick

from riskcore.config import load_settings
from riskcore.identity import KeyStore
from riskcore.modelling.tracking import Tracker
from riskcore.workbench import Workbench

pytestmark = pytest.mark.slow  # the MLflow server, the API and the dashboard started as processes

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "team"
# a small demo portfolio and one candidate: the first model trains in a few seconds
FIRST_MODEL = ["--quick", "--candidates", "logistic"]
DEMO_COMPANIES = "400"
# the API and the dashboard look for a new champion every second, not every 5 s (the other settings: defaults)
SETTINGS = "[serving]\ncheck_seconds = 1\n"
# variables of the developer's shell that would point the three processes elsewhere
_OUTSIDE = ("MLFLOW_TRACKING_URI", "RISKCORE_AUDIT_URL", "RISKCORE_DATABASE_URL", "RISKCORE_CONFIG",
            "MLFLOW_BACKEND_STORE_URI", "RISKCORE_API_BUNDLE")


@pytest.fixture(scope="module")
def team_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One fresh PostgreSQL database for the module: MLflow's tables and the audit trail."""
    db = new_database("postgresql", tmp_path_factory.mktemp("team"), stem="team")
    yield db
    db.drop()


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Team:
    """A running ``scripts/team``: its process, ports, state folder and output."""

    def __init__(self, database: Database, home: Path):
        self.home = home
        self.mlflow_port, self.api_port, self.port = _free_ports(3)
        self.output = home.parent / "team.out"
        env = {k: v for k, v in os.environ.items() if k not in _OUTSIDE}
        config = home.parent / "riskcore.toml"
        config.write_text(SETTINGS, encoding="utf-8")
        env.update(RISKCORE_HOME=str(home), RISKCORE_MLFLOW_PORT=str(self.mlflow_port),
                   RISKCORE_API_PORT=str(self.api_port), RISKCORE_PORT=str(self.port),
                   RISKCORE_DEMO_COMPANIES=DEMO_COMPANIES, RISKCORE_CONFIG=str(config))
        self.env = env
        with self.output.open("w") as out:
            self.process = subprocess.Popen([str(SCRIPT), database.url, *FIRST_MODEL], cwd=ROOT, env=env,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_running(self, timeout: float = 240) -> list[psutil.Process]:
        """Wait for the 'is running' banner; the script's descendants (the three and their workers)."""
        deadline = time.monotonic() + timeout
        while "is running" not in self.text:
            if self.process.poll() is not None:
                pytest.fail(f"scripts/team exited with {self.process.returncode} before it was running:\n{self.text}")
            if time.monotonic() > deadline:
                pytest.fail(f"scripts/team was not running after {timeout:.0f} s:\n{self.text}")
            time.sleep(0.5)
        return psutil.Process(self.process.pid).children(recursive=True)

    def kill(self) -> None:
        """Whatever is left (when a test failed half-way): the script stops the three, then anything left is killed.

        The three run in sessions of their own, so killing the script's process group would not reach them.
        """
        try:
            left = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            left = []
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for process in _ended(left, 5):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


@pytest.fixture(scope="module")
def team_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state folder for the module, as the database is one: the first test's model is the later tests' champion.

    The registry (in the database) and the bundles (in the folder's MLflow artifacts) stay together, so a later
    start finds a champion and does not train a first model again.
    """
    return tmp_path_factory.mktemp("team-host") / "home"


@pytest.fixture
def team(team_database: Database, team_home: Path) -> Iterator[Team]:
    running = Team(team_database, team_home)
    yield running
    running.kill()


def _get(url: str, *, key: str = "", body: Any = None) -> tuple[int, str]:
    headers = {"X-API-Key": key, "content-type": "application/json"} if key else {}
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _ended(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes still alive after ``timeout`` seconds."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _cmdline(process: psutil.Process) -> str:
    """A process's command line; empty for one that ended meanwhile (the script's short-lived subshells)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _riskcore(env: dict[str, str], *args: str) -> str:
    """Run ``python -m riskcore ARGS`` as a user does; its output (it must succeed)."""
    done = subprocess.run([sys.executable, "-m", "riskcore", *args], cwd=ROOT, text=True, capture_output=True,
                          env=env, timeout=300)
    assert done.returncode == 0, f"riskcore {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def _served(team: Team, version: str, timeout: float = 60) -> bool:
    """Whether the running API serves ``version`` within ``timeout`` seconds (it re-reads the alias every second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, ready = _get(f"http://127.0.0.1:{team.api_port}/ready")
        if status == 200 and json.loads(ready).get("serving_version") == version:
            return True
        time.sleep(0.5)
    return False


def test_team_serves_scores_into_postgres_and_stops_on_sigterm(team: Team, team_database: Database,
                                                               model_cache: ModelCache) -> None:
    children = team.wait_running()
    commands = [c for c in map(_cmdline, children) if c]
    for needed in ("mlflow server", "-m api", "streamlit run"):
        assert any(needed in c for c in commands), f"no {needed!r} process among {commands}"
    # the three never show the password (the script's own subshells repeat the URL it was given as an argument)
    started = [c for c in commands if str(SCRIPT) not in c]
    assert not any(team_database.url.split("@")[0] in c for c in started), "the database password is on a command line"

    assert _get(f"http://127.0.0.1:{team.mlflow_port}/health") == (200, "OK")
    status, ready = _get(f"http://127.0.0.1:{team.api_port}/ready")
    assert status == 200 and json.loads(ready)["ready"] is True, ready
    assert _get(f"http://127.0.0.1:{team.port}/_stcore/health") == (200, "ok")
    status, page = _get(f"http://127.0.0.1:{team.port}/")
    assert status == 200 and "<title>" in page

    # the first model was trained through the tracking server: MLflow's registry is in the PostgreSQL database
    served = json.loads(ready)["serving_version"]
    assert team_database.sql("SELECT t.value FROM registered_model_aliases a JOIN model_version_tags t "
                             "ON t.name = a.name AND t.version = a.version "
                             "WHERE a.alias = 'champion' AND t.key = 'model_version'") == [(served,)]
    source, = team_database.sql("SELECT v.source FROM registered_model_aliases a JOIN model_versions v "
                                "ON v.name = a.name AND v.version = a.version WHERE a.alias = 'champion'")[0]
    assert source.startswith("mlflow-artifacts:/"), source  # the bundle is kept by the server, for every host
    assert list((team.home / "mlartifacts").rglob("manifest.json"))

    secret = KeyStore(team.home / "api_keys.json").add("service", "team test")[1]
    status, openapi = _get(f"http://127.0.0.1:{team.api_port}/openapi.json")
    company = json.loads(openapi)["components"]["schemas"]["Company"]["examples"][0]
    status, answer = _get(f"http://127.0.0.1:{team.api_port}/predict", key=secret, body=company)
    assert status == 200, answer
    scored = json.loads(answer)
    assert scored["model_version"] == served and 0 < scored["p_default"] < 1

    rows = team_database.sql("SELECT h.source, h.model_version, h.n_rows, i.company_id FROM audit_requests h "
                             "JOIN audit_ids i ON i.batch_id = h.batch_id WHERE h.request_id = ?",
                             scored["request_id"])
    assert rows == [("api", served, 1, company["company_id"])]  # the chain holding it is verified at the end

    # another host: its own state folder, only the two URLs; the champion's bundle comes through the server
    other = {**team.env, "RISKCORE_HOME": str(team.home.parent / "other-host"),
             "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{team.mlflow_port}", "RISKCORE_AUDIT_URL": team_database.url}
    portfolio, scores = team.home.parent / "portfolio.csv", team.home.parent / "scores.csv"
    trained, hidden = team.home / "models", team.home / "models-elsewhere"
    trained.rename(hidden)  # the training host's bundle folder is not on the other host
    # sixty companies of the demo the script wrote, as a portfolio to score
    demo = pd.read_csv(team.home / "data" / "demo_portfolio.csv")
    demo[demo["company_id"].isin(demo["company_id"].drop_duplicates().head(60))].to_csv(portfolio, index=False)
    try:
        done = subprocess.run([sys.executable, "-m", "riskcore", "score", "--model", "champion", "--input",
                               str(portfolio), "--output", str(scores)], cwd=ROOT, text=True, capture_output=True,
                              env=other, timeout=180)
        assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: rows rejected (the outcome columns)
    finally:
        hidden.rename(trained)
    assert list((team.home.parent / "other-host" / "models").glob(f"downloaded-{served}/manifest.json"))
    assert not list((team.home.parent / "other-host" / "models").glob(".download-*"))  # no scratch left
    sources = team_database.sql("SELECT source, model_version, count(*) FROM audit_requests GROUP BY 1, 2 "
                                "ORDER BY 1")
    assert ("cli", served, 1) in sources and ("api", served, 1) in sources, sources

    # a version logged and registered from that other host through the server (a quick logistic run of the
    # suite's, not promoted), then promoted there, is served by the running API, without a restart; rolled back,
    # the first one is served again; both moves are in the ledger on PostgreSQL, and `riskcore audit verify` from
    # that host finds the whole chain intact (the API's score, the command line's, the moves). The moves are the
    # workbench's, as `riskcore models promote` and `rollback` make them (tests/unit/test_cli_models.py runs those
    # commands on PostgreSQL too), here in this process rather than two more
    there = load_settings(env=other)
    challenger = model_cache.train(demo_panel(model_cache).frame, quick("logistic")).register(
        Tracker.from_settings(there), there.models_dir, promote=False).model_version
    (source,), = team_database.sql("SELECT v.source FROM model_versions v JOIN model_version_tags t "
                                   "ON t.name = v.name AND t.version = v.version "
                                   "WHERE t.key = 'model_version' AND t.value = ?", challenger)
    assert source.startswith("mlflow-artifacts:/"), source  # its bundle too is kept by the server
    bench = Workbench(there)
    assert bench.promote(challenger, reason="team test", actor="cli:team-test", override=True).moved
    assert _served(team, challenger), "the promoted version was not served"
    assert bench.rollback(reason="team test", actor="cli:team-test").moved
    assert _served(team, served), "the rolled-back version was not served"
    events = team_database.sql("SELECT caller FROM audit_requests WHERE source = 'ledger' ORDER BY seq")
    assert len(events) >= 2 and _riskcore(other, "audit", "verify").startswith("chain intact")

    team.process.send_signal(signal.SIGTERM)
    assert team.process.wait(30) == 0, team.text
    assert not _ended(children, 15), "processes outlived scripts/team"
    assert "==> stopped" in team.text
    for port in (team.mlflow_port, team.api_port, team.port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"


def test_team_stops_the_others_when_one_dies(team: Team) -> None:
    children = team.wait_running()
    api = next(p for p in children if "-m api" in _cmdline(p))
    api.kill()
    assert team.process.wait(30) == 1, team.text
    assert "the API stopped" in team.text
    assert not _ended(children, 15), "processes outlived scripts/team"
