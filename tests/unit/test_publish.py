"""The publishing stages of a training run: version, data profile, save-and-verify, MLflow logging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from models import quick
from training_data import calibrated_run, small_panel

from riskcore.errors import BundleError
from riskcore.modelling import assessment, publish
from riskcore.modelling.features import FeatureBuilder

CONFIG = quick("logistic", n_bootstrap=50, n_jobs=1)
INPUTS = ["x1", "x2", "grade", "noise"]


@pytest.fixture(scope="module")
def run():
    frame, spec = small_panel()
    found = calibrated_run(frame, spec, CONFIG)
    return found["spec"], found["parts"], found["pipeline"], found["calibrated"]


def _content(spec, parts, pipeline, calibrated) -> publish.BundleContent:
    info = {"version": "v1", "created_at": "2026-01-01T00:00:00+00:00", "threshold": 0.2,
            "costs": {"fn": 50_000.0, "fp": 10_000.0, "lgd": 0.45, "mode": "fixed"}, "calibration": "isotonic",
            "params": {}, "training_rows": len(parts.y_train), "test_auc": 0.7, "profile": "quick"}
    importances = pd.DataFrame({"feature": INPUTS, "auc_drop": [0.1, 0.05, 0.01, 0.0], "share": [0.6, 0.3, 0.1, 0.0]})
    return publish.BundleContent(
        info=info, calibrators=dict(calibrated.calibrators), metrics={"threshold": 0.2}, importances=importances,
        profile=publish.data_profile(parts.X_train, spec, parts.y_train, publish.feature_builder(pipeline)),
        holdout=assessment.holdout_frame(parts, INPUTS, spec, calibrated, None))


def test_claim_version_never_reuses_a_folder(tmp_path):
    first = publish.claim_version(tmp_path / "models", "logistic-20260101T000000Z")
    second = publish.claim_version(tmp_path / "models", "logistic-20260101T000000Z")
    assert (first[0], second[0]) == ("logistic-20260101T000000Z", "logistic-20260101T000000Z-2")
    assert first[1].is_dir() and second[1].is_dir()


def test_feature_builder_is_the_first_step(run):
    _, _, pipeline, _ = run
    assert isinstance(publish.feature_builder(pipeline), FeatureBuilder)


def test_data_profile_summarises_every_input(run):
    spec, parts, pipeline, _ = run
    profile = publish.data_profile(parts.X_train, spec, parts.y_train, publish.feature_builder(pipeline))
    assert profile["rows"] == len(parts.X_train)
    assert profile["default_rate"] == pytest.approx(parts.y_train.mean())
    x1 = profile["features"]["x1"]
    assert x1["kind"] == "numeric" and len(x1["quantiles"]) == 51 and x1["missing"] == 0.0
    assert x1["quantiles"][25] == pytest.approx(float(np.median(parts.X_train["x1"])))
    grade = profile["features"]["grade"]
    assert grade["kind"] == "categorical" and sum(grade["shares"].values()) == pytest.approx(1.0)


def test_save_and_verify_reloads_a_bundle_that_scores_like_the_model(run, tmp_path):
    spec, parts, pipeline, calibrated = run
    bundle = publish.save_and_verify(tmp_path / "v1", pipeline=pipeline, kind="logistic", spec=spec,
                                     content=_content(*run), X_test=parts.X_test, p_test=calibrated.p_test)
    assert bundle.kind == "logistic" and bundle.manifest_hash
    np.testing.assert_allclose(bundle.predict_frame(parts.X_test)[1], calibrated.p_test, atol=1e-9)


def test_save_and_verify_refuses_a_bundle_that_scores_differently(run, tmp_path):
    spec, parts, pipeline, calibrated = run
    with pytest.raises(BundleError, match="scores differently"):
        publish.save_and_verify(tmp_path / "v1", pipeline=pipeline, kind="logistic", spec=spec,
                                content=_content(*run), X_test=parts.X_test, p_test=calibrated.p_test + 1e-3)


def test_flat_metrics_keeps_finite_numbers_and_splits_intervals():
    flat = publish.flat_metrics("test", {"auc": 0.8, "auc_ci": [0.7, 0.9], "ok": True, "nan": float("nan"),
                                         "inf": float("inf"), "n": 3, "name": "x", "none": None})
    assert flat == {"test.auc": 0.8, "test.auc_ci_lower": 0.7, "test.auc_ci_upper": 0.9, "test.n": 3.0}


class _Tracker:
    """Records what a training run asks of MLflow."""

    def __init__(self, champion: object = None):
        self.calls: list[str] = []
        self._champion = champion

    def log_run(self, **kwargs: object) -> str:
        self.calls.append("log_run")
        return "run-1"

    def register(self, **kwargs: object) -> str:
        self.calls.append("register")
        return "7"

    def champion(self) -> object:
        return self._champion

    def set_champion(self, version: str) -> None:
        self.calls.append(f"champion {version}")


class _Bundle:
    manifest_hash = "abc"


@pytest.mark.parametrize(("champion", "promote", "promoted"), [
    (None, None, True), ("an earlier model", None, False), ("an earlier model", True, True), (None, False, False),
])
def test_log_to_tracker_promotes_a_first_model_or_when_asked(tmp_path, champion, promote, promoted):
    tracker = _Tracker(champion)
    reg = publish.log_to_tracker(tracker, version="v1", kind="logistic", params={}, metrics={}, candidates=[],  # type: ignore[arg-type]
                                 bundle=_Bundle(), bundle_dir=tmp_path, summary="", promote=promote)  # type: ignore[arg-type]
    assert reg == publish.Registration("run-1", "7", promoted)
    assert tracker.calls == ["log_run", "register"] + (["champion 7"] if promoted else [])
