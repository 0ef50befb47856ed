"""The measuring stages of a training run: test metrics, baseline, split record, metrics.json and holdout rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from models import quick
from training_data import calibrated_run, small_panel

from riskcore.config import Costs, ValidationRules
from riskcore.evaluation.metrics import evaluate
from riskcore.evaluation.reliability import expected_calibration_error
from riskcore.modelling import assessment, stages
from riskcore.modelling.context import RunContext
from riskcore.modelling.leakage import LeakageReport
from riskcore.modelling.recording import run_metrics
from riskcore.numeric import expit

CONFIG = quick("logistic", "lightgbm", n_bootstrap=50, n_jobs=1)
INPUTS = ["x1", "x2", "grade", "noise"]


@pytest.fixture(scope="module")
def run():
    frame, spec = small_panel()
    frame = frame.assign(true_pd=expit(-2.0 + frame["x1"] - frame["x2"]), sector=frame["grade"])
    spec = replace(spec, oracle="true_pd", segment="sector")
    found = calibrated_run(frame, spec, CONFIG)
    found["cutoff"] = stages.choose_cutoff(found["parts"], found["calibrated"], found["spec"], Costs())
    return found


def test_assess_evaluates_on_test_at_the_validation_threshold(run):
    parts, cal, cutoff, spec = run["parts"], run["calibrated"], run["cutoff"], run["spec"]
    found = assessment.assess(parts, cal, cutoff, spec, CONFIG, Costs())
    expected = evaluate(parts.y_test, cal.p_test, cutoff.threshold, n_resamples=50, random_state=CONFIG.random_state,
                        y_raw=expit(cal.raw_test))
    assert found.test == expected
    assert found.validation["rows"] == len(parts.y_validation)
    assert found.calibration["method"] == "isotonic" and found.calibration["fitted_on"] == "pooled"
    assert found.calibration["platt"]["ece_test"] == pytest.approx(expected_calibration_error(
        parts.y_test, np.clip(cal.calibrators["platt"].predict(cal.raw_test), 0.0005, 1.0)))
    assert found.business["threshold"] == cutoff.threshold
    assert set(found.segments["segment"]) == {"A", "B", "C"}
    assert found.oracle is not None and 0.5 < found.oracle["auc"] <= 1.0
    assert found.oracle["auc_ratio"] == pytest.approx(found.test["auc"] / found.oracle["auc"])


def test_assess_without_segment_or_oracle(run):
    parts, cal, cutoff, spec = run["parts"], run["calibrated"], run["cutoff"], run["spec"]
    found = assessment.assess(parts, cal, cutoff, replace(spec, oracle=None, segment=None), CONFIG, Costs())
    assert found.oracle is None and found.segments.empty


def test_baseline_is_the_logistic_candidate_calibrated_like_the_model(run):
    found, pipeline, parts, spec, cutoff = run["search"], run["pipeline"], run["parts"], run["spec"], run["cutoff"]
    base = assessment.baseline(found, pipeline, parts, spec, CONFIG, cutoff.threshold)
    assert base is not None and base.metrics["kind"] == "logistic"
    assert base.p_test.shape == parts.y_test.shape
    assert base.metrics["auc"] == evaluate(parts.y_test, base.p_test, cutoff.threshold, n_resamples=50)["auc"]
    without = replace(found, candidates=[c for c in found.candidates if c.kind != "logistic"])
    assert assessment.baseline(without, pipeline, parts, spec, CONFIG, cutoff.threshold) is None


def test_split_info_is_plain_data(run):
    info = assessment.split_info(run["split"], run["data"].frame, run["data"].y, run["spec"])
    assert info["mode"] == "out_of_time"
    assert info["train_rows"] + info["validation_rows"] + info["test_rows"] == len(run["data"].frame)
    assert isinstance(info["summary"], list) and all(isinstance(r, dict) for r in info["summary"])


def test_run_metrics_records_every_section(run):
    parts, cal, cutoff, spec = run["parts"], run["calibrated"], run["cutoff"], run["spec"]
    found = assessment.assess(parts, cal, cutoff, spec, CONFIG, Costs())
    table = pd.DataFrame({"feature": ["x1", "x2"], "auc_drop": [0.1, 0.05], "share": [0.67, 0.33]})
    ctx = RunContext(spec, config=CONFIG, costs=Costs(), source="loans.csv", prepared=run["data"], split=run["split"],
                     inputs=INPUTS, search=run["search"], assessment=found, cutoff=cutoff, baseline=None,
                     importances=table, leak=LeakageReport(findings=[]), warnings=["w"])
    metrics = run_metrics(ctx, version="v1", created=datetime(2026, 1, 1, tzinfo=UTC))
    assert list(metrics) == ["model", "data", "split", "candidates", "validation", "test", "threshold", "costs",
                             "business", "calibration", "segments", "oracle", "baseline", "scorecard", "importance",
                             "leakage", "warnings", "validation_battery"]
    assert metrics["scorecard"] is None  # no scorecard among the candidates
    assert metrics["validation_battery"] is None  # the battery is the assess stage's; this context has none
    assert metrics["model"]["version"] == "v1" and metrics["model"]["trained_at"] == "2026-01-01T00:00:00+00:00"
    assert metrics["data"]["features"] == INPUTS and metrics["data"]["source"] == "loans.csv"
    assert metrics["importance"]["top_feature"] == "x1" and metrics["baseline"] is None
    assert metrics["warnings"] == ["w"]


def test_holdout_frame_holds_validation_then_test_rows_with_every_score(run):
    parts, cal, spec = run["parts"], run["calibrated"], run["spec"]
    p_base = np.full(len(parts.y_test), 0.1)
    hold = assessment.holdout_frame(parts, INPUTS, spec, cal, p_base)
    n_va = len(parts.y_validation)
    assert hold["part"].tolist() == ["validation"] * n_va + ["test"] * len(parts.y_test)
    assert {"company_id", "fiscal_year", "true_pd", *INPUTS, "y", "score_raw", "p_default", "p_uncalibrated",
            "p_isotonic", "p_platt", "p_baseline"} <= set(hold.columns)
    np.testing.assert_allclose(hold["p_uncalibrated"], expit(hold["score_raw"]))
    np.testing.assert_array_equal(hold["p_default"].to_numpy()[n_va:], cal.p_test)
    assert hold["p_baseline"].iloc[:n_va].isna().all() and (hold["p_baseline"].iloc[n_va:] == 0.1).all()
    assert "p_baseline" not in assessment.holdout_frame(parts, INPUTS, spec, cal, None)


def test_the_battery_on_the_test_rows_compares_them_with_the_validation_rows(run):
    parts, cal, spec = run["parts"], run["calibrated"], run["spec"]
    battery = assessment.battery_on_test_rows(parts, cal, spec, 0.8, ValidationRules())
    assert battery.sample == "test rows" and battery.n == len(parts.y_test)
    assert battery.defaults == int(parts.y_test.sum()) and sum(g.n for g in battery.grades) == battery.n
    assert battery.auc is not None and battery.auc.auc_initial == 0.8 and battery.auc.initial == "the validation rows"
    assert battery.grade_psi is not None and battery.grade_psi.reference == "the validation rows"
    assert battery.migration is not None and battery.migration.companies > 0  # the same companies, a year later
