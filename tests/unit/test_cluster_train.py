"""riskcore.modelling.cluster_train on a LocalCluster of 2 worker processes (127.0.0.1 only), started and closed here.

A portfolio of 1,500 demo companies written as 3 partitions by company is trained on the cluster (XGBoost
through ``xgboost.dask``, the statistics that need rows in one place on a stratified sample of about half
the rows) and in one process (the local XGBoost candidate) on the same rows: the two models' test AUCs
agree within 0.01, the cluster's bundle loads and scores, the run is registered in MLflow, and its summary
and metrics say what came from the sample.
"""

from __future__ import annotations

import json

import dask
import numpy as np
import pandas as pd
import pytest
from models import quick
from samples import SEED

from riskcore.config import TrainingConfig
from riskcore.data.schema import DEMO_SPEC
from riskcore.data.tabular import read_table, write_csv
from riskcore.errors import ConfigError, DataFileError
from riskcore.modelling.bundle import load_bundle
from riskcore.modelling.cluster_tasks import merge_notes
from riskcore.modelling.cluster_train import SAMPLED_STATISTICS, train_on_cluster
from riskcore.modelling.sampling import stratified_sample
from riskcore.modelling.tracking import Tracker
from riskcore.modelling.train import train
from riskcore.numeric import roc_auc
from riskcore.serving.cluster import open_cluster, partition_files
from riskcore.serving.scoring import score_frame

ID, YEAR = DEMO_SPEC.id, DEMO_SPEC.time

pytestmark = pytest.mark.slow  # a local Dask cluster of two worker processes
SAMPLE_ROWS = 4_000
CONFIG = quick("xgboost")


