"""The comparison section's figures and tables on a hand-built comparison of a champion and a challenger."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from dashboard import charts_compare as charts
from dashboard.charts import GREEN, RED
from dashboard.state import COST_CURVE_POINTS, comparison_curves
from riskcore.config import Costs, PromotionRules
from riskcore.evaluation.compare import row_costs
from riskcore.evaluation.gate import compare_models
from riskcore.lifecycle.versions import VersionComparison
from riskcore.serving.audit import ModelMove


def _grades(predicted: list[float], observed: list[float], lights: list[str]) -> list[dict]:
    return [{"grade": g, "n": 100 * g, "predicted_pd": p, "defaults": round(o * 100 * g), "observed_rate": o,
             "jeffreys_low": o / 2, "jeffreys_high": o * 1.5, "p_value": 0.2, "traffic_light": t}
            for g, p, o, t in zip(range(1, len(predicted) + 1), predicted, observed, lights)]


@pytest.fixture
def comparison() -> dict:
    """What ``compare_versions(...).comparison.as_dict()`` returns, with numbers chosen by hand."""
    return {
        "rows": 1200, "defaults": 60,
        "auc": {"auc_champion": 0.78, "auc_challenger": 0.80, "difference": 0.02, "se": 0.01, "low": 0.0004,
                "high": 0.0396, "p_value": 0.046, "confidence": 0.95},
        "cost": {"cost_champion": 125_000.0, "cost_challenger": 118_500.0, "difference": -6_500.0,
                 "low": -11_200.0, "high": -1_800.0, "per_company": -5.4167, "n_resamples": 1000,
                 "confidence": 0.9},
        "swap": {"champion_refers_challenger_accepts": 40, "challenger_refers_champion_accepts": 25,
                 "default_rate_challenger_accepts": 0.025, "default_rate_champion_accepts": 0.12, "agree": 1135},
        "score_psi": 0.034,
        "champion": {"ece": 0.0123, "grades": _grades([0.01, 0.05, 0.2], [0.012, 0.09, 0.18],
                                                      ["green", "red", "green"]), "red_grades": 1},
        "challenger": {"ece": 0.0081, "grades": _grades([0.01, 0.04], [0.011, 0.05], ["green", "amber"]),
                       "red_grades": 0},
        "thresholds": {"champion": 0.08, "challenger": 0.07},
        "gate": {"passed": True, "checks": [{"name": "cost", "passed": True, "detail": "cheaper"},
                                            {"name": "calibration", "passed": True, "detail": "ECE 0.0081"}]},
    }


def test_cost_bars_draw_both_costs_and_the_interval_of_the_difference(comparison):
    fig = charts.cost_bars(comparison, ("lightgbm-1", "logistic-2"))
    (bar,) = fig.data
    assert list(bar.x) == ["lightgbm-1", "logistic-2"]
    assert list(bar.y) == [125_000.0, 118_500.0]
    assert "cut-off 8.0%" in bar.text[0] and "cut-off 7.0%" in bar.text[1]
    (note,) = fig.layout.annotations
    assert "-6,500" in note.text and "-11,200" in note.text and "-1,800" in note.text
    assert "90% interval" in note.text


def test_grade_calibration_draws_each_models_grades_in_its_own_panel(comparison):
    fig = charts.grade_calibration(comparison, ("champ", "chall"))
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["champ (ECE 0.0123)", "chall (ECE 0.0081)"]
    by_panel = {}
    for trace in fig.data:
        by_panel.setdefault(trace.xaxis, []).append(trace)
    assert sorted(by_panel) == ["x", "x2"]
    champion_pd, champion_obs = by_panel["x"]
    assert list(champion_pd.y) == [0.01, 0.05, 0.2]
    assert list(champion_obs.y) == [0.012, 0.09, 0.18]
    assert list(champion_obs.marker.color) == [GREEN, RED, GREEN]
    # the Jeffreys interval as asymmetric error bars around the observed rate
    assert list(champion_obs.error_y.array) == pytest.approx([0.006, 0.045, 0.09])
    assert list(champion_obs.error_y.arrayminus) == pytest.approx([0.006, 0.045, 0.09])
    challenger_pd, challenger_obs = by_panel["x2"]
    assert list(challenger_obs.x) == ["1", "2"]
    assert list(challenger_pd.y) == [0.01, 0.04]
    # one legend entry per kind of trace, not one per panel
    assert [t.showlegend for t in fig.data] == [True, True, False, False]


def test_grade_calibration_with_no_grades_draws_an_empty_panel(comparison):
    comparison["challenger"]["grades"] = []
    fig = charts.grade_calibration(comparison)
    assert [len(t.y) for t in fig.data if t.xaxis == "x2"] == [0, 0]


def test_swap_table_reads_the_swap_set(comparison):
    table = charts.swap_table(comparison)
    assert table["companies"].tolist() == [40, 25, 1135]
    assert table["observed_default_rate"].iloc[:2].tolist() == [0.025, 0.12]
    assert math.isnan(table["observed_default_rate"].iloc[2])
    assert table["companies"].sum() == comparison["rows"]  # every row is in exactly one line


def test_ledger_table_is_newest_first_with_a_short_gate_digest():
    moves = [ModelMove("promote", "cli:ana", "", "lightgbm-1", "first", "a" * 64, "h1", "2026-12-01T10:00:00Z", 3),
             ModelMove("override", "dashboard", "lightgbm-1", "logistic-2", "simpler", "b" * 64, "h2",
                       "2026-12-01T11:00:00Z", 9),
             ModelMove("rollback", "dashboard", "logistic-2", "lightgbm-1", "too many refusals", "", "h1",
                       "2026-12-01T12:00:00Z", 12)]
    table = charts.ledger_table(moves)
    assert table.columns.tolist() == ["time", "event", "from", "to", "by", "reason", "gate"]
    assert table["event"].tolist() == ["rollback", "override", "promote"]
    assert table["gate"].tolist() == ["", "b" * 12, "a" * 12]
    assert table["time"].iloc[0] == pd.Timestamp("2026-12-01T12:00:00")


def test_ledger_table_of_no_moves_has_the_columns():
    table = charts.ledger_table([])
    assert table.empty and table.columns.tolist() == ["time", "event", "from", "to", "by", "reason", "gate"]


# ---------------------------------------------------------------- both ROC curves and both cost curves

def _scored_rows(n: int = 3000, seed: int = 11) -> dict:
    """Outcomes and two models' PDs of the same rows: the challenger sees the risk a little more sharply."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(risk * 1.4 - 3.0)))).astype(np.int64)
    p_champion = 1 / (1 + np.exp(-(0.8 * risk + rng.normal(scale=0.9, size=n) - 3.0)))
    p_challenger = 1 / (1 + np.exp(-(1.2 * risk + rng.normal(scale=0.5, size=n) - 3.0)))
    exposure = rng.lognormal(mean=12, sigma=1, size=n)
    return {"y": y, "p_champion": np.round(p_champion, 4), "p_challenger": p_challenger, "exposure": exposure}


