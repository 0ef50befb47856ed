"""riskcore.evaluation.report: the evaluation figures the dashboard and the model documentation share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskcore.config import Costs
from riskcore.data.schema import DEMO_SPEC
from riskcore.evaluation import report
from riskcore.evaluation.costs import CostSweep
from riskcore.evaluation.metrics import ks_statistic, roc_auc
from riskcore.evaluation.reliability import expected_calibration_error

SEED = 7


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def bundle(quick_bundle):
    """The session's quick model (trained on the small portfolio by tests/conftest.py)."""
    return quick_bundle


@pytest.fixture(scope="module")
def holdout(bundle):
    return bundle.holdout()


@pytest.fixture(scope="module")
def test_rows(holdout):
    return report.part(holdout, "test")



def _scored(n=400, seed=SEED, ties=False):
    rng = np.random.default_rng(seed)
    p = rng.beta(1, 12, n)
    if ties:
        p = np.round(p, 2)
    y = (rng.random(n) < p).astype(int)
    return y, p



# ---------------------------------------------------------------- decisions

def test_decision_view_chooses_on_validation_and_measures_on_test(holdout):
    costs = Costs(fn=80_000, fp=5_000)
    view = report.decision_view(holdout, costs)
    val = report.part(holdout, "validation")
    best, cost = CostSweep(val["y"].to_numpy(), val["p_default"].to_numpy()).optimal(costs)
    assert view.threshold == view.optimal_threshold == best and view.validation_cost == cost
    assert not view.overridden
    test = report.part(holdout, "test")
    assert view.test_rows == len(test) and view.test_defaults == int(test["y"].sum())
    assert int(view.confusion.to_numpy().sum()) == len(test)
    manual = report.decision_view(holdout, costs, threshold=0.5)
    assert manual.overridden and manual.threshold == 0.5 and manual.optimal_threshold == best
    assert manual.impact.referred == int((test["p_default"] >= 0.5).sum())
    sentences = report.impact_sentences(manual)
    assert any("set by hand" in s for s in sentences)


def test_expected_loss_by_segment_sums_pd_times_lgd_times_exposure(test_rows):
    table = report.expected_loss_by_segment(test_rows, segment="sector", exposure="exposure_eur", lgd=0.4)
    p = np.maximum(test_rows["p_default"].to_numpy(), 0.0005)
    expected = np.nansum(p * 0.4 * test_rows["exposure_eur"].to_numpy(dtype=float))
    assert table["expected_loss"].sum() == pytest.approx(expected)
    assert table["companies"].sum() == len(test_rows)
    assert table["expected_loss"].is_monotonic_decreasing


def test_esg_band_table_uses_the_pillar_scores(test_rows):
    cols = report.esg_columns(DEMO_SPEC)
    assert cols == ["esg_environmental", "esg_social", "esg_governance"]
    table = report.esg_band_table(test_rows, segment="sector", esg_columns=cols)
    assert set(table["band"]) <= {"low", "mid", "high", "missing"}
    assert table["companies"].sum() == len(test_rows)
    missing = test_rows[cols].isna().all(axis=1).sum()
    assert table.loc[table["band"] == "missing", "companies"].sum() == missing


# ---------------------------------------------------------------- calibration and performance

def test_calibration_table_matches_the_engine_and_flags_the_calibrator_in_use(test_rows):
    cols = report.calibration_columns(test_rows)
    assert cols == {"Raw model output": "p_uncalibrated", "Isotonic": "p_isotonic", "Platt": "p_platt"}
    table = report.calibration_table(test_rows, cols, chosen="p_isotonic", n_resamples=100)
    y = test_rows["y"].to_numpy()
    for r in table.itertuples():
        assert r.ece == pytest.approx(expected_calibration_error(y, test_rows[r.column].to_numpy()))
        assert r.ece_lower <= r.ece_upper
    assert list(table["in_use"]) == [False, True, False]
    again = report.calibration_table(test_rows, cols, chosen="p_isotonic", n_resamples=100)
    pd.testing.assert_frame_equal(table, again)


def test_reliability_frame_stacks_curves_that_count_every_row(test_rows):
    cols = {"raw": "p_uncalibrated", "calibrated": "p_default"}
    for strategy in ("quantile", "uniform"):
        frame = report.reliability_frame(test_rows, cols, n_bins=8, strategy=strategy)
        assert frame.groupby("curve")["count"].sum().to_dict() == {"raw": len(test_rows),
                                                                   "calibrated": len(test_rows)}


def test_score_columns_include_the_baseline_only_where_it_scored(holdout, test_rows):
    assert report.score_columns(test_rows) == {"Model": "p_default", "Logistic baseline": "p_baseline"}
    assert report.score_columns(report.part(holdout, "validation")) == {"Model": "p_default"}


@pytest.mark.parametrize("ties", [False, True])
def test_ks_curve_peaks_at_the_ks_statistic(ties):
    y, p = _scored(ties=ties)
    curve = report.ks_curve(y, p)
    assert curve["gap"].abs().max() == pytest.approx(ks_statistic(y, p))
    assert curve["defaults_below"].iloc[-1] == pytest.approx(1.0)
    assert curve["non_defaults_below"].is_monotonic_increasing


def test_curves_gains_and_performance_table(test_rows):
    cols = report.score_columns(test_rows)
    roc = report.curves_frame(test_rows, cols, "roc", n_resamples=50)
    assert list(roc.columns) == ["model", "fpr", "tpr", "tpr_lower", "tpr_upper"]
    assert set(roc["model"]) == set(cols)
    gains = report.gains_frame(test_rows, cols)
    assert gains.groupby("model")["rows"].sum().eq(len(test_rows)).all()
    table = report.performance_table(test_rows, cols, n_resamples=100)
    model = table[table["model"] == "Model"].set_index("metric")
    y, p = test_rows["y"].to_numpy(), test_rows["p_default"].to_numpy()
    assert model.loc["AUC", "value"] == pytest.approx(roc_auc(y, p))
    assert model.loc["Gini", "value"] == pytest.approx(2 * roc_auc(y, p) - 1)
    assert (table["lower"] <= table["upper"]).all()
    assert set(model.index) == {"AUC", "Gini", "PR-AUC", "KS", "Brier", "ECE"}


# ---------------------------------------------------------------- sectors

def test_sector_table_and_small_sector_note(test_rows):
    table = report.sector_table(test_rows, "sector", n_resamples=50, min_defaults=30)
    assert table["rows"].sum() == len(test_rows)
    note = report.small_segments_note(table, 30)
    small = table[table["small"]]
    assert note is not None and all(str(s) in note for s in small["segment"])
    loose = report.sector_table(test_rows, "sector", n_resamples=50, min_defaults=0)
    assert report.small_segments_note(loose, 0) is None

