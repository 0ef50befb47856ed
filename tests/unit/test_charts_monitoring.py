"""The monitoring page's tables and figures on a small hand-built history of two runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import charts_monitoring as charts
from dashboard.charts import GREEN, ORANGE, RED
from dashboard.monitoring_tables import (
    alerts_in_order,
    deliveries_table,
    grades_table,
    monitoring_history,
    runs_table,
    segments_table,
    worst_alert,
)
from riskcore.evaluation.figures import DriftHeatmap
from riskcore.workbench import Delivery


def _heatmap(reports: list[dict]) -> DriftHeatmap:
    """The engine's heatmap of the merged history, as the page builds it."""
    return DriftHeatmap.from_drift(monitoring_history(reports).drift)


def _feature(name: str, family: str, psis: dict[int, float]) -> dict:
    status = {p: "act" if v > 0.25 else "watch" if v >= 0.10 else "stable" for p, v in psis.items()}
    return {"name": name, "label": name.title(), "family": family, "psi": max(psis.values()),
            "by_period": [{"period": p, "psi": v, "status": status[p], "p_value": 0.5, "n": 100}
                          for p, v in psis.items()]}


def _report(periods: dict[int, dict[str, float]], score: dict[int, float], *, outcomes: bool) -> dict:
    """A monitor.json with the given feature PSIs per period and score PSI per period."""
    names = sorted({n for per in periods.values() for n in per})
    features = [_feature(n, "macro" if n == "gdp" else "financial", {p: periods[p][n] for p in periods})
                for n in names]
    return {
        "periods": list(periods), "n": 100 * len(periods), "features": features,
        "score": {"psi": max(score.values()), "status": "stable",
                  "by_period": [{"period": p, "psi": v, "status": "watch" if v >= 0.10 else "stable",
                                 "p_value": 0.1, "n": 100} for p, v in score.items()]},
        "expected": {"default_rate": 0.05, "auc": 0.8, "auc_ci": [0.75, 0.85],
                     "by_period": [{"period": p, "default_rate": 0.05 + 0.01 * i, "default_rate_ci": [0.04, 0.07],
                                    "auc": 0.8, "auc_ci": [0.75, 0.85], "n": 100} for i, p in enumerate(periods)]},
        "vintages": [{"period": p, "n": 100, "predicted_pd": 0.05, "defaults": 6 + i, "observed_rate": (6 + i) / 100,
                      "jeffreys_low": 0.03, "jeffreys_high": 0.12, "p_value": 0.3, "traffic_light": "green",
                      "auc": 0.81, "expected_auc": 0.8} for i, p in enumerate(periods)] if outcomes else [],
        "alerts": [{"rule": "score_psi", "status": "pass", "detail": "ok"},
                   {"rule": "feature_psi", "status": "fail", "detail": "debt moved"},
                   {"rule": "ece", "status": "warn", "detail": "ECE 0.016"}],
    }


@pytest.fixture
def reports() -> list[dict]:
    """Newest first: a re-run of 2023 without outcomes, then an older run of 2022 and 2023 with outcomes."""
    newest = _report({2023: {"debt": 0.40, "margin": 0.02, "gdp": 0.12}}, {2023: 0.15}, outcomes=False)
    older = _report({2022: {"debt": 0.05, "margin": 0.18, "gdp": 0.01},
                     2023: {"debt": 0.01, "margin": 0.01, "gdp": 0.01}}, {2022: 0.03, 2023: 0.02}, outcomes=True)
    return [newest, older]


def test_the_newest_run_wins_each_period_per_view(reports):
    h = monitoring_history(reports)
    debt = h.drift[h.drift["feature"] == "debt"].set_index("period")["psi"]
    assert debt.to_dict() == {2022: 0.05, 2023: 0.40}  # 2023 from the newest run, 2022 only the older has
    assert h.score.set_index("period")["psi"].to_dict() == {2022: 0.03, 2023: 0.15}
    assert h.expected["period"].tolist() == [2022, 2023] and h.expected["default_rate"].tolist() == [0.05, 0.05]
    # the newest run has no outcomes, so the older run's back-test of 2023 stays in the history
    assert h.vintages["period"].tolist() == [2022, 2023] and h.vintages["defaults"].tolist() == [6, 7]
    assert h.periods == [2022, 2023]
    assert h.expected["default_rate_high"].tolist() == [0.07, 0.07]


