"""Validation battery invariants: each statistic equal to a brute-force or scipy reference on drawn data."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from riskcore.config import ValidationRules
from riskcore.evaluation.compare import auc_standard_error
from riskcore.evaluation.drift import psi
from riskcore.evaluation.validation import (
    grade_psi_test,
    herfindahl,
    hosmer_lemeshow,
    migration_stability,
    spiegelhalter,
    vasicek_p_value,
)

RULES = ValidationRules()
FEW = settings(max_examples=25, deadline=None)


@st.composite
def pds_and_outcomes(draw, min_size=5, max_size=300):
    """PDs in (0, 1) with ties, outcomes drawn from a distorted version of them, and groups."""
    n = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p = np.round(rng.beta(1, draw(st.sampled_from([3, 20, 60])), n).clip(0.001, 0.99), draw(st.sampled_from([2, 3, 6])))
    p = p.clip(0.001, 0.99)
    y = (rng.random(n) < np.minimum(p * draw(st.floats(0.5, 2.0)), 1)).astype(int)
    groups = rng.integers(0, draw(st.integers(1, 8)), n)
    return p, y, groups


@FEW
@given(pds_and_outcomes())
def test_hosmer_lemeshow_equals_a_loop_over_the_groups(data):
    p, y, groups = data
    statistic, df = 0.0, 0
    for g in np.unique(groups):
        o, e, n = y[groups == g].sum(), p[groups == g].sum(), (groups == g).sum()
        statistic += (o - e) ** 2 / (e * (1 - e / n))
        df += 1
    found = hosmer_lemeshow(p, y, groups, RULES)
    assert found.df == df
    assert np.isclose(found.statistic, statistic, rtol=1e-9)
    assert np.isclose(found.p_value, stats.chi2.sf(statistic, df), rtol=1e-9, atol=1e-300)


@FEW
@given(pds_and_outcomes())
def test_spiegelhalter_equals_the_standardised_brier_score(data):
    p, y, _ = data
    n = len(p)
    brier = np.mean((y - p) ** 2)
    z = (brier - np.mean(p * (1 - p))) / np.sqrt(np.sum((1 - 2 * p) ** 2 * p * (1 - p)) / n**2)
    found = spiegelhalter(p, y, RULES)
    assert np.isclose(found.statistic, z, rtol=1e-8, atol=1e-10)
    assert 0 <= found.p_value <= 1


@FEW
@given(st.lists(st.integers(0, 500), min_size=2, max_size=12).filter(lambda c: sum(c) > 0))
def test_herfindahl_index_is_the_normalised_sum_of_squared_shares(counts):
    shares = np.array(counts) / sum(counts)
    found = herfindahl(counts, RULES)
    assert np.isclose(found.statistic, 1 + np.log(np.sum(shares**2)) / np.log(len(counts)), atol=1e-12)
    assert -1e-12 <= found.statistic <= 1 + 1e-12
    assert found.largest_share == shares.max()


@FEW
@given(st.integers(0, 2**32 - 1), st.integers(2, 7))
def test_migration_shares_and_bandwidths_equal_a_loop(seed, k):
    m = np.random.default_rng(seed).integers(0, 20, (k, k))
    found = migration_stability(m, RULES)
    total = m.sum()
    far = sum(m[i, j] for i in range(k) for j in range(k) if abs(i - j) > 1)
    assert np.isclose(found.statistic, far / total)
    up_num = sum(abs(i - j) * m[i, j] for i in range(k) for j in range(k) if j > i)
    up_den = sum(max(abs(i + 1 - k), abs(i + 1 - 1)) * m[i, i + 1:].sum() for i in range(k))
    low_num = sum(abs(i - j) * m[i, j] for i in range(k) for j in range(k) if j < i)
    low_den = sum(max(abs(i + 1 - k), abs(i + 1 - 1)) * m[i, :i].sum() for i in range(k))
    assert found.mwb_upper is None if up_den == 0 else np.isclose(found.mwb_upper, up_num / up_den)
    assert found.mwb_lower is None if low_den == 0 else np.isclose(found.mwb_lower, low_num / low_den)
    assert found.mwb_upper is None or 0 <= found.mwb_upper <= 1


@FEW
@given(st.integers(1, 400), st.floats(0.001, 0.5), st.floats(0.01, 0.3), st.data())
def test_vasicek_p_value_is_a_probability_falling_with_the_defaults(n, p_default, rho, data):
    d = data.draw(st.integers(1, n))
    value = vasicek_p_value(d, n, p_default, rho)
    assert 0 <= value <= 1
    if d < n:
        assert vasicek_p_value(d + 1, n, p_default, rho) <= value + 1e-9
    assert np.isclose(vasicek_p_value(d, n, p_default, 0.0),
                      stats.binomtest(d, n, p_default, alternative="greater").pvalue, rtol=1e-10)


@FEW
@given(pds_and_outcomes(min_size=4, max_size=120))
def test_auc_standard_error_equals_the_pairwise_definition(data):
    p, y, _ = data
    y[0], y[-1] = 0, 1
    pos, neg = p[y == 1], p[y == 0]
    pair = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = pair.mean(axis=1), pair.mean(axis=0)
    var = (v10.var(ddof=1) / len(pos) if len(pos) > 1 else 0) + (v01.var(ddof=1) / len(neg) if len(neg) > 1 else 0)
    auc, se = auc_standard_error(y, p)
    assert np.isclose(auc, pair.mean()) and np.isclose(se, np.sqrt(var))


@FEW
@given(st.lists(st.integers(1, 300), min_size=10, max_size=10), st.lists(st.integers(0, 300), min_size=10, max_size=10))
def test_grade_psi_is_the_drift_psi(reference, current):
    found = grade_psi_test(reference, current, RULES)
    expected = psi(reference, current)
    assert (found.statistic is None and not np.isfinite(expected)) or np.isclose(found.statistic, expected)
