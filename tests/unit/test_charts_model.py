"""The dashboard's plotly builders draw the engine's figure data as they are, and its thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from samples import probability_sample

from dashboard import charts, charts_model
from dashboard.charts import BLUE, ORANGE, RED
from riskcore.config import Costs
from riskcore.evaluation.costs import CostSweep
from riskcore.evaluation.drift import PSI_ACT
from riskcore.evaluation.figures import CostCurve, CurveBand, GainsCurve, KsCurve, ReliabilityCurve
from riskcore.modelling.leakage import SIGNAL_STRONG_AUC, TOO_GOOD_AUC


def _scores(n: int = 600, seed: int = 2):
    y, p, true_pd = probability_sample(n, seed=seed, decimals=3)
    return y, p, np.round(true_pd, 2)


def test_roc_and_precision_recall_draw_each_band_and_curve():
    y, p, baseline = _scores()
    bands = [CurveBand.from_scores(y, p, label="Model", n_resamples=30),
             CurveBand.from_scores(y, baseline, label="Logistic baseline", n_resamples=30)]
    fig = charts_model.roc(bands, (0.2, 0.7), {"Model": 0.81, "Logistic baseline": 0.77})
    for band in bands:
        (area,) = [t for t in fig.data if t.name == f"{band.label} 95% band"]
        (line,) = [t for t in fig.data if t.name.startswith(f"{band.label} (AUC")]
        np.testing.assert_array_equal(line.x, band.x)
        np.testing.assert_array_equal(line.y, band.y)
        np.testing.assert_array_equal(area.y, np.r_[band.upper, band.lower[::-1]])
    pr = [CurveBand.from_scores(y, p, "pr", n_resamples=30)]
    fig = charts_model.precision_recall(pr, (0.7, 0.3), float(y.mean()))
    (line,) = [t for t in fig.data if t.name == "Model"]
    np.testing.assert_array_equal(line.y, pr[0].y)
    assert line.line.shape == "hv"


def test_lift_gains_and_ks_draw_the_engines_numbers():
    y, p, _ = _scores()
    gains = [GainsCurve.from_scores(y, p)]
    (bars,) = [t for t in charts_model.lift(gains).data if t.type == "bar"]
    np.testing.assert_array_equal(bars.y, gains[0].lift)
    fig = charts_model.cumulative_gains(gains, 0.3)
    x, captured = gains[0].cap()
    np.testing.assert_array_equal(fig.data[0].x, x)
    np.testing.assert_array_equal(fig.data[0].y, captured)
    curve = KsCurve.from_scores(y, p)
    fig = charts_model.ks(curve, 0.05)
    gap = fig.data[2]
    assert list(gap.x) == [curve.threshold[curve.peak]] * 2
    assert list(gap.y) == [curve.defaults_below[curve.peak], curve.non_defaults_below[curve.peak]]
    assert gap.name == f"KS {curve.statistic:.3f}"


def test_reliability_draws_each_calibration():
    y, p, _ = _scores()
    curves = [ReliabilityCurve.from_scores(y, np.clip(p * 1.4, 0, 1), label="Raw model output"),
              ReliabilityCurve.from_scores(y, p, label="Calibrated")]
    fig = charts_model.reliability(curves)
    for c in curves:
        (line,) = [t for t in fig.data if t.name == c.label]
        np.testing.assert_array_equal(line.x, c.mean_predicted)
        np.testing.assert_array_equal(line.y, c.observed_rate)
        np.testing.assert_array_equal(np.asarray(line.customdata)[:, 0], c.count)


def test_cost_curve_draws_the_parts_and_marks_the_cheapest_and_the_chosen_cut_off():
    y, p, _ = _scores()
    curve = CostCurve.from_sweep(CostSweep(y, p), Costs(fn=50_000, fp=5_000))
    fig = charts.cost_curve(curve, current=0.2)
    missed, alarms, total = fig.data
    np.testing.assert_array_equal(total.y, curve.cost)
    np.testing.assert_array_equal(missed.y, curve.missed_loss)
    np.testing.assert_array_equal(alarms.y, curve.false_alarm_cost)
    assert sorted(s.x0 for s in fig.layout.shapes) == sorted([curve.optimal_threshold, 0.2])
    assert len(charts.cost_curve(curve, current=curve.optimal_threshold).layout.shapes) == 1


def test_leakage_charts_read_the_checklists_thresholds():
    strengths = [TOO_GOOD_AUC - 0.5 + 0.01, SIGNAL_STRONG_AUC - 0.5 + 0.01, 0.1]
    table = pd.DataFrame({"column": ["leak", "strong", "weak"], "strength": strengths, "auc": [0.9, 0.8, 0.6],
                          "auc_missing": 0.5})
    fig = charts_model.feature_auc(table)
    colours = dict(zip(fig.data[0].y, fig.data[0].marker.color))
    assert colours == {"leak": RED, "strong": ORANGE, "weak": BLUE}
    assert [s.x0 for s in fig.layout.shapes] == [TOO_GOOD_AUC]
    shift = pd.DataFrame({"column": ["a", "b"], "psi": [0.4, 0.05], "ks": [0.3, 0.1], "status": ["warn", "pass"]})
    assert [s.x0 for s in charts_model.shift_psi(shift).layout.shapes] == [PSI_ACT]
