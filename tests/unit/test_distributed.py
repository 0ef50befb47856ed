"""riskcore.serving.distributed on a LocalCluster of 2 worker processes (127.0.0.1 only), started and closed here.

A partitioned portfolio scored on the cluster gets the scores, rejects and monitoring statistics of one
process on the same rows; the job is one audit request that verifies; a worker lost mid-job leaves nothing
under the output name and nothing in the audit trail.
"""

from __future__ import annotations

import json
import os

import dask
import numpy as np
import pandas as pd
import pytest
from distributed.diagnostics.plugin import WorkerPlugin
from models import demo_panel, panel_runs

from riskcore.data.tabular import write_csv
from riskcore.errors import ClusterError, DataFileError, MissingColumnError
from riskcore.evaluation.monitoring import monitor
from riskcore.modelling.bundle import load_bundle
from riskcore.serving.audit import AuditLog
from riskcore.serving.batch import FileRequest, score_in_chunks
from riskcore.serving.cluster import cluster_failures, open_cluster, partition_files
from riskcore.serving.distributed import MANIFEST, REJECTS, monitor_partitions, score_partitions
from riskcore.serving.monitor import MonitorSink

ID, YEAR = "company_id", "fiscal_year"

pytestmark = pytest.mark.slow  # a local Dask cluster of two worker processes