@pytest.fixture(params=["fixed", "exposure"])
def compared(request) -> tuple[dict, dict, Costs]:
    """A real comparison of two scored rows' PDs (fixed or exposure costs) with its curves, as the page gets it."""
    costs = Costs(fn=40_000.0, fp=8_000.0, mode=request.param)
    data = _scored_rows()
    exposure = data["exposure"] if costs.mode == "exposure" else None
    thresholds = (0.06, 0.08)
    result = compare_models(data["y"], data["p_champion"], data["p_challenger"], threshold_champion=thresholds[0],
                            threshold_challenger=thresholds[1], costs=costs, exposure=exposure,
                            rules=PromotionRules(n_resamples=200))
    versions = VersionComparison("champ-1", "chall-2", "hand-built rows", result, y=data["y"],
                                 p_champion=data["p_champion"], p_challenger=data["p_challenger"],
                                 thresholds=thresholds, exposure=exposure)
    return {**result.as_dict(), "curves": comparison_curves(versions, costs)}, data, costs


def _traces(fig, prefix: str) -> list:
    return [t for t in fig.data if t.name.startswith(prefix)]


def test_roc_pair_draws_sklearns_roc_curve_of_each_model(compared):
    comparison, data, _ = compared
    fig = charts.roc_pair(comparison, ("champ-1", "chall-2"))
    assert list(fig.data[0].x) == [0, 1] and list(fig.data[0].y) == [0, 1]  # the chance diagonal
    for label, model, threshold in (("champ-1", "champion", 0.06), ("chall-2", "challenger", 0.08)):
        curve, point = _traces(fig, label)
        fpr, tpr, _ = roc_curve(data["y"], data[f"p_{model}"], drop_intermediate=True)
        np.testing.assert_array_equal(curve.x, fpr)
        np.testing.assert_array_equal(curve.y, tpr)
        assert len(curve.x) < len(np.unique(data[f"p_{model}"]))  # thinned to the curve's corners
        assert f"AUC {roc_auc_score(data['y'], data[f'p_{model}']):.3f}" in curve.name
        referred = data[f"p_{model}"] >= threshold
        y = data["y"].astype(bool)
        assert point.x[0] == pytest.approx(referred[~y].mean(), abs=1e-12)
        assert point.y[0] == pytest.approx(referred[y].mean(), abs=1e-12)
        assert f"{threshold:.1%}" in point.name


def test_cost_pair_draws_row_costs_summed_at_each_cut_off_and_marks_both_cut_offs(compared):
    comparison, data, costs = compared
    exposure = data["exposure"] if costs.mode == "exposure" else None
    fig = charts.cost_pair(comparison, ("champ-1", "chall-2"))
    for label, model, threshold in (("champ-1", "champion", 0.06), ("chall-2", "challenger", 0.08)):
        p = data[f"p_{model}"]
        curve, own, cheapest = _traces(fig, label)
        assert 2 < len(curve.x) <= COST_CURVE_POINTS + 1
        expected = [row_costs(data["y"], p, t, costs, exposure).sum() for t in curve.x]
        np.testing.assert_allclose(curve.y, expected, rtol=1e-12)
        assert own.x[0] == threshold
        assert own.y[0] == pytest.approx(row_costs(data["y"], p, threshold, costs, exposure).sum(), rel=1e-12)
        # the comparison's own cost of the model at its cut-off is the same number
        assert own.y[0] == pytest.approx(comparison["cost"][f"cost_{model}"], rel=1e-12)
        # the cheapest cut-off: no distinct score (nor "refer nobody") costs less on these rows
        every = np.r_[np.unique(p), np.nextafter(p.max(), np.inf)]
        lowest = min(row_costs(data["y"], p, t, costs, exposure).sum() for t in every)
        assert cheapest.y[0] == pytest.approx(lowest, rel=1e-12)
        assert cheapest.x[0] in list(curve.x) and min(curve.y) == pytest.approx(lowest, rel=1e-12)
    assert sorted(round(s.x0, 6) for s in fig.layout.shapes) == [0.06, 0.08]  # each model's own cut-off


def test_the_curves_are_plain_data_the_cache_can_hash(compared):
    import json

    comparison, _, _ = compared
    plain = {model: curves.as_dict() for model, curves in comparison["curves"].items()}
    text = json.dumps(plain, allow_nan=False)  # lists, floats and None only
    assert json.loads(text) == plain
