"""Metric invariants: equal to scikit-learn / scipy, bootstrap equal to explicit resampling, gains tables add up."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import ks_2samp
from sklearn.metrics import average_precision_score, roc_auc_score

from riskcore.evaluation.bootstrap import bootstrap_auc_samples, bootstrap_ci, resample_counts
from riskcore.evaluation.curves import gains_table
from riskcore.evaluation.metrics import ks_statistic, pr_auc, roc_auc


@st.composite
def labelled_scores(draw, min_size=2, max_size=200, both_classes=True):
    """0/1 outcomes and probabilities with frequent ties; both classes present unless told otherwise."""
    n = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    levels = draw(st.sampled_from([2, 5, 50, 0]))  # 0: continuous
    p = rng.random(n)
    if levels:
        p = np.round(p * levels) / levels
    rate = draw(st.floats(0.02, 0.9))
    y = (rng.random(n) < rate * (0.5 + p)).astype(int)
    if both_classes:
        y[0], y[-1] = 0, 1
    return y, p


@given(labelled_scores(), st.booleans())
def test_rank_metrics_equal_sklearn_and_scipy(sample, weighted):
    y, p = sample
    w = np.random.default_rng(len(y)).uniform(0.1, 3.0, len(y)) if weighted else None
    assert abs(roc_auc(y, p, sample_weight=w) - roc_auc_score(y, p, sample_weight=w)) < 1e-12
    assert abs(pr_auc(y, p, sample_weight=w) - average_precision_score(y, p, sample_weight=w)) < 1e-12
    if not weighted:
        assert abs(ks_statistic(y, p) - ks_2samp(p[y == 1], p[y == 0]).statistic) < 1e-12


@given(labelled_scores(min_size=1, both_classes=False))
def test_roc_auc_is_nan_exactly_when_one_class_is_missing(sample):
    y, p = sample
    auc = roc_auc(y, p)
    assert np.isnan(auc) == (len(np.unique(y)) < 2)


@given(labelled_scores(), st.integers(0, 10_000))
def test_vectorised_bootstrap_auc_equals_explicit_resampling(sample, seed):
    y, p = sample
    aucs = bootstrap_auc_samples(y, p, n_resamples=5, random_state=seed)
    counts = np.vstack(list(resample_counts(len(y), 5, seed)))
    for b in range(5):
        yy, pp = np.repeat(y, counts[b]), np.repeat(p, counts[b])
        if len(np.unique(yy)) < 2:
            assert np.isnan(aucs[b])
        else:
            assert abs(aucs[b] - roc_auc_score(yy, pp)) < 1e-12


@given(labelled_scores(min_size=1, both_classes=False), st.sampled_from(["auc", "pr_auc", "brier", "ece", "ks"]),
       st.integers(0, 10_000))
def test_bootstrap_ci_is_ordered_and_repeats_with_the_same_seed(sample, metric, seed):
    y, p = sample
    first = bootstrap_ci(y, p, metric, n_resamples=60, random_state=seed)
    again = bootstrap_ci(y, p, metric, n_resamples=60, random_state=seed)
    np.testing.assert_array_equal(first, again)
    if not np.isnan(first[0]):
        assert first[0] <= first[1]


@given(labelled_scores(min_size=1, both_classes=False), st.integers(1, 15))
def test_gains_table_adds_up_and_never_splits_ties(sample, n_bins):
    y, p = sample
    table = gains_table(y, p, n_bins=n_bins)
    assert table["rows"].sum() == len(y)
    assert table["defaults"].sum() == y.sum()
    assert np.all(np.diff(table["decile"]) > 0) and table["decile"].iloc[0] == 1
    assert abs(table["cum_rows_share"].iloc[-1] - 1.0) < 1e-12
    # rebuild each row's group from the table (groups are consecutive in descending score) and check ties
    order = np.argsort(-p, kind="stable")
    group = np.repeat(table["decile"].to_numpy(), table["rows"].to_numpy())
    by_score: dict[float, set[int]] = {}
    for score, g in zip(p[order], group, strict=True):
        by_score.setdefault(float(score), set()).add(int(g))
    assert all(len(groups) == 1 for groups in by_score.values())
    # without ties the groups differ in size by at most one
    if len(np.unique(p)) == len(p) and len(p) >= n_bins:
        assert table["rows"].max() - table["rows"].min() <= 1
