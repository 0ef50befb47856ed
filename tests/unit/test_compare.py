"""Champion against challenger on the same rows: DeLong, the paired cost bootstrap, the swap set, the score shift."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from riskcore.config import Costs
from riskcore.evaluation.compare import auc_difference, cost_difference, row_costs, score_shift, swap_set
from riskcore.evaluation.costs import cost_curve


def _brute_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """ΔAUC and its DeLong variance from the definition: every positive against every negative (O(m n))."""
    def placements(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(axis=1), psi.mean(axis=0)  # V10 per positive, V01 per negative

    v10a, v01a = placements(a)
    v10b, v01b = placements(b)
    m, n = len(v10a), len(v01a)
    s10, s01 = np.cov(v10a, v10b), np.cov(v01a, v01b)
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    return float(v10b.mean() - v10a.mean()), float(var)


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(20, 300), ties=st.booleans())
@settings(max_examples=40, deadline=None)
def test_delong_equals_its_definition_and_the_aucs_equal_sklearn(seed, n, ties):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    y[:2] = [0, 1]
    a = rng.normal(size=n) + y
    b = 0.6 * a + rng.normal(size=n) * 0.8 + 0.3 * y
    if ties:
        a, b = np.round(a, 0), np.round(b, 1)
    found = auc_difference(y, a, b)
    diff, var = _brute_delong(y, a, b)
    assert found.auc_champion == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert found.auc_challenger == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert found.difference == pytest.approx(diff, abs=1e-12)
    assert found.se == pytest.approx(np.sqrt(max(var, 0)), rel=1e-9, abs=1e-12)
    assert found.low <= found.difference <= found.high


def test_delong_interval_covers_the_true_difference_about_95_percent_of_the_time():
    """Two models of a known latent score; the true ΔAUC from one huge sample, coverage from 300 small ones."""
    rng = np.random.default_rng(4)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = rng.normal(size=n)
        y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 1.3 * z)))).astype(int)
        return y, z + rng.normal(0, 1.0, n), z + rng.normal(0, 0.7, n)

    y, a, b = draw(400_000)
    truth = roc_auc_score(y, b) - roc_auc_score(y, a)
    covered = 0
    for _ in range(300):
        found = auc_difference(*draw(1500))
        covered += found.low <= truth <= found.high
    assert 0.91 <= covered / 300 <= 0.98


def test_identical_models_differ_by_nothing():
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.2).astype(int)
    p = rng.random(500)
    found = auc_difference(y, p, p)
    assert (found.difference, found.se, found.p_value) == (0.0, 0.0, 1.0)
    cost = cost_difference(y, p, p, threshold_champion=0.3, threshold_challenger=0.3, costs=Costs())
    assert (cost.difference, cost.low, cost.high) == (0.0, 0.0, 0.0)
    assert score_shift(p, p) == pytest.approx(0.0, abs=1e-12)


def test_one_class_gives_nan_not_an_error():
    found = auc_difference(np.zeros(10), np.linspace(0, 1, 10), np.linspace(1, 0, 10))
    assert np.isnan(found.difference) and np.isnan(found.se)


@pytest.mark.parametrize("mode", ["fixed", "exposure"])
def test_row_costs_add_up_to_the_cost_curve_at_the_cut_off(mode):
    rng = np.random.default_rng(2)
    n = 2000
    y = (rng.random(n) < 0.08).astype(int)
    p = np.clip(rng.beta(1, 10, n) + 0.2 * y, 0, 1)
    exposure = rng.uniform(1e4, 1e6, n)
    costs = Costs(fn=50_000, fp=8_000, mode=mode)
    threshold = 0.12
    total = row_costs(y, p, threshold, costs, exposure if mode == "exposure" else None).sum()
    refer = p >= threshold
    missed = (0.45 * exposure if mode == "exposure" else np.full(n, 50_000.0))[~refer & (y == 1)].sum()
    assert total == pytest.approx(missed + 8_000 * (refer & (y == 0)).sum())
    curve = cost_curve(y, p, costs, exposure=exposure if mode == "exposure" else None)
    at = curve.iloc[(curve["threshold"] - threshold).abs().argmin()]
    if at["threshold"] == pytest.approx(threshold):
        assert total == pytest.approx(at["cost"])


def test_the_paired_bootstrap_is_reproducible_by_seed_and_paired():
    rng = np.random.default_rng(3)
    n = 3000
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + z)))).astype(int)
    a = 1 / (1 + np.exp(-(-2.5 + z + rng.normal(0, 1.0, n))))
    b = 1 / (1 + np.exp(-(-2.5 + z + rng.normal(0, 0.9, n))))
    kw = {"threshold_champion": 0.1, "threshold_challenger": 0.1, "costs": Costs(), "n_resamples": 400}
    first = cost_difference(y, a, b, random_state=11, **kw)
    assert cost_difference(y, a, b, random_state=11, **kw) == first
    assert cost_difference(y, a, b, random_state=12, **kw) != first
    # paired: the interval of the difference is narrower than the two costs' own spreads added
    assert first.low <= first.difference <= first.high
    delta = row_costs(y, b, 0.1, Costs()) - row_costs(y, a, 0.1, Costs())
    se = delta.std(ddof=1) * np.sqrt(n)
    assert (first.high - first.low) == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_swap_set_against_a_loop():
    rng = np.random.default_rng(5)
    y = (rng.random(400) < 0.15).astype(int)
    a, b = rng.random(400), rng.random(400)
    found = swap_set(y, a, b, threshold_champion=0.6, threshold_challenger=0.5)
    only_b = [i for i in range(400) if a[i] >= 0.6 and b[i] < 0.5]
    only_a = [i for i in range(400) if a[i] < 0.6 and b[i] >= 0.5]
    assert found.champion_refers_challenger_accepts == len(only_b)
    assert found.challenger_refers_champion_accepts == len(only_a)
    assert found.default_rate_challenger_accepts == pytest.approx(np.mean(y[only_b]))
    assert found.default_rate_champion_accepts == pytest.approx(np.mean(y[only_a]))
    assert found.agree == 400 - len(only_a) - len(only_b)


def test_inputs_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        auc_difference([0, 1, 0], [0.1, 0.2], [0.3, 0.4, 0.5])
