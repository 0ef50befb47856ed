"""Drift against frozen training bins: bin counting, PSI, the χ² p-value, KS and the per-feature summary."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from riskcore.evaluation.drift import (
    PSI_FLOOR,
    FrozenBins,
    chi2_p_value,
    feature_drift,
    ks_statistic,
    psi,
    psi_band,
)


def _psi_loop(expected, actual, eps=PSI_FLOOR):
    te, ta = sum(expected), sum(actual)
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        pe, pa = max(e / te, eps), max(a / ta, eps)
        total += (pa - pe) * math.log(pa / pe)
    return total


def test_numeric_bins_are_deciles_with_missing_and_out_of_range():
    rng = np.random.default_rng(0)
    x = rng.normal(size=10_000)
    bins = FrozenBins.numeric(x, lo=-3.0, hi=3.0)
    inside = x[(x >= -3) & (x <= 3)]
    np.testing.assert_allclose(bins.edges, np.quantile(inside, np.linspace(0.1, 0.9, 9)))
    assert len(bins.labels) == 12 and bins.labels[-2:] == ("missing", "out_of_range")
    counts = bins.counts(np.array([np.nan, 10.0, -np.inf, 0.0, -5.0]))
    assert counts[-2] == 1 and counts[-1] == 3 and counts.sum() == 5
    assert sum(bins.reference_counts) == len(x)
    assert bins.reference_counts[-1] == int(((x < -3) | (x > 3)).sum())


def test_few_distinct_values_get_one_bin_each():
    bins = FrozenBins.numeric(np.array([0, 0, 0, 1, 1, 2] * 10, dtype=float))
    assert bins.edges == (0.5, 1.5)
    assert bins.reference_counts == (30, 20, 10, 0, 0)
    assert FrozenBins.numeric(np.full(5, 7.0)).reference_counts == (5, 0, 0)


def test_categorical_bins_put_unknown_levels_out_of_range():
    bins = FrozenBins.categorical(["b", "a", None, "a"])
    assert bins.levels == ("a", "b")
    assert list(bins.counts(["a", "c", None, "b", "b"])) == [1, 2, 1, 1]
    given_levels = FrozenBins.categorical(["x"], levels=["x", "y"])
    assert given_levels.labels == ("x", "y", "missing", "out_of_range")


@pytest.mark.parametrize(
    "bins",
    [FrozenBins.numeric(np.arange(100.0), lo=0.0, hi=200.0), FrozenBins.categorical(["a", "b", None])],
)
def test_bins_round_trip_through_json(bins):
    again = FrozenBins.from_dict(json.loads(json.dumps(bins.as_dict())))
    assert again == bins


def test_from_dict_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown bin kind 'ordinal'"):
        FrozenBins.from_dict({"kind": "ordinal"})


@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), min_size=1, max_size=200), st.randoms())
def test_counts_do_not_depend_on_row_order(values, rnd):
    shuffled = list(values)
    rnd.shuffle(shuffled)
    bins = FrozenBins.numeric(values, lo=-1e5, hi=1e5)
    assert bins == FrozenBins.numeric(shuffled, lo=-1e5, hi=1e5)
    np.testing.assert_array_equal(bins.counts(values), bins.counts(shuffled))
    assert bins.counts(values).sum() == len(values)


@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=100), st.randoms())
def test_categorical_counts_do_not_depend_on_row_order(values, rnd):
    shuffled = list(values)
    rnd.shuffle(shuffled)
    bins = FrozenBins.categorical(values)
    assert bins == FrozenBins.categorical(shuffled)
    np.testing.assert_array_equal(bins.counts(values), bins.counts(shuffled))


@given(
    st.lists(st.integers(0, 1000), min_size=2, max_size=12).flatmap(
        lambda e: st.tuples(st.just(e), st.lists(st.integers(0, 1000), min_size=len(e), max_size=len(e)))
    )
)
def test_psi_matches_a_python_loop(pair):
    expected, actual = pair
    if sum(expected) == 0 or sum(actual) == 0:
        assert math.isnan(psi(expected, actual))
    else:
        assert psi(expected, actual) == pytest.approx(_psi_loop(expected, actual), rel=1e-9, abs=1e-12)


def test_psi_of_identical_shares_is_zero_and_lengths_must_match():
    assert psi([10, 20, 0], [20, 40, 0]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="differ in length"):
        psi([1, 2], [1, 2, 3])


@pytest.mark.parametrize(
    ("value", "band"),
    [(0.0, "stable"), (0.099, "stable"), (0.10, "watch"), (0.25, "watch"), (0.2501, "act"), (float("nan"), "stable")],
)
def test_psi_bands(value, band):
    assert psi_band(value) == band


def test_chi2_matches_scipy_when_every_bin_is_large():
    expected = np.array([100, 200, 300, 400])
    actual = np.array([30, 50, 70, 90])
    f_exp = expected / expected.sum() * actual.sum()
    assert chi2_p_value(expected, actual) == pytest.approx(stats.chisquare(actual, f_exp).pvalue)


def test_chi2_drops_empty_reference_bins_and_pools_small_ones():
    expected = np.array([1000, 1000, 0, 2, 1])
    actual = np.array([100, 90, 7, 1, 1])
    kept_e = np.array([1000, 1000, 3]) / 2003 * 192
    kept_a = np.array([100, 90, 2])
    f_exp = np.array([kept_e[0] + kept_e[2], kept_e[1]])
    f_obs = np.array([kept_a[0] + kept_a[2], kept_a[1]])
    assert chi2_p_value(expected, actual) == pytest.approx(stats.chisquare(f_obs, f_exp).pvalue)


def test_chi2_is_one_without_two_usable_bins():
    assert chi2_p_value([10, 0, 0], [5, 5, 5]) == 1.0
    assert chi2_p_value([10, 10], [0, 0]) == 1.0


def test_ks_matches_scipy_on_finite_values():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=300), rng.normal(0.3, size=200)
    ref = stats.ks_2samp(a, b)
    stat, p = ks_statistic(np.append(a, [np.nan, np.inf]), np.append(b, np.nan))
    assert (stat, p) == pytest.approx((ref.statistic, ref.pvalue))
    assert all(math.isnan(v) for v in ks_statistic([np.nan], [1.0]))


@given(st.floats(-5, 5), st.floats(0.2, 5), st.integers(0, 2**31 - 1))
def test_a_planted_shift_acts_while_a_resample_stays_stable(mean, sd, seed):
    rng = np.random.default_rng(seed)
    train = rng.normal(mean, sd, size=20_000)
    bins = FrozenBins.numeric(train)
    same = feature_drift(bins, rng.normal(mean, sd, size=20_000))
    shifted = feature_drift(bins, rng.normal(mean, sd, size=20_000) + 2 * sd)
    assert same.status == "stable" and same.psi < 0.01
    assert shifted.status == "act" and shifted.p_value < 1e-6


def test_feature_drift_reports_shares_of_missing_and_out_of_range():
    bins = FrozenBins.numeric(np.linspace(0, 1, 1000), lo=0.0, hi=1.0)
    drift = feature_drift(bins, np.array([0.5, np.nan, 2.0, -1.0]))
    assert (drift.n, drift.missing_share, drift.out_of_range_share) == (4, 0.25, 0.5)
    assert drift.status == "act"
    empty = feature_drift(bins, np.array([]))
    assert empty.n == 0 and math.isnan(empty.psi) and empty.p_value == 1.0


@pytest.mark.parametrize(
    ("bins", "values"),
    [
        (FrozenBins.numeric(np.arange(100.0), lo=0.0, hi=90.0), [5.0, np.nan, 95.0, -np.inf, 0.0, 89.5, 1e9]),
        (FrozenBins.numeric([1.0, 1.0, 2.0]), [1.0, 1.5, 2.0, 3.0, np.nan]),
        (FrozenBins.categorical(["a", "b"]), ["a", None, "z", "b", np.nan]),
    ],
    ids=["deciles", "few-values", "categories"],
)
def test_codes_are_the_bins_that_counts_adds_up(bins, values):
    codes = bins.codes(values)
    assert bins.n_bins == len(bins.labels) == len(bins.reference_counts)
    assert codes.dtype == np.int64 and ((0 <= codes) & (codes < bins.n_bins)).all()
    np.testing.assert_array_equal(np.bincount(codes, minlength=bins.n_bins), bins.counts(values))
    missing = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in values])
    assert ((codes == bins.n_bins - 2) == missing).all()


def test_category_codes_match_text_and_count_unknown_levels_without_a_warning():
    import warnings

    import pandas as pd

    from riskcore.evaluation.drift import category_codes

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unknown levels must not go through a deprecated path
        assert category_codes([1, 2, 3, None], ("1", "2")).tolist() == [0, 1, 3, 2]
        assert category_codes(pd.Series(["b", None, "x"], dtype="string"), ("a", "b")).tolist() == [1, 2, 3]
        assert category_codes(np.array(["a", "A", " a"], dtype=object), ["a"]).tolist() == [0, 2, 2]
        assert category_codes(pd.Series([1.5, np.nan]), ("1.5",)).tolist() == [0, 1]
        assert category_codes([], ("a",)).tolist() == []
        assert FrozenBins.categorical([1, 2, 1]).reference_counts == (2, 1, 0, 0)  # integer-coded classes
