"""Scoring a portfolio as a durable job, run in this process: an upload in, the scores on record, files out.

A job is run by a :class:`~riskcore.workbench.Worker` of the test's workbench (a copy of the state the run
shares: a logistic champion, tests/models.py). What it writes and records must be what ``python -m riskcore
score`` writes and records for the same file; a job that is cancelled or whose worker stops records and
keeps nothing; its files go after ``[jobs] keep_hours``, on record.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from jobhooks import Hooked, cancel_from_another_thread, noticed
from models import champion_and_challenger, demo_panel
from sqlalchemy import select

from riskcore.config import JobRules, Settings
from riskcore.data.tabular import write_csv
from riskcore.errors import ConfigError, DataFileError
from riskcore.serving.audit import AuditLog, Job, JobEvent
from riskcore.serving.audit._tables import audit_requests
from riskcore.workbench import Workbench, Worker
from riskcore.workbench.jobs import Heartbeat, JobStopped

CALLER = "cli:alice"
DAYS = 24 * 3600.0


@pytest.fixture(scope="module")
def state(model_cache):
    """The state the run shares: a logistic champion (and a challenger) on the demo panel."""
    return champion_and_challenger(model_cache)


@pytest.fixture(scope="module")
def rows(model_cache):
    """300 demo company-years, sorted by company, without outcomes; rows 5 and 9 hold text in a number column."""
    frame = demo_panel(model_cache).frame.head(300).drop(columns=["default_12m", "true_pd"])
    frame = frame.reset_index(drop=True).astype({"roa": object})
    frame.loc[4, "roa"] = "abc"
    frame.loc[8, "roa"] = "twelve"
    return frame


@pytest.fixture
def shared(tmp_path) -> Path:
    """A folder of server-side files a scoring job may name (``[jobs] paths``)."""
    folder = tmp_path / "shared"
    folder.mkdir()
    return folder


@pytest.fixture
def bench(state, shared, tmp_path) -> Workbench:
    """A workbench on this test's copy of the state (its own registry, audit trail and jobs)."""
    home = state.copy_to(tmp_path / "home").folder
    return Workbench(Settings(home=home, jobs=JobRules(lease_seconds=3, paths=(str(shared),))))


@pytest.fixture
def reference(bench, tmp_path) -> Workbench:
    """The same state scoring with an audit trail of its own: what ``python -m riskcore score`` gives."""
    return Workbench(replace(bench.settings, audit_url="sqlite:///" + str(tmp_path / "reference.db")))


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        write_csv(frame, path)
    elif path.suffix == ".xlsx":
        frame.to_excel(path, index=False, sheet_name="Portfolio")
    else:
        frame.astype({"roa": str}).to_parquet(path, index=False)
    return path


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)


def _heads(audit: AuditLog) -> list[str]:
    """The request id of every head of the audit trail (scores and records), in order."""
    with audit.store.reading() as conn:
        return [r[0] for r in conn.execute(select(audit_requests.c.request_id).order_by(audit_requests.c.seq))]


def _clean(rows: pd.DataFrame, reference: Workbench, tmp_path: Path) -> Path:
    """The rows the champion scores without a reject, as a CSV file."""
    path = _write(rows, tmp_path / "all.csv")
    rejected = set(reference.score("champion", path).rejects["row"])
    return _write(rows[[i + 1 not in rejected for i in range(len(rows))]], tmp_path / "clean.csv")


def _folder(bench: Workbench, job: Job) -> list[str]:
    folder = bench.job_files.folder(job.id)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _scoring(fraction: float, message: str) -> bool:
    """The step after the first chunk was scored and handed to the audit trail (not yet committed)."""
    return message.startswith("scored")


def _done(fraction: float, message: str) -> bool:
    """The last step: the scores are on record and the files written."""
    return fraction >= 1.0


