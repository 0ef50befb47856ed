"""The experiment store's failures: a store that cannot be used is a TrackingError, a bug stays a bug.

The tests that open a real store (the ``store`` fixture) run on a SQLite file and again on a fresh PostgreSQL
database (see tests/databases.py); the tests with a stand-in client stay on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from databases import BACKENDS, new_database
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from sqlalchemy.exc import OperationalError

from riskcore.errors import ModelNotFoundError, TrackingError
from riskcore.modelling.tracking import CHAMPION, PREVIOUS_CHAMPION, Tracker, load_champion


def _tracker(tmp_path: Path, uri: str | None = None) -> Tracker:
    return Tracker(uri or "sqlite:///" + str(tmp_path / "mlflow.db"), tmp_path / "mlartifacts")


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path) -> Iterator[str]:
    """The URI of a fresh, empty experiment store: a SQLite file, and a PostgreSQL database."""
    db = new_database(request.param, tmp_path, "mlflow")
    yield db.url
    db.drop()


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


def test_a_fresh_store_has_no_champion_and_no_runs(tmp_path, store):
    tracker = _tracker(tmp_path, store)
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


def test_promote_a_run_without_a_registered_version(tmp_path, store):
    with pytest.raises(ModelNotFoundError, match="has no registered model version"):
        _tracker(tmp_path, store).promote_run("0" * 32)


def _registered(tracker: Tracker, bundle_dir: Path, model_version: str) -> str:
    """Log a run with ``bundle_dir`` as its bundle and register it; the registry version."""
    run_id = tracker.log_run(run_name=model_version, params={"kind": "logistic"}, metrics={"auc": 0.8},
                             tags={"model_version": model_version}, candidates=[], bundle_dir=bundle_dir)
    return tracker.register(run_id=run_id, bundle_dir=bundle_dir, bundle_hash=f"hash-{model_version}",
                            model_version=model_version)


def test_moving_the_champion_keeps_the_previous_one_under_its_alias(tmp_path, store):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"model": "test"}', encoding="utf-8")
    store = store.replace("postgresql+psycopg://", "postgresql://", 1)  # the plain URL a team writes
    tracker = _tracker(tmp_path, store)
    first, second = _registered(tracker, bundle, "logistic-1"), _registered(tracker, bundle, "lightgbm-2")
    assert (first, second) == ("1", "2")
    assert tracker.alias_version(CHAMPION) is None and tracker.registry_versions()["champion"].sum() == 0
    tracker.set_champion(first)
    assert tracker.champion().model_version == "logistic-1" and tracker.alias_version(PREVIOUS_CHAMPION) is None

    assert tracker.move_champion(second, tags={"move_event": "promote", "moved_by": "cli:ana"}) == first
    assert (tracker.alias_version(CHAMPION), tracker.alias_version(PREVIOUS_CHAMPION)) == (second, first)
    reopened = _tracker(tmp_path, store)  # a second tracker on the store reads the same aliases
    assert (reopened.champion().registry_version, reopened.champion().model_version) == (second, "lightgbm-2")
    versions = reopened.registry_versions().set_index("version")
    assert versions.loc[second, ["champion", "previous_champion"]].tolist() == [True, False]
    assert versions.loc[first, ["champion", "previous_champion"]].tolist() == [False, True]
    assert versions.loc[second, "bundle_hash"] == "hash-lightgbm-2"
    assert reopened.client.get_model_version(reopened.model_name, second).tags["moved_by"] == "cli:ana"

    assert tracker.move_champion(first, tags={"move_event": "rollback"}) == second  # and back
    assert (reopened.alias_version(CHAMPION), reopened.alias_version(PREVIOUS_CHAMPION)) == (first, second)


def _report(version: str, score_psi: float, statuses: list[str]) -> dict:
    """A monitoring report's plain data, as record_monitoring hands it over (NaN already None)."""
    return {"model_version": version, "n": 1200, "periods": [2025, 2026], "source": "later.csv",
            "score": {"psi": score_psi, "status": "stable"}, "grade_psi": 0.02,
            "features": [{"name": "roa", "psi": 0.3, "status": "act"}, {"name": "esg", "psi": 0.12, "status": "watch"},
                         {"name": "age", "psi": None, "status": "stable"}],
            "expected": {"default_rate": 0.061, "auc": 0.81}, "realized": None,
            "alerts": [{"rule": r, "status": s, "detail": ""} for r, s in
                       zip(["feature_psi", "score_psi", "auc_drop"], statuses, strict=False)]}


def test_monitoring_runs_go_to_their_own_experiment_and_read_back(tmp_path, store):
    tracker = _tracker(tmp_path, store)
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


def test_the_report_of_an_unknown_monitoring_run_is_a_tracking_error(tmp_path, store):
    with pytest.raises(TrackingError, match="cannot read the monitoring report of run '0+'"):
        _tracker(tmp_path, store).monitoring_report("0" * 32)


def test_a_store_failure_while_logging_monitoring_is_a_tracking_error(tmp_path):
    tracker = Tracker("sqlite:///" + str(tmp_path / "mlflow.db"), tmp_path / "mlartifacts",
                      experiment="riskcore-monitoring")
    tracker._client = _Client(MlflowException("store down"))
    tracker._experiment_id = "1"
    with pytest.raises(TrackingError, match="could not log the monitoring run to .*store down"):
        tracker.log_monitoring(_report("v1", 0.1, []), model_version="v1", bundle_hash="h")
    with pytest.raises(TrackingError, match="cannot read runs"):
        tracker.monitoring_runs()


def test_a_store_password_never_appears_in_a_message(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    tracker = _tracker(tmp_path, f"postgres://ana:s3cret-pw@127.0.0.1:{port}/mlflow?connect_timeout=3")
    assert tracker.tracking_uri.startswith("postgresql://")  # the hosting services' spelling is read as PostgreSQL
    with pytest.raises(TrackingError) as caught:
        tracker.champion()
    message = str(caught.value)  # at once, not after MLflow's 100 s of retries
    assert "s3cret-pw" not in message and "ana:***@127.0.0.1" in message
    assert "cannot reach the experiment store" in message and "check that the database server is running" in message
    assert tracker.shown_uri == f"postgresql://ana:***@127.0.0.1:{port}/mlflow?connect_timeout=3"
