"""Gains tables, ROC and PR curves with bootstrap bands, and segment tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from samples import probability_sample as _sample
from sklearn.metrics import roc_auc_score, roc_curve

from riskcore.errors import SchemaError
from riskcore.evaluation.curves import curve_with_band, gains_table, segment_table, top_decile_lift
from riskcore.evaluation.reliability import expected_calibration_error


def test_gains_table_columns_and_totals():
    y, p, _ = _sample(1003)
    table = gains_table(y, p)
    assert list(table.columns) == ["decile", "rows", "defaults", "default_rate", "lift", "cum_rows_share",
                                   "cum_defaults_share", "mean_pd"]
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["rows"].sum() == 1003 and table["rows"].max() - table["rows"].min() <= 1
    assert table["defaults"].sum() == y.sum()
    assert table["cum_defaults_share"].iloc[-1] == pytest.approx(1.0)
    assert table["cum_rows_share"].iloc[-1] == pytest.approx(1.0)
    assert table["mean_pd"].is_monotonic_decreasing
    top = np.argsort(-p, kind="stable")[:101]
    assert table["lift"].iloc[0] == pytest.approx(y[top].mean() / y.mean())
    assert top_decile_lift(y, p) == table["lift"].iloc[0]


def test_gains_table_keeps_ties_together():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    p = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0.1, 0.1])
    table = gains_table(y, p, n_bins=5)  # positions 0 | 1-4 start in group 1 | 5-7 in group 3 | 8-9 in 5
    assert table["decile"].tolist() == [1, 3, 5]
    assert table["rows"].tolist() == [5, 3, 2]
    assert table["defaults"].tolist() == [2, 1, 0]
    same = gains_table(y, np.full(10, 0.4))
    assert same["decile"].tolist() == [1] and same["lift"].iloc[0] == pytest.approx(1.0)
    assert top_decile_lift(y, np.full(10, 0.4)) == pytest.approx(1.0)


def test_gains_table_without_defaults_has_nan_lift():
    table = gains_table(np.zeros(20), np.linspace(0, 1, 20), n_bins=4)
    assert table["lift"].isna().all() and table["cum_defaults_share"].isna().all()


def test_roc_band_contains_the_curve_and_matches_sklearn():
    y, p, _ = _sample(700)
    band = curve_with_band(y, p, "roc", n_resamples=100, grid=51)
    assert list(band.columns) == ["fpr", "tpr", "tpr_lower", "tpr_upper"]
    assert len(band) == 51 and band["fpr"].iloc[0] == 0.0 and band["fpr"].iloc[-1] == 1.0
    assert (band["tpr_lower"] <= band["tpr_upper"]).all()
    assert band["tpr"].is_monotonic_increasing and band["tpr"].iloc[-1] == 1.0
    fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
    # points joined linearly; where a grid value meets a vertical step exactly, the top of the step
    expected = [tpr[fpr == x].max() if (fpr == x).any() else np.interp(x, fpr, tpr) for x in band["fpr"]]
    np.testing.assert_allclose(band["tpr"], expected, atol=1e-12)
    inside = (band["tpr_lower"] - 1e-9 <= band["tpr"]) & (band["tpr"] <= band["tpr_upper"] + 1e-9)
    assert inside.mean() > 0.9


def test_roc_on_grid_takes_the_top_of_a_vertical_step():
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.2])
    band = curve_with_band(y, p, "roc", n_resamples=10, grid=3)
    assert band["tpr"].tolist() == [1.0, 1.0, 1.0]
    ties = curve_with_band(np.array([1, 0]), np.array([0.5, 0.5]), "roc", n_resamples=10, grid=5)
    np.testing.assert_allclose(ties["tpr"], [0.0, 0.25, 0.5, 0.75, 1.0])  # a tie is the diagonal


def test_pr_band_is_a_step_function_of_recall():
    y = np.array([1, 0, 1, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    band = curve_with_band(y, p, "pr", n_resamples=50, grid=4)
    assert list(band.columns) == ["recall", "precision", "precision_lower", "precision_upper"]
    # recall 0 and 1/3: first row (1/1); 2/3: third row (2/3); 1: all six rows (3/6)
    np.testing.assert_allclose(band["precision"], [1.0, 1.0, 2 / 3, 0.5])
    assert (band["precision_lower"] <= band["precision_upper"]).all()


def test_curve_with_band_rejects_one_class_and_bad_arguments():
    with pytest.raises(SchemaError, match="single class"):
        curve_with_band(np.zeros(4), np.linspace(0, 1, 4))
    with pytest.raises(ValueError, match="kind='lift' is unknown"):
        curve_with_band(np.array([0, 1]), np.array([0.1, 0.9]), "lift")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grid=1"):
        curve_with_band(np.array([0, 1]), np.array([0.1, 0.9]), grid=1)


def test_segment_table():
    y, p, _ = _sample(1200)
    rng = np.random.default_rng(4)
    segments = rng.choice(["Retail", "Energy", "Materials"], len(y))
    segments[:5] = "Tiny"
    y[:5] = 0
    table = segment_table(y, p, pd.Series(segments), n_resamples=50, min_defaults=30)
    assert list(table.columns) == ["segment", "rows", "defaults", "observed_rate", "mean_pd", "auc", "auc_lower",
                                   "auc_upper", "ece", "small"]
    assert table["segment"].tolist() == ["Energy", "Materials", "Retail", "Tiny"]
    assert table["rows"].sum() == len(y) and table["defaults"].sum() == y.sum()
    tiny = table.set_index("segment").loc["Tiny"]
    assert np.isnan(tiny["auc"]) and np.isnan(tiny["auc_lower"]) and bool(tiny["small"])
    energy = table.set_index("segment").loc["Energy"]
    mask = segments == "Energy"
    assert energy["auc"] == pytest.approx(roc_auc_score(y[mask], p[mask]))
    assert energy["auc_lower"] <= energy["auc"] <= energy["auc_upper"]
    assert energy["ece"] == pytest.approx(expected_calibration_error(y[mask], p[mask]))


def test_segment_table_groups_missing_labels():
    y = np.array([0, 1, 0, 1])
    table = segment_table(y, np.array([0.1, 0.8, 0.3, 0.6]), np.array(["a", None, "a", None], dtype=object),
                          n_resamples=10)
    assert table["segment"].tolist() == ["(missing)", "a"]
