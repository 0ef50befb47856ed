"""The façade every face calls: the same file gets the same contract, checks and scores; moves wait their turn."""

from __future__ import annotations

import fcntl
import multiprocessing
import threading
from pathlib import Path

import pandas as pd
import pytest

from riskcore.config import load_settings
from riskcore.data.infer import extend_spec, infer_spec
from riskcore.data.schema import DEMO_SPEC
from riskcore.data.tabular import read_table, write_csv
from riskcore.errors import ModelNotFoundError
from riskcore.serving.audit import AuditLog
from riskcore.workbench import DataRoles, Workbench, state_lock
from riskcore.workflows import check_file, score_and_record


@pytest.fixture
def bench(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKCORE_HOME", str(tmp_path / "home"))
    return Workbench(load_settings())


def test_a_file_in_the_demo_layout_gets_the_demo_contract(bench, demo_csv):
    dataset = bench.load(demo_csv)
    assert dataset.spec == extend_spec(DEMO_SPEC, read_table(demo_csv).frame)
    assert dataset.describe() == read_table(demo_csv).info.describe()


def test_a_file_of_its_own_gets_the_contract_its_roles_say(bench, small_portfolio, tmp_path):
    frame = small_portfolio.frame.rename(columns={"default_12m": "Bad Loan", "company_id": "Borrower"}).head(600)
    path = tmp_path / "own.csv"
    write_csv(frame, path)
    roles = DataRoles(target="Bad Loan", id="Borrower", time="fiscal_year", drop=("true_pd",))
    dataset = bench.load(path, roles)
    expected = infer_spec(read_table(path).frame, target="Bad Loan", id="Borrower", time="fiscal_year",
                          drop=("true_pd",))
    assert dataset.spec == expected and dataset.roles == roles


def test_check_is_the_workflow_check(bench, demo_csv):
    dataset = bench.load(demo_csv)
    mine = bench.check(dataset, leakage=False)
    theirs = check_file(dataset.table, dataset.spec, leakage=False)
    assert mine.report.to_text() == theirs.report.to_text()
    pd.testing.assert_frame_equal(mine.split_summary, theirs.split_summary)


def test_scores_through_the_workbench_are_the_workflow_scores(bench, quick_bundle, demo_csv, tmp_path):
    job = bench.score(quick_bundle, demo_csv, output=tmp_path / "a.csv")
    audit = AuditLog("sqlite:///" + str(tmp_path / "other.db"))
    score_and_record(quick_bundle, demo_csv, audit=audit, face="cli", output=tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert bench.audit.count() == job.n_scored and bench.verify_audit().ok


def test_the_demo_is_written_whole_with_its_manifest(bench, tmp_path):
    demo = bench.demo_data(tmp_path / "demo.csv", companies=120, seed=3, later_years=2)
    assert demo.portfolio.is_file() and demo.manifest_path.is_file() and demo.later and demo.later.is_file()
    assert len(read_table(demo.portfolio).frame) == demo.manifest.n_rows
    assert not list(tmp_path.glob("*.tmp"))


def test_without_a_champion_opening_one_says_what_to_do(bench):
    with pytest.raises(ModelNotFoundError):
        bench.open_model("champion")


def test_a_lock_of_the_state_folder_lets_one_thread_at_a_time(tmp_path):
    order: list[str] = []
    held, release = threading.Event(), threading.Event()

    def first():
        with state_lock(tmp_path, "promotion"):
            order.append("first in")
            held.set()
            release.wait(10)
            order.append("first out")

    def second():
        held.wait(10)
        with state_lock(tmp_path, "promotion"):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    held.wait(10)
    release.set()
    for t in threads:
        t.join(10)
    assert order == ["first in", "first out", "second in"]


def _try_lock(path: str, answer) -> None:
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            answer.put("got it")
        except BlockingIOError:
            answer.put("busy")


def test_a_lock_of_the_state_folder_holds_across_processes(tmp_path):
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    with state_lock(tmp_path, "promotion"):
        child = context.Process(target=_try_lock, args=(str(Path(tmp_path) / "promotion.lock"), answer))
        child.start()
        child.join(60)
    assert answer.get(timeout=10) == "busy"


def test_a_promotion_waits_for_the_one_under_way(bench):
    done = threading.Event()

    def promote():
        try:
            bench.promote("no-such-version", reason="test", actor="someone")
        except Exception:  # noqa: BLE001 - only when it ran matters here
            pass
        done.set()

    with state_lock(bench.settings.home, "promotion"):
        worker = threading.Thread(target=promote)
        worker.start()
        assert not done.wait(1.0)  # still waiting for the lock
    worker.join(60)
    assert done.is_set()
