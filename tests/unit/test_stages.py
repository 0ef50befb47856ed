"""Each stage of a training run up to the calibrated model and its cut-off, run on its own."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from models import quick
from training_data import small_panel

from riskcore.config import Costs
from riskcore.data.infer import extend_spec
from riskcore.data.quality import freeze_typical_ranges
from riskcore.errors import DataFileError, LeakageError
from riskcore.evaluation.costs import choose_threshold
from riskcore.evaluation.grading import PD_FLOOR
from riskcore.modelling import stages
from riskcore.modelling.leakage import LeakageReport
from riskcore.modelling.search import CandidateResult
from riskcore.numeric import logit
from riskcore.progress import no_progress

CONFIG = quick("logistic", n_bootstrap=50)


@pytest.fixture(scope="module")
def panel():
    return small_panel()


@pytest.fixture(scope="module")
def run(panel):
    """The stages in order, as ``train`` runs them, kept for the tests to read."""
    frame, spec = panel
    data = stages.prepare_data(frame, spec, Costs(), None)
    split, spec = stages.split_data(data.frame, data.y, spec, CONFIG)
    parts = stages.split_parts(data.frame, data.y, split)
    found = stages.search(parts, spec, CONFIG, no_progress)
    leak = LeakageReport(findings=[])
    pipeline = stages.refit(found.chosen, parts, spec, CONFIG, leak)
    calibrated = stages.calibrate(pipeline, found.chosen, found.rows.y, parts, CONFIG)
    return {"data": data, "split": split, "spec": spec, "parts": parts, "search": found, "leak": leak,
            "pipeline": pipeline, "calibrated": calibrated}


def test_prepare_data_keeps_every_clean_row_with_its_outcome(panel, run):
    frame, _ = panel
    data = run["data"]
    assert len(data.frame) == len(frame) and data.y.tolist() == frame["default"].tolist()
    assert data.n_defaults == int(frame["default"].sum())
    assert data.quality is not None and isinstance(data.clean_notes, list)


def test_prepare_data_refuses_too_few_defaults(panel):
    frame, spec = panel
    few = frame.assign(default=np.r_[np.ones(5, dtype=int), np.zeros(len(frame) - 5, dtype=int)])
    with pytest.raises(DataFileError, match=f"at least {stages.MIN_DEFAULTS}"):
        stages.prepare_data(few, spec, Costs(), None)


def test_prepare_data_needs_an_exposure_column_in_exposure_mode(panel):
    frame, spec = panel
    with pytest.raises(DataFileError, match="exposure cost mode"):
        stages.prepare_data(frame, spec, Costs(mode="exposure"), None)


def test_split_data_is_out_of_time_and_freezes_ranges_on_training_rows(run):
    data, split, spec = run["data"], run["split"], run["spec"]
    assert split.mode == "out_of_time"
    times = data.frame["fiscal_year"]
    assert times.iloc[split.train].max() < times.iloc[split.validation].min() <= times.iloc[split.test].min()
    frozen = freeze_typical_ranges(spec, data.frame.iloc[split.train])
    assert frozen.feature("x1") == spec.feature("x1")


def test_model_inputs_are_the_spec_inputs_present_in_the_frame(run):
    data, spec = run["data"], run["spec"]
    assert stages.model_inputs(data.frame, spec) == ["x1", "x2", "grade", "noise"]
    assert stages.model_inputs(data.frame.drop(columns=["x2"]), spec) == ["x1", "grade", "noise"]


def test_split_parts_are_reindexed_rows_of_the_split(run):
    data, split, parts = run["data"], run["split"], run["parts"]
    assert len(parts.X_train) == len(split.train) and len(parts.X_test) == len(split.test)
    assert parts.X_validation.index.tolist() == list(range(len(split.validation)))
    pd.testing.assert_frame_equal(parts.X_test, data.frame.iloc[split.test].reset_index(drop=True))
    assert parts.y_test.tolist() == data.y[split.test].tolist()


def test_screen_leaks_stops_on_a_leaked_column_unless_allowed(panel):
    frame, spec = panel
    leaked = frame.assign(recorded_loss=frame["default"] * 1000.0 + np.random.default_rng(0).normal(size=len(frame)))
    spec = extend_spec(spec, leaked)
    data = stages.prepare_data(leaked, spec, Costs(), None)
    split, spec = stages.split_data(data.frame, data.y, spec, CONFIG)
    inputs = stages.model_inputs(data.frame, spec)
    assert "recorded_loss" in inputs
    with pytest.raises(LeakageError, match="recorded_loss"):
        stages.screen_leaks(data.frame, data.y, spec, split, inputs, CONFIG)
    report, note = stages.screen_leaks(data.frame, data.y, spec, split, inputs, replace(CONFIG, allow_leaks=True))
    assert report.failed and note is not None and "--allow-leaks" in note


def test_screen_leaks_passes_an_honest_panel_without_a_note(run):
    data, split, spec = run["data"], run["split"], run["spec"]
    report, note = stages.screen_leaks(data.frame, data.y, spec, split, ["x1", "x2", "grade", "noise"], CONFIG)
    assert not report.failed and note is None


def test_search_marks_the_chosen_candidate(run):
    found = run["search"]
    assert [c.kind for c in found.candidates] == ["logistic"]
    assert found.chosen is found.candidates[0] and found.chosen.chosen
    assert len(found.rows.y) == len(run["parts"].y_train) and found.rows.note is None
    assert 0.6 < found.chosen.cv_auc_mean < 1.0


def test_refit_fits_on_training_rows_and_puts_the_preprocessing_check_first(run):
    leak, pipeline, parts = run["leak"], run["pipeline"], run["parts"]
    assert leak.findings[0].check == "preprocessing" and leak.findings[0].status == "pass"
    p = pipeline.predict_proba(parts.X_test)[:, 1]
    assert p.shape == (len(parts.X_test),) and np.all((p > 0) & (p < 1))


def _candidate(oof: np.ndarray) -> CandidateResult:
    return CandidateResult("logistic", {}, 0.7, 0.0, [0.7], 1, 0.0, oof)


def test_calibration_rows_pool_out_of_fold_scores_with_validation():
    oof = np.array([0.1, np.nan, 0.9])
    raw_va, y_va = np.array([-1.0, 2.0]), np.array([0, 1])
    raw, y = stages.calibration_rows(CONFIG, _candidate(oof), np.array([0, 1, 1]), raw_va, y_va)
    np.testing.assert_allclose(raw, np.r_[logit(np.array([0.1, 0.9])), raw_va])
    assert y.tolist() == [0, 1, 0, 1]
    alone = stages.calibration_rows(replace(CONFIG, calibrate_on="validation"), _candidate(oof),
                                    np.array([0, 1, 1]), raw_va, y_va)
    assert alone[0] is raw_va and alone[1] is y_va


def test_calibrate_fits_both_calibrators_and_floors_the_pd(run):
    cal, parts, found = run["calibrated"], run["parts"], run["search"]
    assert set(cal.calibrators) == {"isotonic", "platt"}
    assert cal.rows == len(found.rows.y) + len(parts.y_validation)
    assert cal.p_test.min() >= PD_FLOOR and cal.p_validation.max() <= 1.0
    np.testing.assert_allclose(cal.p_test, np.clip(cal.calibrators["isotonic"].predict(cal.raw_test), PD_FLOOR, 1))


def test_choose_cutoff_minimises_cost_on_validation(run):
    parts, cal, spec = run["parts"], run["calibrated"], run["spec"]
    cutoff = stages.choose_cutoff(parts, cal, spec, Costs())
    assert cutoff.threshold == choose_threshold(parts.y_validation, cal.p_validation, Costs())[0]
    assert cutoff.exposure_test is None


def test_choose_cutoff_reads_exposures_with_missing_as_zero(run):
    parts, cal, spec = run["parts"], run["calibrated"], run["spec"]
    exposure = np.where(np.arange(len(parts.X_test)) % 5 == 0, np.nan, 1000.0)
    with_exposure = replace(parts, X_validation=parts.X_validation.assign(ead=1000.0),
                            X_test=parts.X_test.assign(ead=exposure))
    cutoff = stages.choose_cutoff(with_exposure, cal, replace(spec, exposure="ead"), Costs(mode="exposure"))
    assert cutoff.exposure_test is not None
    np.testing.assert_array_equal(cutoff.exposure_test, np.nan_to_num(exposure, nan=0.0))


def test_split_data_needs_both_outcomes_min_outcomes_times(run):
    data, spec = run["data"], run["spec"]
    y = np.zeros(len(data.y), dtype=int)
    y[: stages.MIN_OUTCOMES - 1] = 1
    with pytest.raises(DataFileError, match=f"2 default\\(s\\) in {len(y):,} usable rows.*at least "
                                            f"{stages.MIN_OUTCOMES} times"):
        stages.split_data(data.frame, y, spec, CONFIG)
    with pytest.raises(DataFileError, match="both outcomes must occur"):
        stages.split_data(data.frame, 1 - y, spec, CONFIG)  # too few non-defaults, likewise
