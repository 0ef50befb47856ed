"""Back-tests of predicted PDs: Jeffreys intervals, binomial p-values, traffic lights, expected AUC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from riskcore.evaluation.backtest import (
    binomial_p_value,
    calibration_in_the_large,
    expected_auc,
    grade_backtest,
    jeffreys_interval,
    traffic_light,
)
from riskcore.numeric import roc_auc

counts = st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@given(counts, st.sampled_from([0.9, 0.95, 0.99]))
def test_jeffreys_matches_beta_quantiles(dn, confidence):
    d, n = dn
    low, high = jeffreys_interval(d, n, confidence)
    if n == 0:
        assert (low, high) == (0.0, 1.0)
        return
    alpha = 1 - confidence
    ref_low = stats.beta.ppf(alpha / 2, d + 0.5, n - d + 0.5)
    ref_high = stats.beta.ppf(1 - alpha / 2, d + 0.5, n - d + 0.5)
    assert low == (0.0 if d == 0 else pytest.approx(ref_low))
    assert high == (1.0 if d == n else pytest.approx(ref_high))
    assert 0 <= low <= d / n <= high <= 1


def test_jeffreys_rejects_impossible_counts():
    with pytest.raises(ValueError, match="defaults must be between 0 and n"):
        jeffreys_interval(5, 3)
    with pytest.raises(ValueError, match="confidence"):
        jeffreys_interval(1, 3, confidence=1.0)


@given(counts, st.floats(0.001, 0.999))
def test_binomial_p_value_matches_scipy(dn, p):
    d, n = dn
    expected = 1.0 if n == 0 else stats.binomtest(d, n, p, alternative="greater").pvalue
    assert binomial_p_value(d, n, p) == pytest.approx(expected)


@pytest.mark.parametrize(("defaults", "light"), [(10, "green"), (17, "amber"), (25, "red")])
def test_traffic_light_bands(defaults, light):
    # 1000 rows at PD 1 %: P(X >= 17) ~ 0.027, P(X >= 25) ~ 2e-5.
    assert traffic_light(defaults, 1000, 0.01) == light


def test_grade_backtest_rows_per_grade():
    rng = np.random.default_rng(0)
    grades = np.repeat(["A", "B", "C"], [4000, 3000, 1000])
    p = np.select([grades == "A", grades == "B"], [0.01, 0.05], 0.2)
    y = (rng.random(len(p)) < p).astype(int)
    y[grades == "C"] = (rng.random(1000) < 0.35).astype(int)
    table = grade_backtest(grades, p, y)
    assert list(table.columns) == ["grade", "n", "predicted_pd", "defaults", "observed_rate", "jeffreys_low",
                                   "jeffreys_high", "p_value", "traffic_light"]
    assert list(table["grade"]) == ["A", "B", "C"] and list(table["n"]) == [4000, 3000, 1000]
    c = table.iloc[2]
    assert c["defaults"] == y[grades == "C"].sum() and c["traffic_light"] == "red"
    assert c["p_value"] == pytest.approx(binomial_p_value(int(c["defaults"]), 1000, 0.2))
    assert (table["jeffreys_low"] <= table["observed_rate"]).all()
    assert (table["observed_rate"] <= table["jeffreys_high"]).all()


def _brute_expected_auc(p):
    num = den = 0.0
    for i in range(len(p)):
        for j in range(len(p)):
            if i == j:
                continue
            w = p[i] * (1 - p[j])
            den += w
            num += w * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    return num / den


@given(st.lists(st.sampled_from([0.0, 0.05, 0.1, 0.3, 0.5, 0.9, 1.0]) | st.floats(0, 1), min_size=2, max_size=30))
def test_expected_auc_matches_a_double_loop(p):
    p = np.array(p)
    estimate, _ = expected_auc(p, n_draws=0)
    if _den(p) > 0:
        assert estimate == pytest.approx(_brute_expected_auc(p), rel=1e-9, abs=1e-12)
    else:
        assert math.isnan(estimate)


def _den(p):
    return p.sum() * (1 - p).sum() - np.sum(p * (1 - p))


def test_expected_auc_is_unbiased_on_calibrated_scores():
    rng = np.random.default_rng(3)
    p = stats.norm.cdf(rng.normal(-2.0, 0.8, size=3000))
    estimate, (low, high) = expected_auc(p, n_draws=200, random_state=1)
    realised = [roc_auc(rng.random(len(p)) < p, p) for _ in range(200)]
    assert abs(np.mean(realised) - estimate) < 0.01
    assert low < estimate < high
    assert expected_auc(p, n_draws=50, random_state=1) == expected_auc(p, n_draws=50, random_state=1)


def test_expected_auc_rejects_non_probabilities():
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        expected_auc([0.2, 1.5])


def test_calibration_in_the_large_matches_a_two_sided_binomial_test():
    p = np.full(1000, 0.02)
    y = np.zeros(1000, dtype=int)
    y[:35] = 1
    result = calibration_in_the_large(p, y)
    assert (result.predicted, result.observed, result.n) == (pytest.approx(0.02), 0.035, 1000)
    assert result.difference == pytest.approx(0.015)
    assert result.p_value == pytest.approx(stats.binomtest(35, 1000, 0.02).pvalue)
    assert calibration_in_the_large([], []).p_value == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        calibration_in_the_large([0.1], [0, 1])


@given(seed=st.integers(0, 10_000), n=st.integers(2, 300), ties=st.booleans())
@settings(max_examples=60, deadline=None)
def test_each_draws_rank_sum_auc_equals_the_library_auc(seed, n, ties):
    from riskcore.evaluation.backtest import _simulated_aucs

    p = np.random.default_rng(seed).random(n)
    if ties:
        p = np.round(p, 1)
    fast = _simulated_aucs(p, 5, seed)
    rng = np.random.default_rng(seed)
    slow = np.array([roc_auc(rng.random(n, dtype=np.float32) < p, p) for _ in range(5)])  # the same draws
    np.testing.assert_allclose(fast, slow[np.isfinite(slow)], rtol=1e-12, atol=1e-12)


def _calibrated_pds(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """PDs of a calibrated model: the chance each company defaults, drawn from a few realistic shapes."""
    if kind == "probit":
        return stats.norm.cdf(rng.normal(-1.8, 0.7, n))
    if kind == "beta":
        return rng.beta(0.8, 10, n)
    return np.round(rng.choice([0.002, 0.01, 0.03, 0.08, 0.2], n), 3)  # a rating scale: many ties


@pytest.mark.parametrize("kind", ["probit", "beta", "grades"])
def test_expected_auc_is_unbiased_and_its_interval_covers_95_percent(kind):
    rng = np.random.default_rng(11)
    p = _calibrated_pds(kind, 1500, rng)
    estimate, (low, high) = expected_auc(p, n_draws=400, random_state=5)
    realised = np.array([roc_auc(y, p) for y in (rng.random((600, len(p))) < p) if 0 < y.sum() < len(y)])
    standard_error = realised.std(ddof=1) / np.sqrt(len(realised))
    # the estimate is a ratio of expectations: equal to the mean AUC up to O(1/n)
    assert abs(realised.mean() - estimate) < 4 * standard_error + 1 / len(p)
    coverage = np.mean((realised >= low) & (realised <= high))
    assert 0.90 <= coverage <= 0.99
    assert low < estimate < high
