"""The comparison section's figures and tables on a hand-built comparison of a champion and a challenger."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dashboard import charts_compare as charts
from dashboard.charts import GREEN, RED
from riskcore.serving.audit.ledger import ModelMove


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
