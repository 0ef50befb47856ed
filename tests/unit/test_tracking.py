"""The experiment store's failures: a store that cannot be used is a TrackingError, a bug stays a bug."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from sqlalchemy.exc import OperationalError

from riskcore.errors import ModelNotFoundError, TrackingError
from riskcore.modelling.tracking import Tracker, load_champion


def _tracker(tmp_path: Path, uri: str | None = None) -> Tracker:
    return Tracker(uri or "sqlite:///" + str(tmp_path / "mlflow.db"), tmp_path / "mlartifacts")


class _Client:
    """A stand-in MLflow client whose every call raises ``error``."""

    def __init__(self, error: Exception):
        self.error = error

    def __getattr__(self, name):
        def call(*args, **kwargs):
            raise self.error

        return call


def _failing(tmp_path: Path, error: Exception) -> Tracker:
    tracker = _tracker(tmp_path)
    tracker._client = _Client(error)
    tracker._experiment_id = "1"
    return tracker


def test_a_fresh_store_has_no_champion_and_no_runs(tmp_path):
    tracker = _tracker(tmp_path)
    assert tracker.champion() is None
    assert tracker.runs().empty
    with pytest.raises(ModelNotFoundError, match="no champion model yet"):
        load_champion(tracker)


def test_an_unsupported_store_url_is_a_tracking_error(tmp_path):
    with pytest.raises(TrackingError, match="cannot open the experiment store 'bogus://nowhere'"):
        _ = _tracker(tmp_path, "bogus://nowhere").client


def test_a_damaged_sqlite_store_is_a_tracking_error(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"this is not a database" * 64)
    with pytest.raises(TrackingError, match="is not a database"):
        _tracker(tmp_path).champion()


def test_a_folder_where_the_store_should_be_is_a_tracking_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrackingError, match="cannot open the experiment store"):
        _ = _tracker(tmp_path, "sqlite:///" + str(tmp_path / "file" / "mlflow.db")).client


@pytest.mark.parametrize("code", [RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE])
def test_no_champion_only_when_the_registry_says_so(tmp_path, code):
    assert _failing(tmp_path, MlflowException("not found", error_code=code)).champion() is None


def test_a_registry_that_does_not_answer_is_not_read_as_no_champion(tmp_path):
    tracker = _failing(tmp_path, MlflowException("connection refused", error_code=INTERNAL_ERROR))
    with pytest.raises(TrackingError, match="cannot read the model registry.*connection refused"):
        tracker.champion()


@pytest.mark.parametrize("error", [MlflowException("store down"), OperationalError("SELECT", {}, Exception("locked")),
                                   OSError("disk full")], ids=["mlflow", "sqlalchemy", "os"])
@pytest.mark.parametrize("call,message", [
    (lambda t: t.log_run(run_name="r", params={}, metrics={}, tags={}, candidates=[], bundle_dir=Path(".")),
     "could not log the run"),
    (lambda t: t.register(run_id="r", bundle_dir=Path("."), bundle_hash="h", model_version="v"),
     "could not register the model"),
    (lambda t: t.set_champion("1"), "could not set the champion"),
    (lambda t: t.promote_run("r"), "cannot read the model registry"),
    (lambda t: t.runs(), "cannot read runs"),
    (lambda t: t.run("r"), "cannot read run 'r'"),
], ids=["log_run", "register", "set_champion", "promote_run", "runs", "run"])
def test_store_failures_are_tracking_errors_with_their_message(tmp_path, error, call, message):
    with pytest.raises(TrackingError, match=message):
        call(_failing(tmp_path, error))


def test_registry_versions_of_an_unreadable_registry_are_empty(tmp_path):
    frame = _failing(tmp_path, MlflowException("store down")).registry_versions()
    assert frame.empty and list(frame.columns) == ["version", "run_id", "model_version", "bundle_hash", "champion",
                                                 "previous_champion"]


def test_a_bug_is_not_disguised_as_a_store_failure(tmp_path):
    with pytest.raises(RuntimeError, match="a bug"):
        _failing(tmp_path, RuntimeError("a bug")).runs()


def test_promote_a_run_without_a_registered_version(tmp_path):
    with pytest.raises(ModelNotFoundError, match="has no registered model version"):
        _tracker(tmp_path).promote_run("0" * 32)


def _report(version: str, score_psi: float, statuses: list[str]) -> dict:
    """A monitoring report's plain data, as record_monitoring hands it over (NaN already None)."""
    return {"model_version": version, "n": 1200, "periods": [2025, 2026], "source": "later.csv",
            "score": {"psi": score_psi, "status": "stable"}, "grade_psi": 0.02,
            "features": [{"name": "roa", "psi": 0.3, "status": "act"}, {"name": "esg", "psi": 0.12, "status": "watch"},
                         {"name": "age", "psi": None, "status": "stable"}],
            "expected": {"default_rate": 0.061, "auc": 0.81}, "realized": None,
            "alerts": [{"rule": r, "status": s, "detail": ""} for r, s in
                       zip(["feature_psi", "score_psi", "auc_drop"], statuses, strict=False)]}