@pytest.fixture(scope="module")
def client():
    """Two worker processes; a worker lost while running a task fails its job at once (no retry)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), open_cluster(None, workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def data(model_cache, tmp_path_factory):
    """A quick model, and its later years as one CSV and as 4 partitions by company (3 CSV, 1 Parquet).

    Three cells are made invalid so that some rows are rejected.
    """
    folder = tmp_path_factory.mktemp("distributed")
    result, portfolio = _lightgbm_model(model_cache, folder)
    frame = portfolio.later.frame.sort_values([ID, YEAR], kind="stable").reset_index(drop=True)
    numeric = next(c for c in frame.columns if c not in (ID, YEAR) and pd.api.types.is_float_dtype(frame[c]))
    frame[numeric] = frame[numeric].astype(object)
    frame.loc[[5, len(frame) // 2, len(frame) - 3], numeric] = "not a number"
    companies = frame[ID].unique()
    parts = folder / "parts"
    parts.mkdir()
    for k, chunk in enumerate(np.array_split(companies, 4)):
        rows = frame[frame[ID].isin(chunk)]
        if k == 3:
            rows.astype({numeric: str}).to_parquet(parts / f"p{k}.parquet", index=False)
        else:
            write_csv(rows, parts / f"p{k}.csv")
    (parts / "_SUCCESS").write_text("")
    whole = pd.concat([pd.read_parquet(p).astype({numeric: object}) if p.suffix == ".parquet"
                       else pd.read_csv(p, dtype=str) for p in partition_files(parts)], ignore_index=True)
    write_csv(whole, folder / "whole.csv")
    return {"bundle": load_bundle(result.bundle_dir), "folder": folder, "parts": parts, "whole": folder / "whole.csv"}


def _lightgbm_model(cache, folder):
    """A quick LightGBM model on the 800 demo companies other modules share, and their two later years.

    A tree model's score of a row does not depend on the other rows scored with it; a logistic model's
    does, in the last bit, through the BLAS kernel (see the module docstring of riskcore.serving.distributed).
    """
    return panel_runs(cache)["challenger"].copy_to(folder / "models"), demo_panel(cache)


def _request() -> FileRequest:
    return FileRequest(face="cli", caller="cli:test")


def _local(data, tmp_path, source, **kw):
    audit = AuditLog("sqlite:///" + str(tmp_path / "local.db"))
    return score_in_chunks(data["bundle"], source, FileRequest(face="cli", caller="cli:test", **kw), audit=audit)


def test_partitions_are_the_data_files_of_a_folder_in_order(data):
    found = partition_files(data["parts"])
    assert [p.name for p in found] == ["p0.csv", "p1.csv", "p2.csv", "p3.parquet"]
    assert partition_files(str(data["parts"] / "p*.csv")) == found[:3]
    with pytest.raises(DataFileError, match="no CSV or Parquet partitions"):
        partition_files(data["folder"] / "nothing-*.csv")


def test_an_unreachable_scheduler_is_a_cluster_error_that_says_what_to_do():
    with pytest.raises(ClusterError, match="no Dask scheduler answered at 'tcp://127.0.0.1:9'.*--scheduler"), \
            open_cluster("tcp://127.0.0.1:9", timeout=1):
        pass


@pytest.mark.parametrize(("reason", "said"), [
    # the last worker holding the broadcast bundle died: what needed it is cancelled, not retried
    ("lost dependencies", "a worker died while working on a partition.*nothing was recorded.*more memory"),
    ("scheduler-connection-lost", "the connection to the Dask cluster was lost.*nothing was recorded"),
])
def test_a_cancelled_partition_says_whether_a_worker_died_or_the_cluster_was_lost(reason, said):
    from distributed.client import FutureCancelledError

    with pytest.raises(ClusterError, match=said), cluster_failures("scoring 4 partition(s) on the cluster"):
        raise FutureCancelledError("riskcore-score-00000", reason)


@pytest.fixture(scope="module")
def scored(client, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scored")
    audit = AuditLog("sqlite:///" + str(folder / "audit.db"))
    key = f"riskcore-bundle-{data['bundle'].manifest_hash}"
    holders: list[int] = []

    def progress(fraction, message):
        if fraction < 1.0:
            holders.append(len(client.who_has().get(key, ())))

    job = score_partitions(data["bundle"], data["parts"], folder / "out", client=client, audit=audit,
                           request=FileRequest(face="cli", caller="cli:test", progress=progress))
    job.holders = holders
    return job, audit, folder / "out"


def test_distributed_scores_equal_local_scores_exactly(data, scored, tmp_path):
    job, _, out = scored
    local = _local(data, tmp_path, data["whole"], output=tmp_path / "local.parquet")
    mine = pd.read_parquet(out).sort_values([ID, YEAR], kind="stable").reset_index(drop=True)
    theirs = pd.read_parquet(tmp_path / "local.parquet").sort_values([ID, YEAR], kind="stable") \
        .reset_index(drop=True)
    assert len(mine) == len(theirs) == job.n_scored == local.n_scored > 0
    assert (mine[ID].to_numpy() == theirs[ID].to_numpy()).all()
    assert (mine["p_default"].to_numpy() == theirs["p_default"].to_numpy()).all()
    assert (mine["score_raw"].to_numpy() == theirs["score_raw"].to_numpy()).all()
    assert (mine["grade"] == theirs["grade"]).all() and (mine["decision"] == theirs["decision"]).all()
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, REJECTS, *(f"part-{i:05d}.parquet" for i in range(4))]
    assert job.tally.n_rows == local.tally.n_rows and job.tally.n_refer == local.tally.n_refer


def test_rejects_equal_those_of_each_partition_scored_locally(data, scored, tmp_path):
    job, _, out = scored
    each = []
    for k, part in enumerate(partition_files(data["parts"])):
        (tmp_path / str(k)).mkdir()
        each.append(_local(data, tmp_path / str(k), part).rejects.assign(partition=str(part)))
    expected = pd.concat([r for r in each if len(r)], ignore_index=True)[job.rejects.columns]
    assert job.n_rejected == 3
    pd.testing.assert_frame_equal(job.rejects.reset_index(drop=True), expected)
    written = pd.read_csv(out / REJECTS, dtype=str)
    assert written["row"].astype(int).tolist() == job.rejects["row"].tolist()


def test_the_job_is_one_audit_request_that_verifies(client, scored):
    job, audit, out = scored
    checked = audit.verify()
    assert checked.ok and audit.count() == job.n_scored
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["audit_request"] == job.request_id
    parts = manifest["partitions"]
    assert [p["output"] for p in parts] == [f"part-{i:05d}.parquet" for i in range(4)]
    starts = sorted((p["first_audit_row"], p["n_scored"]) for p in parts)
    assert starts[0][0] == 1 and all(a + n == b for (a, n), (b, _) in zip(starts, starts[1:]))
    assert sum(p["n_scored"] for p in parts) == job.n_scored
    assert {p["worker"] for p in parts} <= set(client.scheduler_info(n_workers=-1)["workers"])


def test_the_bundle_is_on_every_worker_while_the_job_runs_and_released_after(client, data, scored):
    job = scored[0]
    # broadcast to both workers while partitions are scored. A report can come before the broadcast
    # settles, and near the end Dask's active memory manager drops the copy of a worker with no task
    # left that needs it (seen on a loaded machine: [2, 2, 2, 1]), so only the maximum is certain.
    assert job.holders and max(job.holders) == 2
    assert f"riskcore-bundle-{data['bundle'].manifest_hash}" not in client.who_has()


def test_merged_drift_statistics_equal_one_process(client, data, tmp_path):
    bundle = data["bundle"]
    audit = AuditLog("sqlite:///" + str(tmp_path / "audit.db"))
    job, merged = monitor_partitions(bundle, data["parts"], client=client, audit=audit, request=_request())
    one = MonitorSink(bundle.reference, bundle.spec)
    local = _local(data, tmp_path, data["whole"], sink=one)
    assert job.n_scored == local.n_scored == merged.counts.n == one.counts.n
    assert merged.period_found and one.period_found
    pd.testing.assert_frame_equal(merged.counts.rows(), one.counts.rows())

    def report(sink):
        return json.dumps(monitor(sink.counts, model_version=bundle.version, period_column=YEAR,
                                  source="portfolio").as_dict(), default=str, sort_keys=True)

    assert report(merged) == report(one)
    assert audit.verify().ok and audit.count() == job.n_scored


def test_companies_spread_over_partitions_are_refused_before_anything_is_recorded(client, data, tmp_path):
    whole = pd.read_csv(data["whole"], dtype=str)
    by_year = tmp_path / "by_year"
    by_year.mkdir()
    for year, rows in whole.groupby(YEAR):
        write_csv(rows, by_year / f"{year}.csv")
    audit = AuditLog("sqlite:///" + str(tmp_path / "audit.db"))
    with pytest.raises(DataFileError, match="have rows in more than one partition.*partition the portfolio by "
                                            "'company_id'"):
        score_partitions(data["bundle"], by_year, tmp_path / "out", client=client, audit=audit, request=_request())
    assert not (tmp_path / "out").exists() and audit.count() == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_unusable_partition_fails_the_job_naming_it_and_leaves_nothing(client, data, tmp_path):
    bundle = data["bundle"]
    required = next(f.name for f in bundle.spec.features if f.required and f.name not in (ID, YEAR))
    parts = tmp_path / "parts"
    parts.mkdir()
    for k, part in enumerate(partition_files(data["parts"])[:3]):
        frame = pd.read_csv(part, dtype=str)
        write_csv(frame.drop(columns=[required]) if k == 1 else frame, parts / part.name)
    audit = AuditLog("sqlite:///" + str(tmp_path / "audit.db"))
    with pytest.raises(MissingColumnError, match=f"partition {parts / 'p1.csv'}: required column.*{required}"):
        score_partitions(bundle, parts, tmp_path / "out", client=client, audit=audit, request=_request())
    assert not (tmp_path / "out").exists() and audit.count() == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


class _DieOnPartition(WorkerPlugin):
    """Ends the worker process the moment it starts scoring the given partition."""

    name = "riskcore-test-die"

    def __init__(self, index: int):
        self.index = index

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith("riskcore-score-") and str(key).endswith(
                f"-{self.index:05d}"):
            os._exit(1)


def test_a_worker_killed_mid_job_fails_cleanly_with_no_output(client, data, tmp_path):
    audit = AuditLog("sqlite:///" + str(tmp_path / "audit.db"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "earlier.parquet").write_bytes(b"an earlier job's output")
    client.register_plugin(_DieOnPartition(2))
    try:
        with pytest.raises(ClusterError, match="a worker died while working on a partition.*nothing was recorded"):
            score_partitions(data["bundle"], data["parts"], tmp_path / "out", client=client, audit=audit,
                             request=_request(), in_flight=2)
    finally:
        client.unregister_worker_plugin(_DieOnPartition.name)
        client.wait_for_workers(2, timeout=60)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["earlier.parquet"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert audit.count() == 0 and audit.verify().ok


def test_the_score_command_on_dask_writes_the_same_scores(data, scored, tmp_path, monkeypatch, capsys):
    """``python -m riskcore score --engine dask``: the user's command, its own 2 local workers, its exit status."""
    from riskcore.cli import main

    monkeypatch.setenv("RISKCORE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKCORE_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    status = main(["score", "--engine", "dask", "--workers", "2", "--model", str(data["bundle"].path),
                   "--input", str(data["parts"]), "--output", str(tmp_path / "out")])
    assert status == 1  # three rows are rejected on purpose
    assert "audit request" in capsys.readouterr().out
    _, _, expected = scored
    mine = pd.read_parquet(tmp_path / "out").sort_values([ID, YEAR], kind="stable").reset_index(drop=True)
    theirs = pd.read_parquet(expected).sort_values([ID, YEAR], kind="stable").reset_index(drop=True)
    assert (mine["p_default"].to_numpy() == theirs["p_default"].to_numpy()).all()
    assert main(["audit", "verify"]) == 0


