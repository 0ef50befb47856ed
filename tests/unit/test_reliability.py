"""Calibration measures: reliability curve, expected calibration error and Brier score."""

from __future__ import annotations

import numpy as np
import pytest
from samples import SEED
from samples import raw_score_sample as _scored
from sklearn.metrics import brier_score_loss

from riskcore.errors import SchemaError
from riskcore.evaluation.reliability import brier_score, expected_calibration_error, reliability_curve
from riskcore.modelling.calibration import fit_calibrator


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_is_the_count_weighted_gap_of_the_reliability_table(strategy):
    score, y = _scored(3000, ties=True)
    p = fit_calibrator(score, y).predict(score) * 0.8 + 0.05
    table = reliability_curve(y, p, n_bins=10, strategy=strategy)
    assert list(table.columns) == ["bin", "lower", "upper", "count", "mean_predicted", "observed_rate"]
    assert table["count"].sum() == len(y)
    assert (table["count"] > 0).all()
    gap = np.abs(table["mean_predicted"] - table["observed_rate"])
    expected = float((table["count"] * gap).sum() / table["count"].sum())
    assert expected_calibration_error(y, p, n_bins=10, strategy=strategy) == pytest.approx(expected, abs=1e-12)


def test_uniform_bins_put_one_in_the_last_bin_and_omit_empty_bins():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.0, 1.0, 1.0, 0.05, 0.95])
    table = reliability_curve(y, p, n_bins=10)
    assert table["bin"].tolist() == [1, 10]
    assert table["count"].tolist() == [2, 3]
    assert table["upper"].iloc[-1] == 1.0
    assert table["observed_rate"].tolist() == [0.0, 1.0]


def test_quantile_bins_have_equal_mass_and_merge_repeated_edges():
    rng = np.random.default_rng(SEED)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    table = reliability_curve(y, p, n_bins=4, strategy="quantile")
    assert table["count"].tolist() == [250, 250, 250, 250]
    same = reliability_curve(y, np.full(1000, 0.3), n_bins=10, strategy="quantile")
    assert len(same) == 1 and same["count"].iloc[0] == 1000


def test_ece_of_a_perfect_forecast_is_zero_and_is_bounded():
    y = np.array([0, 0, 1, 1])
    assert expected_calibration_error(y, y.astype(float)) == 0.0
    assert expected_calibration_error(y, 1.0 - y) == 1.0


def test_ece_rejects_probabilities_outside_0_1_and_bad_arguments():
    with pytest.raises(SchemaError, match=r"outside \[0.0, 1.0\] \(row 2: 1.5\)"):
        expected_calibration_error(np.array([0, 1]), np.array([0.2, 1.5]))
    with pytest.raises(ValueError, match="strategy='equal' is unknown"):
        expected_calibration_error(np.array([0, 1]), np.array([0.2, 0.5]), strategy="equal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_bins=0"):
        reliability_curve(np.array([0, 1]), np.array([0.2, 0.5]), n_bins=0)


def test_brier_score_equals_sklearn():
    score, y = _scored()
    p = fit_calibrator(score, y).predict(score)
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert brier_score(y, p, sample_weight=w) == pytest.approx(brier_score_loss(y, p, sample_weight=w), abs=1e-12)
