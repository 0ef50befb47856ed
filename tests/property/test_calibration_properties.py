"""Calibration invariants: monotone, in [0, 1], equal to scikit-learn, ECE equal to a brute-force loop."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression

from riskcore.evaluation.reliability import expected_calibration_error, reliability_curve
from riskcore.modelling.calibration import fit_calibrator


@st.composite
def scored_samples(draw, min_size=2, max_size=300):
    """Raw scores (often tied) and 0/1 outcomes holding both classes."""
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    levels = draw(st.sampled_from([3, 20, 0]))  # 0: continuous scores
    slope = draw(st.floats(-2.0, 3.0))
    rng = np.random.default_rng(seed)
    score = rng.normal(0.0, 2.0, n)
    if levels:
        score = np.round(score * levels / 4) / (levels / 4)
    y = (rng.random(n) < 1 / (1 + np.exp(-slope * score))).astype(int)
    y[0], y[-1] = 0, 1
    return score, y


@st.composite
def probabilities(draw, max_size=300):
    """Outcomes and probabilities in [0, 1], with values on bin edges and exact 0 and 1."""
    n = draw(st.integers(1, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["uniform", "edges", "clustered"]))
    if kind == "uniform":
        p = rng.random(n)
    elif kind == "edges":
        p = rng.integers(0, 21, n) / 20  # 0, 0.05, ..., 1: many values exactly on a bin edge
    else:
        p = np.clip(rng.normal(0.05, 0.02, n), 0, 1)
    y = (rng.random(n) < p).astype(int)
    return y, p


def _brute_force_ece(y, p, n_bins, strategy):
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
        if len(edges) == 1:
            edges = np.array([edges[0], edges[0]])
    total = 0.0
    last = len(edges) - 2
    for k in range(len(edges) - 1):
        members = [i for i in range(len(p))
                   if edges[k] <= p[i] and (p[i] < edges[k + 1] or (k == last and p[i] <= edges[k + 1]))]
        if members:
            gap = abs(sum(p[i] for i in members) / len(members) - sum(y[i] for i in members) / len(members))
            total += len(members) / len(p) * gap
    return total


@given(scored_samples(), st.sampled_from(["isotonic", "platt"]))
def test_calibrated_probabilities_are_in_0_1_and_non_decreasing(sample, method):
    score, y = sample
    cal = fit_calibrator(score, y, method)
    q = np.sort(np.concatenate([score, np.linspace(score.min() - 10, score.max() + 10, 200)]))
    p = cal.predict(q)
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(np.diff(p) >= 0)


@given(scored_samples(), st.integers(0, 2**32 - 1))
def test_calibrator_predict_equals_sklearn_isotonic(sample, seed):
    score, y = sample
    cal = fit_calibrator(score, y, "isotonic", centred=False)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1, increasing=True).fit(score, y)
    q = np.random.default_rng(seed).uniform(score.min() - 3, score.max() + 3, 500)
    q = np.concatenate([q, score])
    np.testing.assert_allclose(cal.predict(q), iso.predict(q), rtol=0, atol=1e-12)


@given(probabilities(), st.integers(1, 12), st.sampled_from(["uniform", "quantile"]))
def test_ece_equals_brute_force_loop(sample, n_bins, strategy):
    y, p = sample
    ece = expected_calibration_error(y, p, n_bins=n_bins, strategy=strategy)
    assert abs(ece - _brute_force_ece(y, p, n_bins, strategy)) < 1e-12
    assert 0.0 <= ece <= 1.0


@given(probabilities(), st.integers(1, 12), st.sampled_from(["uniform", "quantile"]))
def test_reliability_table_accounts_for_every_row(sample, n_bins, strategy):
    y, p = sample
    table = reliability_curve(y, p, n_bins=n_bins, strategy=strategy)
    assert table["count"].sum() == len(y)
    assert np.all(table["lower"] <= table["mean_predicted"] + 1e-12)
    assert np.all(table["mean_predicted"] <= table["upper"] + 1e-12)
    assert np.all(np.diff(table["bin"]) > 0)