@pytest.fixture(scope="module")
def client():
    """Two worker processes; a worker lost while running a task fails its job at once (no retry)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), open_cluster(None, workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def portfolio(small_portfolio, tmp_path_factory):
    """1,500 demo companies as 3 CSV partitions by company, and the same rows as one file."""
    folder = tmp_path_factory.mktemp("cluster_train")
    frame = small_portfolio.frame
    parts = folder / "parts"
    parts.mkdir()
    chunks = [frame[frame[ID].isin(c)] for c in np.array_split(frame[ID].unique(), 3)]
    for k, rows in enumerate(chunks):
        write_csv(rows, parts / f"part-{k}.csv")
    write_csv(pd.concat(chunks, ignore_index=True), folder / "whole.csv")
    return {"folder": folder, "parts": parts, "whole": folder / "whole.csv", "frame": frame}


@pytest.fixture(scope="module")
def runs(client, portfolio):
    """The cluster run (registered in MLflow) and the local XGBoost run on the same rows."""
    folder = portfolio["folder"]
    tracker = Tracker("sqlite:///" + str(folder / "mlflow.db"), folder / "mlartifacts")
    steps: list[str] = []
    cluster = train_on_cluster(partition_files(portfolio["parts"]), DEMO_SPEC, client=client, config=CONFIG,
                               models_dir=folder / "models", tracker=tracker, sample_rows=SAMPLE_ROWS,
                               progress=lambda fraction, message: steps.append(message),
                               source=str(portfolio["parts"]))
    local = train(read_table(portfolio["whole"]), DEMO_SPEC, config=CONFIG, models_dir=folder / "models")
    return {"cluster": cluster, "local": local, "tracker": tracker, "steps": steps}


def test_the_dask_trained_model_is_within_001_test_auc_of_the_local_xgboost_candidate(runs):
    cluster, local = runs["cluster"], runs["local"]
    for part in ("train", "validation", "test"):
        assert len(cluster.split.part(part)) == len(local.split.part(part))
    assert cluster.split.periods == local.split.periods
    assert cluster.metrics["model"]["kind"] == local.metrics["model"]["kind"] == "xgboost"
    assert abs(cluster.metrics["test"]["auc"] - local.metrics["test"]["auc"]) <= 0.01
    assert cluster.metrics["test"]["auc"] > 0.75


def test_the_booster_learnt_from_every_training_row_and_the_search_from_the_sample(runs):
    cluster = runs["cluster"]
    info = cluster.metrics["cluster"]
    assert info["rows"] == len(cluster.split.train) + len(cluster.split.validation) + len(cluster.split.test)
    assert SAMPLE_ROWS <= info["sample"]["rows"] < info["rows"]
    assert cluster.metrics["data"]["rows"] == info["rows"]
    assert any("training XGBoost on" in s and f"{len(cluster.split.train):,} rows" in s for s in runs["steps"])
    bundle_info = json.loads((cluster.bundle_dir / "bundle.json").read_text())
    assert bundle_info["training_rows"] == len(cluster.split.train)
    assert cluster.quality.n_rows == info["sample"]["rows"]  # the quality report is the sample's


def test_the_bundle_loads_and_scores_like_the_run_measured_it(runs, portfolio):
    cluster = runs["cluster"]
    bundle = load_bundle(cluster.bundle_dir)
    assert bundle.kind == "xgboost"
    scored = score_frame(bundle, read_table(portfolio["whole"])).scores
    test_years = cluster.split.periods["test"]
    outcome = portfolio["frame"][[ID, YEAR, DEMO_SPEC.target]].drop_duplicates([ID, YEAR])
    rows = scored[scored[YEAR].isin(test_years)].drop(columns=DEMO_SPEC.target, errors="ignore").merge(
        outcome, on=[ID, YEAR])
    assert 0.95 * len(cluster.split.test) <= len(rows) <= len(cluster.split.test) + 20
    assert abs(roc_auc(rows[DEMO_SPEC.target].to_numpy(), rows["p_default"].to_numpy())
               - cluster.metrics["test"]["auc"]) < 0.005
    assert cluster.metrics["calibration"]["fitted_on"] == "validation"
    assert cluster.metrics["calibration"]["rows"] == len(cluster.split.validation)


def test_the_run_is_registered_in_mlflow_like_any_other(runs):
    cluster = runs["cluster"]
    assert cluster.run_id and cluster.registry_version
    assert cluster.promoted  # the first model of the registry becomes the champion
    assert runs["tracker"].champion().model_version == cluster.model_version


def test_the_summary_and_the_metrics_name_the_sample(runs):
    cluster = runs["cluster"]
    text = cluster.summary()
    n = cluster.metrics["cluster"]["sample"]["rows"]
    assert f"stratified sample of {n:,} of {cluster.metrics['cluster']['rows']:,} rows" in text
    assert "strata part × period × outcome" in text
    assert "calibrated on the validation rows" in text
    assert cluster.metrics["cluster"]["from_sample"] == list(SAMPLED_STATISTICS)
    assert set(cluster.metrics["cluster"]["gathered_heldout_columns"]) == {"y", "score_raw", DEMO_SPEC.segment,
                                                                           DEMO_SPEC.exposure, DEMO_SPEC.oracle}


def test_companies_split_across_partitions_are_refused(client, portfolio, tmp_path):
    frame = portfolio["frame"]
    early = frame[YEAR] < frame[YEAR].median()
    write_csv(frame[early], tmp_path / "early.csv")
    write_csv(frame[~early], tmp_path / "late.csv")
    with pytest.raises(DataFileError, match=f"more than one partition.*partition the portfolio by '{ID}'"):
        train_on_cluster([tmp_path / "early.csv", tmp_path / "late.csv"], DEMO_SPEC, client=client, config=CONFIG,
                         models_dir=tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_smote_is_refused_before_any_work(client, portfolio, tmp_path):
    with pytest.raises(ConfigError, match="SMOTE"):
        train_on_cluster(partition_files(portfolio["parts"]), DEMO_SPEC, client=client,
                         config=TrainingConfig.quick(smote=True), models_dir=tmp_path)


def test_the_stratified_sample_keeps_every_stratum_and_its_share():
    rng = np.random.default_rng(SEED)
    strata = pd.DataFrame({"part": rng.choice(["train", "validation", "test"], 20_000, p=[0.75, 0.125, 0.125]),
                           "period": rng.integers(2015, 2025, 20_000), "y": (rng.random(20_000) < 0.03).astype(int)})
    strata.loc[7, ["part", "period", "y"]] = ["test", 2030, 1]  # a stratum of one row
    picked = stratified_sample(strata, 2_000, random_state=SEED)
    assert np.array_equal(picked, np.unique(picked))
    assert 2_000 <= len(picked) <= 2_000 + strata.groupby(list(strata.columns)).ngroups
    assert 7 in picked
    full = strata.value_counts(normalize=True)
    share = strata.iloc[picked].value_counts(normalize=True).reindex(full.index)
    assert share.notna().all()
    assert np.abs(share - full).max() < 0.002
    assert np.array_equal(picked, stratified_sample(strata, 2_000, random_state=SEED))
    assert not np.array_equal(picked, stratified_sample(strata, 2_000, random_state=SEED + 1))
    assert np.array_equal(stratified_sample(strata.head(500), 2_000, random_state=SEED), np.arange(500))


def test_the_partitions_cleaning_notes_add_up():
    notes = ["3 invalid cell(s) set to missing", "1 exact duplicate row(s) removed",
             "2 invalid cell(s) set to missing", "a note without a count", "a note without a count"]
    assert merge_notes(notes) == ["5 invalid cell(s) set to missing", "1 exact duplicate row(s) removed",
                                  "a note without a count"]


def test_the_train_command_on_dask_registers_a_model_that_scores(client, portfolio, tmp_path, monkeypatch, capsys):
    """``python -m riskcore train --engine dask --scheduler ADDRESS --data FOLDER``: the user's command, end to end.

    On the module's cluster: ``--workers`` (a local cluster the command starts) is the same option of the same
    commands, and tests/unit/test_distributed.py starts one with it.
    """
    from riskcore.cli import main

    monkeypatch.setenv("RISKCORE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKCORE_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    status = main(["train", "--engine", "dask", "--scheduler", client.scheduler.address, "--data",
                   str(portfolio["parts"]), "--quick", "--sample-rows", "3000", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "partition" in out and "sample" in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["model"]["kind"] == "xgboost" and metrics["cluster"]["from_sample"]
    assert main(["models", "list"]) == 0 and "xgboost" in capsys.readouterr().out
    assert main(["score", "--input", str(portfolio["whole"]), "--output", str(tmp_path / "scored.csv")]) in (0, 1)
