"""Point and threshold metrics, the oracle comparison and the evaluation summary."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from samples import probability_sample as _sample
from scipy.stats import ks_2samp
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from riskcore.errors import SchemaError
from riskcore.evaluation.bootstrap import bootstrap_ci
from riskcore.evaluation.curves import gains_table
from riskcore.evaluation.metrics import (
    ThresholdMetrics,
    at_threshold,
    evaluate,
    gini,
    ks_statistic,
    log_loss,
    oracle_metrics,
    pr_auc,
    roc_auc,
)
from riskcore.evaluation.reliability import expected_calibration_error


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