# ---------------------------------------------------------------------------
# a job scores as the score command does
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, result_format", [(".csv", "csv"), (".xlsx", "csv"), (".parquet", "parquet")])
def test_an_upload_is_scored_recorded_and_written_as_the_score_command_does(bench, reference, rows, tmp_path,
                                                                           suffix, result_format):
    path = _write(rows, tmp_path / f"portfolio{suffix}")
    job = bench.submit_upload(path, caller=CALLER, face="cli", result_format=result_format)
    assert (job.state, job.kind, job.caller, job.attempts) == ("queued", "score", CALLER, 0)
    stored = Path(job.params["input"])
    assert job.params["name"] == path.name and job.params["stored"] is True
    assert stored.parent == bench.job_files.folder(job.id) and stored.name == "input" + suffix
    assert stored.read_bytes() == path.read_bytes()

    done = Worker(bench, name="worker-1").run_one()
    assert done is not None and done.id == job.id
    assert (done.state, done.attempts, done.worker, done.error) == ("succeeded", 1, "worker-1", "")
    expected = reference.score("champion", path, output=tmp_path / f"expected.{result_format}")
    r = done.result
    assert (r["rows"], r["scored"], r["rejected"]) == (expected.n_rows, expected.n_scored, expected.n_rejected)
    assert r["rows"] == len(rows) and r["rejected"] >= 2 and r["scored"] + r["rejected"] == r["rows"]
    assert r["model_version"] == expected.model_version and r["format"] == result_format
    assert r["files"] == {"result": f"scored.{result_format}", "rejects": "rejects.csv"}

    scored = bench.job_file(done)
    assert scored.name == f"scored.{result_format}"
    pd.testing.assert_frame_equal(_read(scored), _read(tmp_path / f"expected.{result_format}"))
    rejects = _read(bench.job_file(done, "rejects"))
    assert rejects["row"].nunique() == r["rejected"]
    pd.testing.assert_frame_equal(rejects, _read(expected.rejects_path))
    assert {"roa"} <= set(rejects["column"])

    # the audit trail holds one request, the job's, with every scored row
    assert _heads(bench.audit) == [r["request_id"]]
    recorded = bench.audit.recent(1000)
    assert set(recorded["request_id"]) == {r["request_id"]} and len(recorded) == r["scored"]
    assert set(recorded["caller"]) == {CALLER} and set(recorded["source"]) == {"cli"}
    assert bench.verify_audit().ok


def test_an_open_binary_file_is_stored_under_the_name_given(bench, rows, tmp_path):
    data = _write(rows, tmp_path / "p.csv").read_bytes()
    job = bench.submit_upload(io.BytesIO(data), caller=CALLER, face="api", name="march.csv", result_format="parquet")
    assert job.params["name"] == "march.csv" and job.params["format"] == "parquet"
    assert Path(job.params["input"]).read_bytes() == data
    assert Worker(bench).run_one().state == "succeeded"


def test_job_file_says_why_there_is_no_file(bench, reference, rows, tmp_path):
    clean = _clean(rows, reference, tmp_path)
    job = bench.submit_upload(clean, caller=CALLER, face="cli")
    with pytest.raises(DataFileError, match=f"job {job.id} is queued: its files exist once it has succeeded"):
        bench.job_file(job)
    done = Worker(bench).run_one()
    assert done.state == "succeeded" and done.result["rejected"] == 0
    assert done.result["files"] == {"result": "scored.csv", "rejects": None}
    assert bench.job_file(done).is_file()
    with pytest.raises(DataFileError, match=f"job {job.id} has no rejects file: no row was rejected"):
        bench.job_file(done, "rejects")
    with pytest.raises(DataFileError, match="a job's files are its result and its rejects, not 'input'"):
        bench.job_file(done, "input")

    assert bench.expire_job_files(now=time.time() + 2 * DAYS) == [job.id]
    gone = bench.job(job.id)
    with pytest.raises(DataFileError, match=f"the files of job {job.id} were deleted: kept 24 h after the job"):
        bench.job_file(gone)

    failed = bench.submit_upload(_write(rows[["company_id", "fiscal_year"]], tmp_path / "ids.csv"), caller=CALLER,
                                 face="cli")
    assert Worker(bench).run_one().state == "failed"
    with pytest.raises(DataFileError, match=f"job {failed.id} is failed"):
        bench.job_file(bench.job(failed.id))


# ---------------------------------------------------------------------------
# what a job may read
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\x00\x01\x02\x03\xff\xfe\x00" * 200,
                                     b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8])
def test_an_upload_that_is_not_a_table_is_refused_and_leaves_nothing(bench, tmp_path, content):
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    with pytest.raises(DataFileError, match="upload.csv cannot be scored: "):
        bench.submit_upload(path, caller=CALLER, face="cli")
    with pytest.raises(DataFileError, match="cannot be scored"):
        bench.submit_upload(io.BytesIO(content), caller=CALLER, face="api")
    assert bench.jobs() == []
    root = bench.job_files.root
    assert not root.exists() or list(root.iterdir()) == []


