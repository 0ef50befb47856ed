"""``python -m riskcore jobs submit | status | result | cancel | list``, ``worker`` and ``retrain``, in process.

Each test runs the commands on its own copy of the state the run shares (a logistic champion,
tests/models.py), with a ``riskcore.toml`` of its own. An error exits with its status and a sentence, never a
traceback.
"""

from __future__ import annotations

import json
import re
import signal
import threading
from pathlib import Path

import pandas as pd
import pytest
from models import champion_and_challenger, demo_panel

from riskcore.cli import main
from riskcore.data.tabular import write_csv
from riskcore.workbench import Workbench, Worker, default_caller

pytestmark = pytest.mark.slow  # the retrain command trains a challenger: started early, with the other long files

JOB = re.compile(r"job ([0-9a-f]{32})")
ME = default_caller("cli")


@pytest.fixture(scope="module")
def state(model_cache):
    return champion_and_challenger(model_cache)


@pytest.fixture(scope="module")
def portfolio(model_cache, tmp_path_factory) -> Path:
    """200 demo company-years without outcomes; row 3 holds text in a number column (and one more is out of range)."""
    frame = demo_panel(model_cache).frame.head(200).drop(columns=["default_12m", "true_pd"])
    frame = frame.reset_index(drop=True).astype({"roa": object})
    frame.loc[2, "roa"] = "abc"
    path = tmp_path_factory.mktemp("cli_jobs") / "portfolio.csv"
    write_csv(frame, path)
    return path