def test_the_order_of_reports_decides_which_run_wins(reports):
    h = monitoring_history(reports[::-1])  # read the other way round, the older run is the newest
    debt = h.drift[h.drift["feature"] == "debt"].set_index("period")["psi"]
    assert debt[2023] == 0.01


def test_periods_sort_as_numbers_not_text():
    r = _report({10: {"x": 0.0}, 9: {"x": 0.0}}, {10: 0.0, 9: 0.0}, outcomes=False)
    assert monitoring_history([r]).score["period"].tolist() == [9, 10]


def test_heatmap_sorts_features_by_worst_psi_marks_macro_and_colours_by_band(reports):
    fig = charts.drift_heatmap(_heatmap(reports))
    heat = fig.data[0]
    # worst PSI over the periods: debt 0.40, margin 0.18, gdp 0.12 (macro series marked)
    assert list(heat.y) == ["Debt", "Margin", "Gdp (macro)"]
    assert list(heat.x) == ["2022", "2023"]
    z = np.asarray(heat.z)
    assert z.tolist() == [[0, 2], [1, 0], [0, 1]]  # stable 0, watch 1, act 2
    assert [list(r) for r in heat.text] == [["0.05", "0.40"], ["0.18", "0.02"], ["0.01", "0.12"]]
    scale = {round(stop, 6): colour for stop, colour in heat.colorscale}
    # each band code lands in a flat stretch of its own colour (z spans -0.5 to 2.5)
    for code, colour in ((0, GREEN), (1, ORANGE), (2, RED)):
        position = (code + 0.5) / 3
        below = max(s for s in scale if s <= position)
        assert scale[below] == colour
    assert fig.layout.yaxis.autorange == "reversed"  # the worst feature on top


def test_heatmap_bands_come_from_the_psi_when_a_report_has_no_status(reports):
    for f in reports[0]["features"]:
        for p in f["by_period"]:
            del p["status"]
    z = np.asarray(charts.drift_heatmap(_heatmap(reports)).data[0].z)
    assert z.tolist() == [[0, 2], [1, 0], [0, 1]]


def test_score_and_default_rate_draws_bands_lines_and_both_rates(reports):
    fig = charts.score_and_default_rate(monitoring_history(reports))
    bars, expected, realised = fig.data
    assert list(bars.y) == [0.03, 0.15] and list(bars.marker.color) == [GREEN, ORANGE]
    assert sorted(s.y0 for s in fig.layout.shapes) == [0.10, 0.25]
    assert list(expected.y) == [0.05, 0.05]
    assert np.allclose(expected.error_y.array, [0.02, 0.02]) and np.allclose(expected.error_y.arrayminus,
                                                                              [0.01, 0.01])
    assert list(realised.y) == [0.06, 0.07] and np.allclose(realised.error_y.array, [0.06, 0.05])


def test_grade_backtest_colours_each_grade_by_its_light():
    grades = [{"grade": g, "n": 100, "predicted_pd": p, "defaults": d, "observed_rate": d / 100,
               "jeffreys_low": 0.0, "jeffreys_high": d / 100 + 0.02, "p_value": 0.5, "traffic_light": light}
              for g, p, d, light in (("1", 0.01, 1, "green"), ("2", 0.02, 6, "amber"), ("3", 0.03, 15, "red"))]
    fig = charts.grade_backtest(grades)
    predicted, observed = fig.data
    assert list(predicted.y) == [0.01, 0.02, 0.03]
    assert list(observed.marker.color) == [GREEN, ORANGE, RED]
    assert np.allclose(observed.error_y.arrayminus, [0.01, 0.06, 0.15])


def test_grade_backtest_without_outcomes_says_so():
    fig = charts.grade_backtest([{"grade": "1", "n": 10, "predicted_pd": 0.01, "observed_rate": None}])
    assert not fig.data and "No outcomes" in fig.layout.annotations[0].text