def test_the_monitor_command_on_dask_reports_what_one_process_reports(client, data, tmp_path, monkeypatch):
    """``monitor --engine dask --data FOLDER`` and ``monitor --data FILE`` on the same rows: the same report.

    The dask run goes to the module's cluster by its scheduler's address (``--scheduler``), as on a shared cluster;
    the score command above starts its own workers.
    """
    from riskcore.cli import main

    monkeypatch.setenv("RISKCORE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKCORE_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    model = str(data["bundle"].path)
    local = main(["monitor", "--model", model, "--data", str(data["whole"]), "--out", str(tmp_path / "one"),
                  "--no-mlflow"])
    dask_ = main(["monitor", "--engine", "dask", "--scheduler", client.scheduler.address, "--model", model,
                  "--data", str(data["parts"]), "--out", str(tmp_path / "two"), "--no-mlflow"])
    assert local == dask_ and local in (0, 1)

    def comparable(folder):
        found = json.loads((folder / "monitor.json").read_text(encoding="utf-8"))
        return {k: v for k, v in found.items() if k not in ("audit_request", "source", "created_at", "timings")}

    one, two = comparable(tmp_path / "one"), comparable(tmp_path / "two")
    assert one.keys() == two.keys()
    assert {k: v for k, v in one.items() if one[k] != two[k]} == {}
    assert main(["audit", "verify"]) == 0
