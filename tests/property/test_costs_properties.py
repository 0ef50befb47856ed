"""Cost invariants against brute force: every threshold, any threshold, any pair of costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from riskcore.config import Costs
from riskcore.evaluation.costs import CostSweep, business_impact, choose_threshold, cost_curve


@st.composite
def portfolios(draw, max_size=80):
    """Outcomes (one class allowed), probabilities with arbitrary ties, exposures."""
    n = draw(st.integers(1, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    levels = draw(st.sampled_from([1, 2, 4, 10, 0]))  # 0: continuous; 1: only 0 and 1
    p = rng.random(n)
    if levels:
        p = np.round(p * levels) / levels
    y = (rng.random(n) < draw(st.floats(0.0, 1.0))).astype(int)
    exposure = np.round(rng.lognormal(8, 1.5, n), 2)
    exposure[rng.random(n) < 0.1] = 0.0
    return y, p, exposure


cost_settings = st.builds(
    Costs,
    fn=st.floats(1.0, 1e6),
    fp=st.floats(1.0, 1e6),
    lgd=st.floats(0.05, 1.0),
    mode=st.sampled_from(["fixed", "exposure"]),
)


def _naive(y, p, exposure, costs, t):
    """Confusion counts and cost at one threshold, row by row."""
    tp = fp = tn = fn = 0
    missed = 0.0
    for yi, pi, ei in zip(y, p, exposure, strict=True):
        if pi >= t:
            tp += yi == 1
            fp += yi == 0
        else:
            fn += yi == 1
            tn += yi == 0
            if yi == 1:
                missed += costs.lgd * ei if costs.mode == "exposure" else costs.fn
    return tp, fp, tn, fn, missed + costs.fp * fp


@given(portfolios(), cost_settings)
def test_cost_curve_equals_brute_force(portfolio, costs):
    y, p, exposure = portfolio
    curve = cost_curve(y, p, costs, exposure=exposure)
    candidates = sorted(set(p.tolist())) + [np.nextafter(p.max(), np.inf)]
    assert curve["threshold"].tolist() == candidates
    for row in curve.itertuples():
        tp, fp, tn, fn, cost = _naive(y, p, exposure, costs, row.threshold)
        assert (row.tp, row.fp, row.tn, row.fn) == (tp, fp, tn, fn)
        assert abs(row.cost - cost) <= 1e-9 * max(1.0, cost)
        assert row.referral_rate == (tp + fp) / len(y)


@given(portfolios(), cost_settings, st.lists(st.floats(-0.5, 1.5), min_size=1, max_size=20))
def test_chosen_threshold_is_no_worse_than_any_other(portfolio, costs, others):
    y, p, exposure = portfolio
    threshold, cost = choose_threshold(y, p, costs, exposure=exposure)
    assert abs(_naive(y, p, exposure, costs, threshold)[4] - cost) <= 1e-9 * max(1.0, cost)
    for t in others + p.tolist() + [0.0, 1.0, np.inf]:
        assert cost <= _naive(y, p, exposure, costs, t)[4] * (1 + 1e-12) + 1e-9
    # among exact ties the highest candidate wins
    curve = cost_curve(y, p, costs, exposure=exposure)
    assert threshold == curve.loc[curve["cost"] == curve["cost"].min(), "threshold"].max()


@given(portfolios(), st.lists(cost_settings, min_size=1, max_size=4))
def test_sweep_reused_for_new_costs_equals_cost_curve(portfolio, cost_pairs):
    y, p, exposure = portfolio
    sweep = CostSweep(y, p, exposure=exposure)
    for costs in cost_pairs:
        pd.testing.assert_frame_equal(sweep.curve(costs), cost_curve(y, p, costs, exposure=exposure))
        assert sweep.optimal(costs) == choose_threshold(y, p, costs, exposure=exposure)


@given(portfolios(), cost_settings, st.lists(st.floats(-0.5, 1.5), min_size=1, max_size=10))
def test_sweep_at_any_threshold_equals_brute_force(portfolio, costs, thresholds):
    y, p, exposure = portfolio
    sweep = CostSweep(y, p, exposure=exposure)
    for t in thresholds + p.tolist():
        point = sweep.at(t, costs)
        tp, fp, tn, fn, cost = _naive(y, p, exposure, costs, t)
        assert (point.tp, point.fp, point.tn, point.fn) == (tp, fp, tn, fn)
        assert abs(point.cost - cost) <= 1e-9 * max(1.0, cost)


@given(portfolios(), cost_settings, st.floats(-0.2, 1.2))
def test_business_impact_is_consistent_with_the_curve(portfolio, costs, threshold):
    y, p, exposure = portfolio
    impact = business_impact(y, p, threshold, costs, exposure=exposure)
    point = CostSweep(y, p, exposure=exposure).at(threshold, costs)
    tol = 1e-9 * max(1.0, impact.loss_without_model, impact.loss_with_model)
    assert impact.savings == impact.loss_without_model - impact.loss_with_model
    assert abs(impact.loss_with_model - point.cost) <= tol
    assert abs(impact.loss_avoided + impact.missed_loss - impact.loss_without_model) <= tol
    assert (impact.defaults_caught, impact.defaults_missed, impact.false_alarms) == (point.tp, point.fn, point.fp)
    assert impact.referred == point.tp + point.fp
    assert impact.defaults_caught + impact.defaults_missed == int(y.sum())
    if impact.false_alarms == 0:
        assert np.isnan(impact.roi)
    else:
        assert abs(impact.roi - impact.savings / impact.false_alarm_cost) <= 1e-12 * max(1.0, abs(impact.roi))
