"""Cost curve, threshold choice, the reusable sweep and business impact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskcore.config import Costs
from riskcore.errors import SchemaError
from riskcore.evaluation.costs import (
    BusinessImpact,
    CostPoint,
    CostSweep,
    business_impact,
    choose_threshold,
    cost_curve,
)

Y = np.array([0, 0, 1, 1])
P = np.array([0.1, 0.4, 0.35, 0.8])
COSTS = Costs(fn=5.0, fp=1.0)
COLUMNS = ["threshold", "tp", "fp", "tn", "fn", "cost", "referral_rate", "approval_rate", "missed_loss",
           "false_alarm_cost"]


def test_cost_curve_by_hand():
    curve = cost_curve(Y, P, COSTS)
    assert list(curve.columns) == COLUMNS
    assert curve["threshold"].tolist() == [0.1, 0.35, 0.4, 0.8, np.nextafter(0.8, np.inf)]
    assert curve["tp"].tolist() == [2, 2, 1, 1, 0]
    assert curve["fp"].tolist() == [2, 1, 1, 0, 0]
    assert curve["tn"].tolist() == [0, 1, 1, 2, 2]
    assert curve["fn"].tolist() == [0, 0, 1, 1, 2]
    assert curve["cost"].tolist() == [2.0, 1.0, 6.0, 5.0, 10.0]
    assert curve["referral_rate"].tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert (curve["referral_rate"] + curve["approval_rate"] == 1.0).all()
    assert (curve["cost"] == curve["missed_loss"] + curve["false_alarm_cost"]).all()
    assert choose_threshold(Y, P, COSTS) == (0.35, 1.0)


def test_last_threshold_refers_nobody_even_at_probability_one():
    curve = cost_curve(np.array([0, 1]), np.array([0.0, 1.0]), COSTS)
    assert curve["threshold"].iloc[-1] == np.nextafter(1.0, np.inf)
    assert np.isfinite(curve["threshold"]).all()
    assert curve.iloc[-1][["tp", "fp"]].tolist() == [0, 0]
    assert curve.iloc[0][["tn", "fn"]].tolist() == [0, 0]


def test_all_equal_scores_give_two_thresholds():
    curve = cost_curve(np.array([0, 1, 0]), np.full(3, 0.3), COSTS)
    assert len(curve) == 2
    assert curve["referral_rate"].tolist() == [1.0, 0.0]


def test_exact_ties_choose_the_highest_threshold():
    y = np.array([1, 0, 0])
    p = np.array([0.5, 0.5, 0.1])
    costs = Costs(fn=1.0, fp=1.0)
    # t=0.1 refers all: 2 false alarms; t=0.5: 1 false alarm; above 0.5 nobody: 1 missed default
    assert cost_curve(y, p, costs)["cost"].tolist() == [2.0, 1.0, 1.0]
    threshold, cost = choose_threshold(y, p, costs)
    assert cost == 1.0 and threshold == np.nextafter(0.5, np.inf)


def test_exposure_mode_prices_missed_defaults_at_lgd_times_exposure():
    exposure = np.array([100.0, 200.0, 1000.0, 50.0])
    costs = Costs(fn=5.0, fp=1.0, lgd=0.5, mode="exposure")
    curve = cost_curve(Y, P, costs, exposure=exposure)
    # missed defaults by threshold: none, none, row 2 (0.35), row 2, rows 2 and 3
    assert curve["missed_loss"].tolist() == [0.0, 0.0, 500.0, 500.0, 525.0]
    assert curve["false_alarm_cost"].tolist() == [2.0, 1.0, 1.0, 0.0, 0.0]
    assert choose_threshold(Y, P, costs, exposure=exposure) == (0.35, 1.0)


def test_exposure_mode_without_exposure_raises_a_clear_error():
    costs = Costs(mode="exposure")
    for call in (lambda: cost_curve(Y, P, costs), lambda: choose_threshold(Y, P, costs),
                 lambda: business_impact(Y, P, 0.5, costs), lambda: CostSweep(Y, P).curve(costs),
                 lambda: CostSweep(Y, P).optimal(costs), lambda: CostSweep(Y, P).at(0.3, costs)):
        with pytest.raises(ValueError, match="column 'exposure': cost mode 'exposure'.*pass exposure="):
            call()


def test_fixed_mode_ignores_exposure():
    exposure = np.array([1.0, 2.0, 3.0, 4.0])
    pd.testing.assert_frame_equal(cost_curve(Y, P, COSTS, exposure=exposure), cost_curve(Y, P, COSTS))


def test_bad_inputs_raise_schema_errors():
    with pytest.raises(SchemaError, match="empty"):
        cost_curve(np.array([]), np.array([]), COSTS)
    with pytest.raises(SchemaError, match=r"column 'exposure': 1 value is below the minimum 0.0 \(row 2: -5.0\)"):
        CostSweep(Y, P, exposure=np.array([1.0, -5.0, 1.0, 1.0]))
    with pytest.raises(SchemaError, match="has 3 values but y_true has 4"):
        CostSweep(Y, P, exposure=np.ones(3))
    with pytest.raises(SchemaError, match="missing or infinite"):
        CostSweep(Y, np.array([0.1, np.nan, 0.2, 0.3]))


def test_single_class_still_has_a_curve():
    curve = cost_curve(np.zeros(3), np.array([0.1, 0.2, 0.3]), COSTS)
    assert curve["tp"].max() == 0
    assert choose_threshold(np.zeros(3), np.array([0.1, 0.2, 0.3]), COSTS) == (np.nextafter(0.3, np.inf), 0.0)


def test_sweep_at_arbitrary_thresholds_and_extremes():
    sweep = CostSweep(Y, P)
    below = sweep.at(-1.0, COSTS)
    assert isinstance(below, CostPoint)
    assert (below.tp, below.fp, below.referral_rate, below.threshold) == (2, 2, 1.0, -1.0)
    above = sweep.at(7.0, COSTS)
    assert (above.tp, above.fp, above.fn, above.cost) == (0, 0, 2, 10.0)
    between = sweep.at(0.37, COSTS)  # refers 0.4 and 0.8, the same set as threshold 0.4
    assert (between.tp, between.fp, between.cost) == (1, 1, 6.0)
    exactly = sweep.at(0.35, COSTS)
    assert exactly.as_dict() == cost_curve(Y, P, COSTS).iloc[1].to_dict() | {"tp": 2, "fp": 1, "tn": 1, "fn": 0}
    with pytest.raises(ValueError, match="threshold is NaN"):
        sweep.at(float("nan"), COSTS)


def test_sweep_arrays_are_read_only_and_reused_across_costs():
    sweep = CostSweep(Y, P)
    with pytest.raises(ValueError):
        sweep.tp[0] = 5
    assert sweep.n == 4 and sweep.n_defaults == 2
    for fn, fp in [(1.0, 1.0), (10.0, 1.0), (1.0, 10.0)]:
        costs = Costs(fn=fn, fp=fp)
        pd.testing.assert_frame_equal(sweep.curve(costs), cost_curve(Y, P, costs))


def test_business_impact_by_hand():
    impact = business_impact(Y, P, 0.35, COSTS)
    assert isinstance(impact, BusinessImpact)
    assert impact.loss_without_model == 10.0  # two defaults at 5
    assert impact.loss_with_model == 1.0  # one false alarm
    assert impact.savings == 9.0 and impact.savings_pct == 0.9
    assert (impact.referred, impact.defaults_caught, impact.defaults_missed, impact.false_alarms) == (3, 2, 0, 1)
    assert impact.loss_avoided == 10.0 and impact.roi == 9.0
    assert impact.expected_loss == pytest.approx(P.sum() * 5.0)
    assert impact.referral_rate == 0.75
    assert set(impact.as_dict()) >= {"threshold", "savings", "roi", "top_decile_lift", "expected_loss"}


def test_business_impact_roi_is_nan_without_false_alarms_and_pct_zero_without_defaults():
    impact = business_impact(Y, P, 0.8, COSTS)
    assert impact.false_alarms == 0 and np.isnan(impact.roi)
    none = business_impact(np.zeros(4), P, 0.3, COSTS)
    assert none.loss_without_model == 0.0 and none.savings_pct == 0.0
    assert none.savings == -none.false_alarm_cost


def test_business_impact_in_exposure_mode():
    exposure = np.array([100.0, 200.0, 1000.0, 50.0])
    costs = Costs(fn=5.0, fp=1.0, lgd=0.5, mode="exposure")
    impact = business_impact(Y, P, 0.4, costs, exposure=exposure)
    assert impact.loss_without_model == 525.0
    assert impact.missed_loss == 500.0 and impact.false_alarm_cost == 1.0
    assert impact.loss_avoided == 25.0
    assert impact.expected_loss == pytest.approx(float(np.sum(P * 0.5 * exposure)))
    with pytest.raises(SchemaError, match="outside"):
        business_impact(Y, np.array([0.1, 1.2, 0.3, 0.4]), 0.4, costs, exposure=exposure)

