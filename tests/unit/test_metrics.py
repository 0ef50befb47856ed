"""Metrics, bootstrap intervals, gains tables, curves with bands, segments and the evaluation summary."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve
from sklearn.metrics import log_loss as sk_log_loss

from riskcore.errors import SchemaError
from riskcore.evaluation.metrics import (
    ThresholdMetrics,
    _resample_counts,
    at_threshold,
    bootstrap_auc_samples,
    bootstrap_ci,
    curve_with_band,
    evaluate,
    gains_table,
    gini,
    ks_statistic,
    log_loss,
    oracle_metrics,
    pr_auc,
    roc_auc,
    segment_table,
    top_decile_lift,
)
from riskcore.modelling.calibration import expected_calibration_error

SEED = 7


def _sample(n: int = 1500, seed: int = SEED, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    true_pd = 1 / (1 + np.exp(-rng.normal(-2.0, 1.1, n)))
    y = (rng.random(n) < true_pd).astype(int)
    y_prob = np.clip(true_pd * rng.lognormal(0, 0.3, n), 0, 1)
    if decimals is not None:
        y_prob = np.round(y_prob, decimals)
    return y, y_prob, true_pd


# ---------------------------------------------------------------- point metrics


@pytest.mark.parametrize("decimals", [None, 2])
def test_rank_metrics_equal_sklearn_and_scipy(decimals):
    y, p, _ = _sample(decimals=decimals)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert roc_auc(y, p, sample_weight=w) == pytest.approx(roc_auc_score(y, p, sample_weight=w), abs=1e-12)
    assert pr_auc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert ks_statistic(y, p) == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic, abs=1e-12)
    assert gini(roc_auc(y, p)) == pytest.approx(2 * roc_auc_score(y, p) - 1)


def test_rank_metrics_are_nan_with_one_class():
    p = np.array([0.1, 0.5, 0.9])
    for metric in (roc_auc, pr_auc, ks_statistic):
        assert np.isnan(metric(np.zeros(3), p))
        assert np.isnan(metric(np.ones(3), p))
    # a class present only with zero weight counts as absent
    assert np.isnan(roc_auc(np.array([0, 1, 0]), p, sample_weight=np.array([1.0, 0.0, 1.0])))


def test_all_equal_scores_rank_nothing():
    y = np.array([0, 1, 0, 1, 1])
    p = np.full(5, 0.3)
    assert roc_auc(y, p) == 0.5
    assert ks_statistic(y, p) == 0.0
    assert pr_auc(y, p) == pytest.approx(0.6)


def test_log_loss_equals_sklearn_and_stays_finite_at_0_and_1():
    y, p, _ = _sample()
    p = np.clip(p, 0.01, 0.99)
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p), rel=1e-12)
    worst = log_loss(np.array([1, 0]), np.array([0.0, 1.0]))
    assert np.isfinite(worst) and worst == pytest.approx(-np.log(1e-15), rel=1e-4)


def test_empty_inputs_raise_schema_error():
    for fn in (roc_auc, pr_auc, ks_statistic, log_loss, gains_table):
        with pytest.raises(SchemaError, match="column 'y_true': is empty"):
            fn(np.array([]), np.array([]))


def test_lengths_must_match():
    with pytest.raises(ValueError, match="column 'y_prob': has 2 values but y_true has 3"):
        roc_auc(np.array([0, 1, 0]), np.array([0.1, 0.2]))


# ---------------------------------------------------------------- threshold metrics


def test_at_threshold_counts_and_rates():
    y = np.array([1, 1, 0, 0, 1, 0])
    p = np.array([0.9, 0.4, 0.4, 0.1, 0.05, 0.6])
    m = at_threshold(y, p, 0.4)  # referred: 0.9, 0.4, 0.4, 0.6 (>= is referred)
    assert (m.tp, m.fp, m.tn, m.fn) == (2, 2, 1, 1)
    assert m.precision == 0.5 and m.recall == pytest.approx(2 / 3)
    assert m.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert m.specificity == pytest.approx(1 / 3)
    assert m.referral_rate == pytest.approx(4 / 6) and m.approval_rate == pytest.approx(2 / 6)
    assert isinstance(m, ThresholdMetrics) and m.as_dict()["threshold"] == 0.4


def test_at_threshold_extremes_without_division_warnings():
    y = np.array([1, 0, 0, 1])
    p = np.array([0.2, 0.0, 1.0, 0.7])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nobody = at_threshold(y, p, np.nextafter(1.0, 2.0))
        everybody = at_threshold(y, p, 0.0)
        no_defaults = at_threshold(np.zeros(4), p, 0.5)
    assert (nobody.tp, nobody.fp, nobody.precision, nobody.recall, nobody.f1) == (0, 0, 0.0, 0.0, 0.0)
    assert nobody.referral_rate == 0.0 and nobody.approval_rate == 1.0
    assert (everybody.tp, everybody.fp, everybody.referral_rate, everybody.specificity) == (2, 2, 1.0, 0.0)
    assert no_defaults.recall == 0.0
    with pytest.raises(ValueError, match="threshold is NaN"):
        at_threshold(y, p, float("nan"))


# ---------------------------------------------------------------- bootstrap


def _explicit(y, p, counts_row):
    return np.repeat(y, counts_row), np.repeat(p, counts_row)


@pytest.mark.parametrize("decimals", [None, 2])
def test_vectorised_bootstrap_equals_explicit_resampling(decimals):
    y, p, _ = _sample(800, decimals=decimals)
    counts = np.vstack(list(_resample_counts(len(y), 6, 11)))
    assert counts.shape == (6, len(y)) and (counts.sum(axis=1) == len(y)).all()
    aucs = bootstrap_auc_samples(y, p, n_resamples=6, random_state=11)
    from riskcore.evaluation.metrics import _bootstrap

    others = _bootstrap(y.astype(float), p, None, ("pr_auc", "brier", "ece", "ks"), 6, 11)
    for b in range(6):
        yy, pp = _explicit(y, p, counts[b])
        assert abs(aucs[b] - roc_auc_score(yy, pp)) < 1e-12
        assert abs(others["pr_auc"][b] - average_precision_score(yy, pp)) < 1e-12
        assert abs(others["brier"][b] - brier_score_loss(yy, pp)) < 1e-12
        assert abs(others["ks"][b] - ks_2samp(pp[yy == 1], pp[yy == 0]).statistic) < 1e-12
        # the bootstrap ECE keeps the full sample's uniform bins, which are fixed edges anyway
        assert abs(others["ece"][b] - expected_calibration_error(yy, pp)) < 1e-12


def test_bootstrap_with_sample_weight_multiplies_the_counts():
    y, p, _ = _sample(300)
    w = np.random.default_rng(2).integers(1, 4, len(y)).astype(float)
    counts = next(_resample_counts(len(y), 3, 5))
    aucs = bootstrap_auc_samples(y, p, 3, 5, sample_weight=w)
    for b in range(3):
        assert abs(aucs[b] - roc_auc_score(y, p, sample_weight=counts[b] * w)) < 1e-12


def test_bootstrap_drops_resamples_with_one_class():
    y = np.zeros(30, dtype=int)
    y[0] = 1  # a resample misses the single default with probability (29/30)**30 ≈ 0.36
    p = np.linspace(0, 1, 30)
    aucs = bootstrap_auc_samples(y, p, 200, 3)
    assert aucs.shape == (200,)
    assert 30 < np.isnan(aucs).sum() < 120
    lo, hi = bootstrap_ci(y, p, "auc", 200, random_state=3)
    kept = aucs[~np.isnan(aucs)]
    assert lo == pytest.approx(np.percentile(kept, 2.5)) and hi == pytest.approx(np.percentile(kept, 97.5))


def test_bootstrap_ci_is_reproducible_and_ordered():
    y, p, _ = _sample(500)
    for metric in ("auc", "pr_auc", "brier", "ece", "ks"):
        first = bootstrap_ci(y, p, metric, n_resamples=100, random_state=3)
        assert first == bootstrap_ci(y, p, metric, n_resamples=100, random_state=3)
        assert first != bootstrap_ci(y, p, metric, n_resamples=100, random_state=4)
        assert first[0] <= first[1]
    lo, hi = bootstrap_ci(y, p, "auc", n_resamples=300)
    assert lo < roc_auc(y, p) < hi


def test_bootstrap_ci_edge_cases():
    assert all(np.isnan(v) for v in bootstrap_ci(np.zeros(5), np.linspace(0, 1, 5), "auc", 20))
    with pytest.raises(ValueError, match="metric='gini' is unknown"):
        bootstrap_ci(np.array([0, 1]), np.array([0.1, 0.9]), "gini")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_resamples=0"):
        bootstrap_ci(np.array([0, 1]), np.array([0.1, 0.9]), "auc", n_resamples=0)
    with pytest.raises(ValueError, match="confidence=1.5"):
        bootstrap_ci(np.array([0, 1]), np.array([0.1, 0.9]), "auc", confidence=1.5)
    with pytest.raises(SchemaError, match="outside"):
        bootstrap_ci(np.array([0, 1]), np.array([0.1, 2.0]), "brier")
    # rank metrics accept any score
    assert bootstrap_ci(np.array([0, 1, 0, 1]), np.array([-3.0, 2.0, -1.0, 5.0]), "auc", 20) == (1.0, 1.0)


def test_bootstrap_resamples_are_chunked_without_changing_results(monkeypatch):
    import riskcore.evaluation.metrics as metrics

    y, p, _ = _sample(400)
    whole = bootstrap_auc_samples(y, p, 50, 9)
    assert len(whole) == 50
    monkeypatch.setattr(metrics, "_CHUNK_CELLS", 400 * 7)  # chunks of 7 resamples: 7 full and 1 partial
    chunked = bootstrap_auc_samples(y, p, 50, 9)
    counts = np.vstack(list(_resample_counts(len(y), 50, 9)))
    assert counts.shape == (50, 400)
    for b in (0, 6, 7, 49):
        assert abs(chunked[b] - roc_auc_score(*_explicit(y, p, counts[b]))) < 1e-12
    assert np.all((0 <= whole) & (whole <= 1))


# ---------------------------------------------------------------- gains


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


# ---------------------------------------------------------------- curves with bands


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


# ---------------------------------------------------------------- segments, oracle, evaluate


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


def test_oracle_metrics():
    y, p, true_pd = _sample()
    oracle = oracle_metrics(y, p, true_pd)
    assert oracle["auc"] == pytest.approx(roc_auc_score(y, true_pd))
    assert oracle_metrics(y, true_pd, true_pd)["ece_vs_true_pd"] == 0.0
    assert 0 < oracle["ece_vs_true_pd"] < 0.1
    bins = np.minimum((p * 10).astype(int), 9)
    expected = sum(abs(p[bins == k].mean() - true_pd[bins == k].mean()) * (bins == k).sum()
                   for k in range(10) if (bins == k).any()) / len(p)
    assert oracle["ece_vs_true_pd"] == pytest.approx(expected, abs=1e-9)


def test_evaluate_is_json_ready_and_consistent():
    y, p, _ = _sample(800)
    raw = np.clip(p * 1.4, 0, 1)
    out = evaluate(y, p, threshold=0.2, n_resamples=100, y_raw=raw)
    json.dumps(out, allow_nan=False)
    assert set(out) == {"n", "defaults", "default_rate", "auc", "auc_ci", "pr_auc", "pr_auc_ci", "ks", "gini",
                        "gini_ci", "brier", "brier_ci", "log_loss", "ece_calibrated", "ece_calibrated_ci", "ece_raw",
                        "precision", "recall", "f1", "specificity", "referral_rate", "top_decile_lift", "threshold"}
    assert out["n"] == 800 and out["defaults"] == int(y.sum())
    assert out["auc"] == pytest.approx(roc_auc_score(y, p))
    assert out["auc_ci"] == list(bootstrap_ci(y, p, "auc", 100))
    assert out["brier_ci"] == list(bootstrap_ci(y, p, "brier", 100))
    assert out["gini_ci"] == [pytest.approx(2 * v - 1) for v in out["auc_ci"]]
    assert out["ece_raw"] == pytest.approx(expected_calibration_error(y, raw))
    assert out["recall"] == at_threshold(y, p, 0.2).recall
    assert evaluate(y, p, 0.2, n_resamples=10)["ece_raw"] is None


def test_evaluate_with_one_class_gives_none_not_nan():
    out = evaluate(np.zeros(10), np.linspace(0, 0.5, 10), 0.3, n_resamples=10)
    json.dumps(out, allow_nan=False)
    assert out["auc"] is None and out["auc_ci"] == [None, None] and out["top_decile_lift"] is None
