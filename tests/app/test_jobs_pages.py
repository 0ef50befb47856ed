"""Durable jobs on the dashboard: a large upload scored by a worker and followed to its downloads, the recent jobs
after a reload, a small upload scored at once, cancelling, a failed job in words, and the retraining loop's button.

The module works in a copy of the session's trained home with an officer and an analyst, and settings that put
the line between scoring in the page and scoring as a job at 0.05 MB (the sample portfolio, 73 KB, is over it) and
name the demo portfolio as the retraining loop's data. The dashboard starts no worker (``RISKCORE_JOB_WORKERS=0``,
set for every test): a test runs a job with ``Worker(bench).run_one()`` on the same home.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from pagetools import APP, ROOT, clear_streamlit_caches, errors, metrics, open_page
from streamlit.testing.v1 import AppTest

from dashboard import auth, jobs
from riskcore.config import load_settings
from riskcore.identity import UserStore
from riskcore.workbench import Job, Workbench, Worker

TIMEOUT = 120
SAMPLE = ROOT / "assets" / "sample_portfolio.csv"
USERS = {"otto": "officer", "ana": "analyst"}
LINE_MB = 0.05


@pytest.fixture(scope="module")
def jobs_home(app_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the trained home with an officer and an analyst; the dashboard points at it for the module."""
    root = tmp_path_factory.mktemp("jobs")
    home = root / "home"
    shutil.copytree(app_home, home)
    store = UserStore(home / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    for name, role in USERS.items():
        store.add_user(name, role, f"password-of-{name}")
    config = root / "riskcore.toml"
    data = (home / "data" / "demo_portfolio.csv").as_posix()
    config.write_text(f'[jobs]\ninline_max_mb = {LINE_MB}\n\n[retraining]\ndata = "{data}"\n', encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKCORE_HOME", str(home))
        mp.setenv("RISKCORE_CONFIG", str(config))
        mp.setenv("RISKCORE_JOB_WORKERS", "0")
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("RISKCORE_AUDIT_URL", raising=False)
        clear_streamlit_caches()
        yield home
    clear_streamlit_caches()


@pytest.fixture
def bench(jobs_home: Path) -> Workbench:
    """A workbench on the module's home, as a worker on the same machine would open it."""
    found = Workbench(load_settings())
    assert found.settings.home == jobs_home and found.settings.jobs.inline_max_mb == LINE_MB
    return found


def _signed_in(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key=auth.PASSWORD).input(f"password-of-{name}")
    at.button(key="sign_in_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.file_uploader(key="score_upload").set_value((name, content, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    """Every markdown, caption, info and warning on the page, as one text."""
    return "\n".join(e.value for kind in (at.markdown, at.caption, at.info, at.warning) for e in kind)


def _download_keys(at: AppTest) -> set[str]:
    return {d.key for d in at.get("download_button")}


def _run(bench: Workbench, job_id: str) -> Job:
    """Run queued scoring jobs with a worker until ``job_id`` has ended."""
    worker = Worker(bench, kinds=("score",))
    while (job := bench.job(job_id)) is not None and not job.done:
        assert worker.run_one() is not None, f"job {job_id} is not in the queue"
    assert job is not None
    return job


def test_a_file_over_the_line_is_scored_as_a_job_and_followed_to_its_downloads(bench):
    before = bench.audit.count()
    at = open_page(_signed_in("otto"), "portfolio_scoring")
    assert f"Files up to {LINE_MB:g} MB are scored here" in _texts(at)
    _upload(at, "sample.csv", SAMPLE.read_bytes())
    assert not errors(at)
    (job,) = bench.jobs(caller="dashboard:otto", kind="score")
    assert (job.state, job.params["name"], job.params["face"]) == ("queued", "sample.csv", "dashboard")
    shown = _texts(at)
    assert f"**sample.csv** · {jobs.STATES['queued']}" in shown and "python -m riskcore worker" in shown
    assert "Scored" not in metrics(at) and bench.audit.count() == before  # nothing scored in the page's run
    assert f"job_cancel_{job.id}" in {b.key for b in at.button}

    at.run()  # a rerun finds the job by the upload's file id: it is not submitted twice
    assert [j.id for j in bench.jobs(caller="dashboard:otto", kind="score")] == [job.id]

    ended = _run(bench, job.id)
    assert ended.state == "succeeded", ended.error
    at.run()
    assert not at.exception and not errors(at)
    scored = ended.result["scored"]
    assert int(metrics(at)["Scored"].replace(",", "")) == scored > 200
    assert int(metrics(at)["Rejected"]) == ended.result["rejected"] >= 1
    assert f"**sample.csv** · {jobs.STATES['succeeded']}" in _texts(at)
    assert {f"job_result_{job.id}", f"job_rejects_{job.id}"} <= _download_keys(at)
    assert f"job_cancel_{job.id}" not in {b.key for b in at.button}
    assert bench.audit.count() == before + scored
    assert set(bench.audit.recent(3)["caller"]) == {"dashboard:otto"}


def test_the_recent_jobs_are_there_after_a_reload(bench):
    first = open_page(_signed_in("otto"), "portfolio_scoring")
    _upload(first, "reloaded.csv", SAMPLE.read_bytes())
    job_id = next(iter(first.session_state[jobs.SUBMITTED].values()))
    del first  # the tab is closed

    at = open_page(_signed_in("otto"), "portfolio_scoring")  # a new session: an empty uploader, no job in its state
    assert jobs.SUBMITTED not in at.session_state
    assert "Your recent jobs" in [h.value for h in at.subheader]
    assert f"**reloaded.csv** · {jobs.STATES['queued']}" in _texts(at)
    assert f"recent_cancel_{job_id}" in {b.key for b in at.button}

    assert _run(bench, job_id).state == "succeeded"
    at.run()
    assert not at.exception and not errors(at)
    assert f"**reloaded.csv** · {jobs.STATES['succeeded']}" in _texts(at)
    assert f"recent_result_{job_id}" in _download_keys(at)
    assert "Scored" not in metrics(at)  # the list says it in a line; the metrics are for the upload in hand


def test_a_file_under_the_line_is_still_scored_at_once(bench):
    small = b"".join(SAMPLE.read_bytes().splitlines(keepends=True)[:60])
    assert len(small) < LINE_MB * 1_000_000
    before = bench.jobs(caller="dashboard:otto", kind="score")
    at = open_page(_signed_in("otto"), "portfolio_scoring")
    _upload(at, "small.csv", small)
    assert not errors(at)
    assert int(metrics(at)["Rows read"]) == 59
    assert "download_scores" in _download_keys(at)
    assert bench.jobs(caller="dashboard:otto", kind="score") == before
    assert jobs.SUBMITTED not in at.session_state


def test_a_queued_job_is_cancelled_from_the_page(bench):
    at = open_page(_signed_in("otto"), "portfolio_scoring")
    _upload(at, "to-cancel.csv", SAMPLE.read_bytes())
    job_id = next(iter(at.session_state[jobs.SUBMITTED].values()))
    assert bench.job(job_id).state == "queued"
    at.button(key=f"job_cancel_{job_id}").click().run()
    assert not at.exception and not errors(at)
    assert bench.job(job_id).state == "cancelled"
    assert any("The job was cancelled" in i.value for i in at.info)
    assert Worker(bench, kinds=("score",)).run_one() is None  # nothing left for a worker


def test_a_failed_job_says_why(bench):
    content = b"company_id,fiscal_year\n" + b"".join(f"C{i:05d},2024\n".encode() for i in range(5000))
    assert len(content) > LINE_MB * 1_000_000
    at = open_page(_signed_in("otto"), "portfolio_scoring")
    _upload(at, "columns-missing.csv", content)
    job_id = next(iter(at.session_state[jobs.SUBMITTED].values()))
    ended = _run(bench, job_id)
    assert ended.state == "failed" and "required column" in ended.error
    at.run()
    assert not at.exception
    assert any(e.startswith("The job failed:") and "required column" in e for e in errors(at))


def test_the_retraining_loop_is_queued_from_the_training_runs_page_by_who_may_train(bench):
    officer = open_page(_signed_in("otto"), "training_runs")
    assert not officer.exception
    assert "retrain_start" not in {b.key for b in officer.button}

    at = open_page(_signed_in("ana"), "training_runs")
    assert not at.exception and not errors(at)
    described = _texts(at)
    assert "demo_portfolio.csv" in described and "**Schedule**: none" in described
    assert "**Auto-promote**: off" in described and "No run of the retraining loop yet." in described
    button = at.button(key="retrain_start")
    assert not button.disabled
    button.click().run()
    assert not at.exception and not errors(at)
    (job,) = bench.jobs(kind="retrain")
    assert (job.state, job.caller, job.params["trigger"]) == ("queued", "dashboard:ana", "dashboard")
    assert any(f"Queued the retraining loop as job `{job.id}`" in s.value for s in at.success)
    assert "python -m riskcore worker" in _texts(at)
    table = next(d.value for d in at.dataframe if "decision" in d.value.columns)
    assert table[["trigger", "by", "state", "job"]].values.tolist() == [["dashboard", "dashboard:ana", "queued",
                                                                          job.id]]

    at.button(key="retrain_start").click().run()  # one run at a time: the waiting one is not queued twice
    assert [j.id for j in bench.jobs(kind="retrain")] == [job.id]
    assert any("already queued" in i.value for i in at.info)
    bench.cancel_job(job.id)