@pytest.fixture
def config(state, tmp_path, monkeypatch) -> Path:
    """The commands' environment: a copy of the state and a settings file the test may write (empty at first)."""
    home = state.copy_to(tmp_path / "home").folder
    monkeypatch.setenv("RISKCORE_HOME", str(home))
    path = tmp_path / "riskcore.toml"
    path.write_text("", encoding="utf-8")
    monkeypatch.setenv("RISKCORE_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture(autouse=True)
def _signals_restored():
    """``worker`` installs its SIGTERM and SIGINT handlers: the test process gets its own back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _submitted(capsys, *args) -> str:
    code, out, err = run(capsys, "jobs", "submit", *args)
    assert code == 0, err
    (job_id,) = JOB.findall(out)
    assert out == f"Queued job {job_id}; follow it with python -m riskcore jobs status {job_id}\n"
    return job_id


def test_submit_list_status_worker_result(config, portfolio, tmp_path, capsys):
    job_id = _submitted(capsys, portfolio)
    code, out, _ = run(capsys, "jobs", "list")
    assert code == 0 and out.startswith(f"{job_id}  score   queued ") and f"  {ME}  portfolio.csv" in out
    code, out, _ = run(capsys, "jobs", "status", job_id)
    assert code == 0 and out.startswith(f"job {job_id}  score  queued  submitted ") and f" by {ME}\n" in out
    assert "  input: portfolio.csv\n" in out
    code, out, _ = run(capsys, "jobs", "status", job_id, "--json")
    found = json.loads(out)
    assert (found["id"], found["state"], found["caller"], found["attempts"]) == (job_id, "queued", ME, 0)
    assert found["params"]["name"] == "portfolio.csv" and found["result"] == {}

    code, out, _ = run(capsys, "worker", "--once", "--name", "cli-worker")
    assert code == 0
    assert out.startswith("worker cli-worker serving the job queue of sqlite (poll every 1 s)\n")
    assert out.endswith("worker cli-worker stopped after 1 job(s)\n")

    code, out, _ = run(capsys, "jobs", "status", job_id)
    assert code == 0 and f"job {job_id}  score  succeeded" in out
    assert re.search(r"  scored 198 of 200 rows, 2 rejected, \d+ to review; audit request [0-9a-f]{32}; model "
                     r"logistic-", out) and "  ended " in out
    code, out, _ = run(capsys, "jobs", "status", job_id, "--wait")  # an ended job: said at once, by its state
    assert code == 0 and f"job {job_id}  score  succeeded" in out

    bench = Workbench()
    job = bench.job(job_id)
    code, out, _ = run(capsys, "jobs", "result", job_id, "--out", tmp_path / "mine.csv")
    assert (code, out) == (0, f"Wrote {tmp_path / 'mine.csv'}\n")
    assert (tmp_path / "mine.csv").read_bytes() == bench.job_file(job).read_bytes()
    assert len(pd.read_csv(tmp_path / "mine.csv")) == 198
    code, out, _ = run(capsys, "jobs", "result", job_id, "--rejects")
    default = tmp_path / f"{job_id}-rejects.csv"
    assert (code, out) == (0, f"Wrote {default}\n")
    rejected = pd.read_csv(default)["row"].tolist()
    assert len(rejected) == 2 and 3 in rejected
    code, out, _ = run(capsys, "jobs", "result", job_id)
    assert code == 0 and (tmp_path / f"{job_id}-scored.csv").is_file()
    (tmp_path / "downloads").mkdir()
    code, out, _ = run(capsys, "jobs", "result", job_id, "--out", tmp_path / "downloads")
    assert (code, out) == (0, f"Wrote {tmp_path / 'downloads' / f'{job_id}-scored.csv'}\n")
    code, out, err = run(capsys, "jobs", "result", job_id, "--out", tmp_path / "nowhere" / "x.csv")
    assert (code, out) == (2, "") and err.startswith(f"error: cannot write {str(tmp_path / 'nowhere' / 'x.csv')!r}: ")

    code, out, _ = run(capsys, "jobs", "cancel", job_id)
    assert (code, out) == (1, f"job {job_id} has already ended (succeeded); nothing to cancel\n")


@pytest.mark.timeout(300)  # --wait follows the job until it ends: a worker that never ends it must not hang the run
def test_submit_wait_follows_the_job_a_worker_runs_to_its_end(config, portfolio, capsys):
    worker = Worker(Workbench(), name="beside")
    serving = threading.Thread(target=worker.serve, kwargs={"poll_s": 0.1}, daemon=True)
    serving.start()
    try:
        code, out, err = run(capsys, "jobs", "submit", portfolio, "--wait")
    finally:
        worker.stop()
        serving.join(60)
    assert code == 0, err
    (job_id,) = set(JOB.findall(out))
    assert f"job {job_id}  score  succeeded" in out and "  scored 198 of 200 rows" in out
    assert Workbench().job(job_id).worker == "beside" and not serving.is_alive()


def test_list_is_yours_unless_all_and_by_kind(config, portfolio, capsys):
    code, out, _ = run(capsys, "jobs", "list")
    assert (code, out) == (0, "No jobs yet: python -m riskcore jobs submit FILE queues one.\n")
    mine = _submitted(capsys, portfolio)
    theirs = Workbench().submit_upload(portfolio, caller="dashboard:bob", face="dashboard").id
    code, out, _ = run(capsys, "jobs", "list")
    assert mine in out and theirs not in out
    code, out, _ = run(capsys, "jobs", "list", "--all")
    assert mine in out and theirs in out and "dashboard:bob" in out
    code, out, _ = run(capsys, "jobs", "list", "--all", "--kind", "retrain")
    assert out.startswith("No jobs yet")


def test_cancel_a_queued_job_then_the_worker_has_nothing_to_do(config, portfolio, capsys):
    job_id = _submitted(capsys, portfolio)
    code, out, _ = run(capsys, "jobs", "cancel", job_id)
    assert (code, out) == (0, f"job {job_id}: cancelled\n")
    code, out, _ = run(capsys, "worker", "--once")
    assert code == 0 and out.endswith("stopped after 0 job(s)\n")
    code, out, _ = run(capsys, "jobs", "status", job_id)
    assert f"job {job_id}  score  cancelled" in out and "  ended " in out
    code, out, _ = run(capsys, "jobs", "status", job_id, "--wait")
    assert code == 1  # followed to its end, which is not a success
    code, out, err = run(capsys, "jobs", "result", job_id)
    assert (code, out) == (2, "")
    assert err == f"error: job {job_id} is cancelled: its files exist once it has succeeded\n"


def test_a_worker_of_one_kind_leaves_the_others(config, portfolio, capsys):
    config.write_text(f'[retraining]\ndata = "{portfolio}"\n', encoding="utf-8")
    job_id = _submitted(capsys, portfolio)
    code, out, _ = run(capsys, "worker", "--once", "--kind", "retrain")
    assert code == 0 and out.endswith("stopped after 0 job(s)\n")
    assert Workbench().job(job_id).state == "queued"


def test_errors_exit_with_a_sentence_and_no_traceback(config, portfolio, tmp_path, capsys):
    for unknown in ("nope", "0" * 32):
        for args in (("status", unknown), ("result", unknown), ("cancel", unknown)):
            code, out, err = run(capsys, "jobs", *args)
            assert (code, out) == (2, "")
            assert err == f"error: there is no job {unknown!r}; python -m riskcore jobs list shows them\n"

    job_id = _submitted(capsys, portfolio)
    code, out, err = run(capsys, "jobs", "result", job_id)
    assert (code, out) == (2, "")
    assert err == f"error: job {job_id} is queued: its files exist once it has succeeded\n"

    code, _, err = run(capsys, "jobs", "submit", tmp_path / "missing.csv")
    assert code == 2 and "no such file" in err and "missing.csv" in err
    (tmp_path / "image.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    code, _, err = run(capsys, "jobs", "submit", tmp_path / "image.csv")
    assert code == 2 and err.startswith("error: image.csv cannot be scored: ")
    assert not any("Traceback" in text for text in (out, err))

    ids = _write_ids(tmp_path)
    failed = _submitted(capsys, ids)
    run(capsys, "worker", "--once")
    code, out, _ = run(capsys, "jobs", "status", failed)
    assert code == 0 and f"job {failed}  score  failed" in out and "  error: required column(s) " in out
    code, _, err = run(capsys, "jobs", "result", failed)
    assert code == 2 and err == f"error: job {failed} is failed: its files exist once it has succeeded\n"


def _write_ids(tmp_path: Path) -> Path:
    path = tmp_path / "ids.csv"
    path.write_text("company_id,fiscal_year\nC1,2024\n", encoding="utf-8")
    return path


def test_retrain_submit_queues_one_run_at_a_time(config, portfolio, tmp_path, capsys):
    code, out, err = run(capsys, "retrain", "--submit")
    assert (code, out) == (3, "")  # a setting to set
    assert err.startswith("error: no data to retrain on: set [retraining] data in riskcore.toml")

    code, out, _ = run(capsys, "retrain", "--submit", "--data", portfolio)
    (job_id,) = JOB.findall(out)
    assert (code, out) == (0, f"Queued the retraining loop as job {job_id}\n")
    config.write_text(f'[retraining]\ndata = "{tmp_path / "newer"}"\n', encoding="utf-8")
    code, out, _ = run(capsys, "retrain", "--submit")
    assert (code, JOB.findall(out)) == (0, [job_id])  # the one queued already
    job = Workbench().job(job_id)
    assert (job.kind, job.state, job.caller) == ("retrain", "queued", ME)
    assert job.params == {"trigger": "command", "data": str(portfolio), "monitoring_run": ""}
    code, out, _ = run(capsys, "jobs", "list", "--kind", "retrain")
    assert out.startswith(f"{job_id}  retrain queued ") and out.rstrip().endswith("command")


@pytest.fixture(scope="module")
def newer(model_cache, tmp_path_factory) -> Path:
    """Newer data for the loop: another demo portfolio (500 companies, another seed), as CSV."""
    path = tmp_path_factory.mktemp("newer") / "newer.csv"
    write_csv(model_cache.portfolio(500, seed=11).frame, path)
    return path


def test_retrain_runs_the_loop_and_exits_1_when_the_gate_fails(config, newer, capsys):
    """The loop run here, now: a challenger trained, a gate it cannot pass, the champion kept, on record."""
    config.write_text(f'[retraining]\ndata = "{newer}"\n\n[promotion]\ncost_confidence = 0.5\ncost_margin = 0.99\n'
                      'max_red_grades = 100\nmax_ece = 0.000000001\n', encoding="utf-8")
    before = Workbench().champion()
    code, out, err = run(capsys, "retrain")
    assert code == 1, err
    (job_id,) = set(JOB.findall(out))
    assert f"job {job_id}  retrain  succeeded" in out
    assert "  gate failed: the challenger failed the promotion gate, the champion is unchanged: challenger ECE " in out
    assert "(limit 1e-09)" in out and "; gate failed; report " in out

    bench = Workbench()
    result = bench.job(job_id).result
    assert (result["decision"], result["gate_passed"], result["trigger"]) == ("gate_failed", False, "command")
    assert [(c["name"], c["passed"]) for c in result["checks"]] == [("cost", True), ("calibration", False)]
    assert bench.champion() == before and Path(result["report"]).is_file()
    (move,) = [m for m in bench.history() if m.event == "retrain"]
    assert move.to_version == result["challenger"] and move.gate_digest == result["gate_digest"]
    assert "; gate_failed" not in move.reason and "gate failed: the challenger failed" in move.reason