def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(bench, tmp_path):
    small = Workbench(replace(bench.settings, jobs=replace(bench.settings.jobs, upload_max_mb=1)))
    path = tmp_path / "big.csv"
    path.write_bytes(b"company_id,roa\n" + b"C1,0.1\n" * 200_000)
    with pytest.raises(DataFileError, match=r"over 1 MB, the largest a job accepts \(\[jobs\] upload_max_mb\)"):
        small.submit_upload(path, caller=CALLER, face="cli")
    assert small.jobs() == [] and list(small.job_files.root.iterdir()) == []


@pytest.mark.parametrize("options, words", [({"lgd": 1.5}, "lgd=1.5 must be a share between 0 and 1"),
                                            ({"result_format": "xlsx"}, "format='xlsx' must be csv or parquet")])
def test_options_out_of_range_are_refused_and_leave_nothing(bench, rows, tmp_path, options, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        bench.submit_upload(_write(rows, tmp_path / "p.csv"), caller=CALLER, face="cli", **options)
    assert bench.jobs() == [] and list(bench.job_files.root.iterdir()) == []


def test_a_server_file_is_read_only_under_the_jobs_paths(bench, rows, shared, tmp_path):
    inside = _write(rows, shared / "portfolio.csv")
    outside = _write(rows, tmp_path / "elsewhere.csv")
    (shared / "link.csv").symlink_to(outside)
    for path in (outside, shared / ".." / "elsewhere.csv", shared / "link.csv"):
        with pytest.raises(DataFileError, match=r"only under the folders of \[jobs\] paths"):
            bench.submit_score(path, caller=CALLER, face="api")
    with pytest.raises(DataFileError, match="no such file on the server"):
        bench.submit_score(shared / "missing.csv", caller=CALLER, face="api")
    closed = Workbench(replace(bench.settings, jobs=JobRules()))
    with pytest.raises(DataFileError, match="none are set"):
        closed.submit_score(inside, caller=CALLER, face="api")
    assert bench.jobs() == []

    job = bench.submit_score(inside, caller=CALLER, face="api")
    assert job.params["stored"] is False and job.params["input"] == str(inside.resolve())
    done = Worker(bench).run_one()
    assert done.state == "succeeded" and done.result["scored"] + done.result["rejected"] == len(rows)
    assert _folder(bench, done) == ["rejects.csv", "scored.csv"]  # the server's file is read where it is

    assert bench.expire_job_files(now=time.time() + 2 * DAYS) == [job.id]
    assert inside.read_bytes() == outside.read_bytes()  # never deleted: it is not the job's
    (event,) = bench.audit.events(JobEvent)
    assert event.facts["input_deleted"] is False and event.facts["files"] == ["rejects.csv", "scored.csv"]


# ---------------------------------------------------------------------------
# cancelled, stopped, failed
# ---------------------------------------------------------------------------

def test_a_cancelled_queued_job_is_never_run(bench, rows, tmp_path):
    job = bench.submit_upload(_write(rows, tmp_path / "p.csv"), caller=CALLER, face="cli")
    cancelled = bench.cancel_job(job.id)
    assert cancelled.state == "cancelled" and cancelled.done and cancelled.finished > 0
    assert Worker(bench).run_one() is None
    after = bench.job(job.id)
    assert (after.state, after.attempts, after.result) == ("cancelled", 0, {})
    assert _folder(bench, after) == ["input.csv"] and _heads(bench.audit) == []
    assert bench.cancel_job(job.id).state == "cancelled"  # cancelling again changes nothing
    assert bench.cancel_job("0" * 32) is None


def test_a_job_cancelled_while_it_runs_stops_and_records_nothing(bench, rows, tmp_path):
    """The heartbeat (every 10 ms) notices the cancel; the next step stops the run before anything is kept."""
    job = bench.submit_upload(_write(rows, tmp_path / "p.csv"), caller=CALLER, face="cli")
    queue = bench.queue
    claimed = queue.claim("worker-1")
    before = _heads(bench.audit)
    steps: list[str] = []
    with Heartbeat(queue, claimed, every_s=0.01) as beat:
        step = beat.progress

        def progress(fraction: float, message: str) -> None:
            steps.append(message)
            if len(steps) == 1:
                other = threading.Thread(target=bench.cancel_job, args=(job.id,))
                other.start()
                other.join(60)
                noticed(beat)
            step(fraction, message)

        beat.progress = progress  # type: ignore[method-assign]
        with pytest.raises(JobStopped, match=f"job {job.id} was cancelled"):
            bench.run_job(claimed, beat)
    assert steps == ["reading and validating"]
    assert queue.finish(claimed, error="cancelled")
    ended = bench.job(job.id)
    assert (ended.state, ended.result) == ("cancelled", {})
    assert _folder(bench, ended) == ["input.csv"]
    assert _heads(bench.audit) == before and bench.audit.count() == 0 and bench.verify_audit().ok


def test_a_worker_whose_job_is_cancelled_mid_scoring_keeps_nothing(bench, rows, tmp_path):
    hooked = Hooked(bench.settings, _scoring)
    hooked.hook = cancel_from_another_thread(hooked)
    job = hooked.submit_upload(_write(rows, tmp_path / "p.csv"), caller=CALLER, face="cli")
    ended = Worker(hooked).run_one()
    assert hooked.fired and hooked.fired[0][0] == job.id
    assert (ended.state, ended.result, ended.attempts) == ("cancelled", {}, 1)
    assert _folder(hooked, ended) == ["input.csv"]  # no scored rows, no reject report, no temporary file
    assert _heads(hooked.audit) == [] and hooked.audit.count() == 0 and hooked.verify_audit().ok
    assert Worker(hooked).run_one() is None


def test_a_worker_stopped_mid_run_gives_the_job_back_then_it_runs_once(bench, rows, tmp_path):
    worker: list[Worker] = []

    def stop(job: Job, beat: Heartbeat) -> None:
        worker[0].stop()
        noticed(beat)

    hooked = Hooked(bench.settings, _scoring, stop)
    job = hooked.submit_upload(_write(rows, tmp_path / "p.csv"), caller=CALLER, face="cli")
    worker.append(Worker(hooked, name="stopping"))
    assert worker[0].serve(once=True) == 0  # it ran the job until told to stop, gave it back and ended none
    back = hooked.job(job.id)
    assert (back.state, back.attempts, back.worker, back.progress) == ("queued", 0, "", {})
    assert _folder(hooked, back) == ["input.csv"] and _heads(hooked.audit) == []

    done = Worker(bench, name="another").run_one()
    assert (done.id, done.state, done.attempts, done.worker) == (job.id, "succeeded", 1, "another")
    assert _heads(bench.audit) == [done.result["request_id"]]


@pytest.mark.parametrize("act", ["stop", "cancel"])
def test_a_stop_that_comes_once_the_scores_are_on_record_ends_the_job_succeeded(bench, rows, tmp_path, act):
    """Too late to stop: the request is committed and the files written, so the job is done, and never run again.

    Given back to the queue, it would be scored and recorded a second time; called cancelled, its scores would
    be on record under a job that says nothing was kept.
    """
    worker: list[Worker] = []

    def stop(job: Job, beat: Heartbeat) -> None:
        if act == "stop":
            worker[0].stop()
        else:
            bench.cancel_job(job.id)
            beat.beat()
        noticed(beat)

    hooked = Hooked(bench.settings, _done, stop)
    job = hooked.submit_upload(_write(rows, tmp_path / "p.csv"), caller=CALLER, face="cli")
    worker.append(Worker(hooked))
    ended = worker[0].run_one()
    assert hooked.fired and hooked.fired[0][1] == 1.0
    assert (ended.id, ended.state, ended.attempts) == (job.id, "succeeded", 1)
    assert _heads(hooked.audit) == [ended.result["request_id"]]
    assert hooked.job_file(ended).is_file()
    assert Worker(bench).run_one() is None


def test_an_engine_error_fails_the_job_with_its_reason_in_words(bench, rows, tmp_path):
    no_columns = bench.submit_upload(_write(rows[["company_id", "fiscal_year"]], tmp_path / "ids.csv"),
                                     caller=CALLER, face="cli")
    failed = Worker(bench).run_one()
    assert failed.id == no_columns.id and failed.state == "failed" and failed.result == {}
    assert failed.error.startswith("required column(s) 'sector' (Sector), 'region' (Region)")
    assert "are not in the file, so no row can be scored" in failed.error and "Traceback" not in failed.error
    assert _folder(bench, failed) == ["input.csv"]

    gone = bench.submit_upload(_write(rows, tmp_path / "p.csv"), caller=CALLER, face="cli")
    Path(gone.params["input"]).unlink()
    failed = Worker(bench).run_one()
    assert failed.id == gone.id and failed.state == "failed"
    assert failed.error == "the job's input 'p.csv' is no longer there; submit it again"

    unknown = bench.queue.submit("reindex", CALLER)
    failed = Worker(bench).run_one()
    assert failed.id == unknown.id and failed.state == "failed" and "'reindex'" in failed.error
    assert _heads(bench.audit) == [] and bench.verify_audit().ok


# ---------------------------------------------------------------------------
# the files' end
# ---------------------------------------------------------------------------

def test_the_files_of_an_old_job_are_deleted_on_record(bench, rows, tmp_path):
    job = bench.submit_upload(_write(rows, tmp_path / "p.csv"), caller=CALLER, face="cli")
    done = Worker(bench).run_one()
    assert bench.expire_job_files(now=time.time()) == []  # kept 24 hours
    names, size = _folder(bench, done), bench.job_files.size(job.id)
    assert names == ["input.csv", "rejects.csv", "scored.csv"] and size > 0
    # a folder an upload left without becoming a job, and a fresh one (an upload under way)
    stale, fresh = bench.job_files.receive(bench.job_files.new_id()), bench.job_files.receive(bench.job_files.new_id())
    stale.write_bytes(b"half an upload")
    fresh.write_bytes(b"an upload under way")
    old = time.time() - 3 * DAYS
    os.utime(stale.parent, (old, old))
    assert bench.expire_job_files(now=time.time()) == []
    assert not stale.parent.exists() and fresh.exists() and _folder(bench, done) == names

    later = time.time() + 2 * DAYS
    assert bench.expire_job_files(actor="worker w1", now=later) == [job.id]
    assert not bench.job_files.folder(job.id).exists()
    gone = bench.job(job.id)
    assert gone.state == "succeeded" and gone.result["files_deleted"] == later
    assert gone.result["files_deleted_reason"] == "kept 24 h after the job ended"
    assert gone.result["request_id"] == done.result["request_id"]  # the row and its counts stay

    (event,) = bench.audit.events(JobEvent)
    assert (event.event, event.job_id, event.actor) == ("results_deleted", job.id, "worker w1")
    assert event.facts == {"files": names, "bytes": size, "kept_hours": 24.0, "finished": done.finished,
                           "input_deleted": True}
    assert bench.verify_audit().ok
    heads = _heads(bench.audit)
    assert len(heads) == 2 and heads[0] == done.result["request_id"]  # the scores, then the record of the deletion
    assert bench.expire_job_files(now=later + DAYS) == []  # deleted once, recorded once
    assert len(bench.audit.events(JobEvent)) == 1


def test_a_backlog_of_old_jobs_is_deleted_to_the_last_one(tmp_path):
    """More jobs than one call deletes (500): the next calls take the rest, never the same ones again."""
    bench = Workbench(Settings(home=tmp_path / "home"))
    queue = bench.queue
    ids = set()
    for _ in range(520):
        queue.submit("score", CALLER, {"input": "x.csv"})
        job = queue.claim("w1")
        queue.finish(job, {"rows": 1})
        ids.add(job.id)
    later = time.time() + 2 * DAYS
    first = bench.expire_job_files(now=later)
    second = bench.expire_job_files(now=later)
    assert len(first) == 500 and set(first) | set(second) == ids and not set(first) & set(second)
    assert bench.expire_job_files(now=later) == [] and len(bench.audit.events(JobEvent)) == 520
    assert all(j.result["files_deleted"] == later for j in queue.list(limit=1000))


def test_a_retraining_run_has_no_files_to_delete(tmp_path):
    """Its report stays with the reports: nothing is deleted, nothing is recorded as deleted."""
    bench = Workbench(Settings(home=tmp_path / "home"))
    bench.submit_retrain(caller=CALLER, trigger="command")
    job = bench.queue.claim("w1")
    bench.queue.finish(job, {"decision": "stopped"})
    assert bench.expire_job_files(now=time.time() + 2 * DAYS) == []
    assert bench.job(job.id).result == {"decision": "stopped"} and bench.audit.events(JobEvent) == []