def test_migration_heatmap_shares_each_row_and_outlines_the_diagonal():
    migration = {"grades": ["1", "2", "3"], "matrix": [[8, 2, 0], [1, 1, 2], [0, 0, 0]]}
    fig = charts.migration_heatmap(migration)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert np.allclose(z[0], [0.8, 0.2, 0.0]) and np.allclose(z[1], [0.25, 0.25, 0.5])
    assert np.isnan(z[2]).all()  # nobody started in grade 3
    assert np.asarray(fig.data[0].customdata).tolist() == [[8, 2, 0], [1, 1, 2], [0, 0, 0]]
    assert [(s.x0, s.y0) for s in fig.layout.shapes] == [(-0.5, -0.5), (0.5, 0.5), (1.5, 1.5)]


def test_alerts_failures_first_and_worst(reports):
    assert [a.status for a in alerts_in_order(reports[0])] == ["fail", "warn", "pass"]
    assert worst_alert(reports[0]) == "fail" and worst_alert({"alerts": []}) == "pass"


def test_tables_of_one_report():
    report = {"grades": [{"grade": "1", "n": 5, "predicted_pd": 0.01, "defaults": 0, "observed_rate": 0.0,
                          "jeffreys_low": 0.0, "jeffreys_high": 0.3, "p_value": 1.0, "traffic_light": "red"}],
              "segments": [{"segment": "Energy", "feature": "debt", "period": 2023, "psi": 0.3, "status": "act"},
                           {"segment": "Energy", "feature": "roe", "period": 2023, "psi": 0.01, "status": "stable"},
                           {"segment": "Retail", "feature": "debt", "period": 2023, "psi": 0.5, "status": "act"}]}
    assert grades_table(report)["traffic_light"].tolist() == ["🔴 red"]
    seg = segments_table(report)
    assert seg["segment"].tolist() == ["Retail", "Energy"] and seg["period"].tolist() == ["2023", "2023"]
    assert grades_table({}).empty and segments_table({}).empty


def test_runs_table_names_the_columns_and_keeps_missing_metrics_empty():
    runs = pd.DataFrame({"run_id": ["a"], "start_time": [pd.Timestamp("2026-12-01 10:00", tz="UTC")],
                         "tags.periods": ["2022,2023"], "tags.worst_alert": ["warn"], "metrics.rows": [200.0],
                         "metrics.score_psi": [0.02]})
    t = runs_table(runs)
    assert t.loc[0, "time"] == "2026-12-01 10:00" and t.loc[0, "worst alert"] == "warn"
    assert t["realised AUC"].isna().all()


def test_drift_within_a_sector_gets_its_own_heatmap_row():
    report = _report({2026: {"delay": 0.03, "margin": 0.01}, 2027: {"delay": 0.04, "margin": 0.02}},
                     {2026: 0.01, 2027: 0.01}, outcomes=False)
    report["segments"] = [{"segment": "Retail", "feature": "delay", "family": "payment", "period": 2027,
                           "psi": 1.6, "status": "act", "p_value": 1e-9, "n": 300}]
    drift = monitoring_history([report]).drift
    row = drift[drift["feature"] == "delay within Retail"]
    assert row[["period", "psi", "status"]].to_dict(orient="records") == [{"period": 2027, "psi": 1.6,
                                                                          "status": "act"}]
    assert row["label"].iloc[0] == "Delay within Retail"
    fig = charts.drift_heatmap(_heatmap([report]))
    assert fig.data[0].y[0] == "Delay within Retail"  # the worst row on top


def test_the_deliveries_table_names_the_alert_the_target_and_the_outcome():
    def delivery(state: str, error: str = "", rule: str = "score_psi", kind: str = "monitoring_alert") -> Delivery:
        return Delivery(id=state, created=1.8e9, kind=kind, severity="fail", key="k", channel="webhook",
                        target_id="t", target="risk-slack", ref="run", model_version="v",
                        notice={"rule": rule} if rule else {}, state=state, attempts=1 if state != "repeat" else 0,
                        error=error, claimed_until=0.0, finished=1.8e9)

    table = deliveries_table([delivery("sent"), delivery("failed", "HTTP 404"), delivery("repeat", "sent lately"),
                              delivery("pending", rule="", kind="job_failed")])
    assert list(table.columns) == ["alert", "severity", "target", "outcome", "attempts", "why"]
    assert list(table["alert"]) == ["Score drift"] * 3 + ["job_failed"]
    assert list(table["outcome"]) == ["sent", "failed", "not sent again (sent lately)", "being sent"]
    assert list(table["why"]) == ["", "HTTP 404", "sent lately", ""]
    assert deliveries_table([]).empty