def test_monitoring_runs_go_to_their_own_experiment_and_read_back(tmp_path):
    tracker = _tracker(tmp_path)
    monitoring = tracker.monitoring()
    assert monitoring.experiment == "riskcore-monitoring" and monitoring.monitoring() is monitoring
    assert tracker.monitoring_runs().empty
    first = monitoring.log_monitoring(_report("v1", 0.03, ["fail", "pass", "warn"]), model_version="v1",
                                      bundle_hash="h1", summary="the summary")
    second = monitoring.log_monitoring(_report("v2", 0.04, ["pass", "warn"]), model_version="v2", bundle_hash="h2")
    third = monitoring.log_monitoring(_report("v1", 0.05, ["pass", "pass"]), model_version="v1", bundle_hash="h1")
    assert tracker.runs().empty  # the training experiment holds no monitoring run
    runs = tracker.monitoring_runs()
    assert list(runs["run_id"]) == [third, second, first]  # newest first
    v1 = tracker.monitoring_runs("v1")
    assert list(v1["run_id"]) == [third, first]
    row = v1.iloc[1]
    assert (row["tags.model_version"], row["tags.bundle_hash"], row["tags.worst_alert"]) == ("v1", "h1", "fail")
    assert row["tags.periods"] == "2025,2026" and row["tags.source"] == "later.csv"
    assert (row["metrics.score_psi"], row["metrics.max_feature_psi"], row["metrics.rows"]) == (0.03, 0.3, 1200)
    assert (row["metrics.features_act"], row["metrics.features_watch"]) == (1, 1)
    assert (row["metrics.alerts_failed"], row["metrics.alerts_warned"]) == (1, 1)
    assert "metrics.realized_auc" not in v1 or v1["metrics.realized_auc"].isna().all()
    assert v1.iloc[0]["tags.worst_alert"] == "pass" and runs.iloc[1]["tags.worst_alert"] == "warn"
    assert tracker.monitoring_report(first) == _report("v1", 0.03, ["fail", "pass", "warn"])
    assert tracker.monitoring_runs("v3").empty


def test_the_report_of_an_unknown_monitoring_run_is_a_tracking_error(tmp_path):
    with pytest.raises(TrackingError, match="cannot read the monitoring report of run '0+'"):
        _tracker(tmp_path).monitoring_report("0" * 32)


def test_a_store_failure_while_logging_monitoring_is_a_tracking_error(tmp_path):
    tracker = Tracker("sqlite:///" + str(tmp_path / "mlflow.db"), tmp_path / "mlartifacts",
                      experiment="riskcore-monitoring")
    tracker._client = _Client(MlflowException("store down"))
    tracker._experiment_id = "1"
    with pytest.raises(TrackingError, match="could not log the monitoring run to .*store down"):
        tracker.log_monitoring(_report("v1", 0.1, []), model_version="v1", bundle_hash="h")
    with pytest.raises(TrackingError, match="cannot read runs"):
        tracker.monitoring_runs()
