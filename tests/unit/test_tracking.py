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
    assert frame.empty and list(frame.columns) == ["version", "run_id", "model_version", "bundle_hash", "champion"]


def test_a_bug_is_not_disguised_as_a_store_failure(tmp_path):
    with pytest.raises(RuntimeError, match="a bug"):
        _failing(tmp_path, RuntimeError("a bug")).runs()


def test_promote_a_run_without_a_registered_version(tmp_path):
    with pytest.raises(ModelNotFoundError, match="has no registered model version"):
        _tracker(tmp_path).promote_run("0" * 32)
