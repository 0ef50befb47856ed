"""Monitoring alerts: every rule's pass / warn / fail boundaries, skipped families, estimates that only warn."""

from __future__ import annotations

from typing import Any

import pytest

from riskcore.config import AlertRules
from riskcore.evaluation.alerts import evaluate_alerts

RULES = AlertRules()


def _data(*, features=(), score=0.0, score_by_period=(), test_auc=0.875, expected_auc=0.875, realized=None,
          grades=(), periods=("all",)) -> dict[str, Any]:
    """The report data the rules read, with everything quiet unless given."""
    return {
        "periods": list(periods),
        "features": [{"name": name, "family": family, "psi": value,
                      "by_period": [{"period": p, "psi": v} for p, v in by_period]}
                     for name, family, value, by_period in features],
        "score": {"psi": score, "by_period": [{"period": p, "psi": v} for p, v in score_by_period]},
        "reference": {"test_auc": test_auc},
        "expected": {"auc": expected_auc},
        "realized": realized,
        "grades": list(grades),
    }


def _alert(data: dict[str, Any], rule: str, rules: AlertRules = RULES):
    alerts = evaluate_alerts(data, rules)
    assert [a.rule for a in alerts] == ["feature_psi", "score_psi", "auc_drop", "ece", "red_grade"]
    return next(a for a in alerts if a.rule == rule)


def test_a_quiet_portfolio_passes_every_rule():
    assert {a.status for a in evaluate_alerts(_data(features=[("x", "financial", 0.01, [])]), RULES)} == {"pass"}


@pytest.mark.parametrize(("value", "status"), [(0.05, "pass"), (0.10, "pass"), (0.1001, "warn"), (0.25, "warn"),
                                               (0.2501, "fail"), (float("nan"), "pass")])
def test_feature_psi_boundaries(value, status):
    alert = _alert(_data(features=[("roa", "financial", value, [])]), "feature_psi")
    assert alert.status == status
    if status != "pass":
        assert "roa" in alert.detail and alert.value == value and alert.threshold == 0.25


def test_the_worst_period_decides_and_is_named():
    data = _data(features=[("roa", "financial", 0.08, [(2025, 0.02), (2026, 0.4)])], periods=(2025, 2026))
    alert = _alert(data, "feature_psi")
    assert alert.status == "fail" and "roa 0.40 in 2026" in alert.detail
    one_period = _data(features=[("roa", "financial", 0.08, [("all", 0.4)])])
    assert _alert(one_period, "feature_psi").status == "pass"  # a single period is the pooled figure


def test_skipped_families_are_named_but_never_alert():
    data = _data(features=[("gdp_growth", "macro", 3.0, []), ("roa", "financial", 0.01, [])])
    alert = _alert(data, "feature_psi")
    assert alert.status == "pass" and "gdp_growth moved too" in alert.detail
    custom = AlertRules(skip_families=())
    assert _alert(data, "feature_psi", custom).status == "fail"
    both = _data(features=[("gdp_growth", "macro", 3.0, []), ("roa", "financial", 0.3, [])])
    alert = _alert(both, "feature_psi")
    assert alert.status == "fail" and alert.value == 0.3 and "PSI above 0.25: roa 0.30" in alert.detail


def test_acting_and_watched_features_are_listed_apart():
    data = _data(features=[("roa", "financial", 0.4, []), ("esg", "esg", 0.15, []), ("age", "profile", 0.05, [])])
    alert = _alert(data, "feature_psi")
    assert alert.detail == "PSI above 0.25: roa 0.40; watch (PSI above 0.1): esg 0.15"


def test_drift_within_a_segment_alerts_outside_skipped_families():
    data = _data(features=[("delay", "alternative", 0.05, [])])
    data["segments"] = [{"feature": "delay", "segment": "Retail", "family": "alternative", "psi": 0.6,
                         "period": 2026}, {"feature": "gdp", "segment": "Retail", "family": "macro", "psi": 2.0,
                                           "period": 2026}]
    alert = _alert(data, "feature_psi")
    assert alert.status == "fail" and alert.value == 0.6 and "delay within Retail 0.60" in alert.detail
    assert "gdp" not in alert.detail


def test_more_than_six_features_are_counted_not_listed():
    features = [(f"f{k}", "financial", 0.5 + k / 100, []) for k in range(9)]
    assert _alert(_data(features=features), "feature_psi").detail.endswith("and 3 more")


@pytest.mark.parametrize(("value", "status"), [(0.05, "pass"), (0.0501, "warn"), (0.10, "warn"), (0.1001, "fail")])
def test_score_psi_boundaries(value, status):
    assert _alert(_data(score=value), "score_psi").status == status
    per_period = _data(score=0.01, score_by_period=[(2025, 0.0), (2026, value)], periods=(2025, 2026))
    alert = _alert(per_period, "score_psi")
    assert alert.status == status and "in 2026" in alert.detail


EXACT = AlertRules(auc_drop=0.0625, auc_drop_warn=0.03125)  # binary fractions: the boundaries are exact


@pytest.mark.parametrize(("auc", "status"), [(0.875, "pass"), (0.84375, "pass"), (0.84374, "warn"),
                                             (0.8125, "warn"), (0.81249, "fail"), (0.95, "pass")])
def test_realised_auc_drop_boundaries(auc, status):
    data = _data(realized={"n": 1000, "auc": auc, "ece": 0.0}, expected_auc=0.5)
    alert = _alert(data, "auc_drop", EXACT)
    assert alert.status == status and "realised AUC" in alert.detail
    assert alert.value == pytest.approx(0.875 - auc)


def test_before_outcomes_the_expected_auc_can_only_warn():
    alert = _alert(_data(expected_auc=0.6), "auc_drop")
    assert alert.status == "warn" and "expected AUC 0.600 (before outcomes)" in alert.detail
    assert _alert(_data(expected_auc=0.86), "auc_drop").status == "pass"
    no_outcome_rows = _data(expected_auc=0.6, realized={"n": 0, "auc": float("nan"), "ece": float("nan")})
    assert _alert(no_outcome_rows, "auc_drop").status == "warn"


def test_no_auc_to_compare_passes_and_says_why():
    assert "no test AUC" in _alert(_data(test_auc=None), "auc_drop").detail
    assert "single outcome class" in _alert(_data(expected_auc=float("nan")), "auc_drop").detail


@pytest.mark.parametrize(("ece", "status"), [(0.01, "pass"), (0.015, "pass"), (0.0151, "warn"), (0.02, "warn"),
                                             (0.0201, "fail")])
def test_ece_boundaries(ece, status):
    assert _alert(_data(realized={"n": 500, "auc": 0.875, "ece": ece}), "ece").status == status


def test_ece_passes_before_outcomes():
    alert = _alert(_data(), "ece")
    assert alert.status == "pass" and "no outcomes yet" in alert.detail


def _grade(name: str, light: str | None) -> dict[str, Any]:
    return {"grade": name, "n": 1000, "defaults": 30, "predicted_pd": 0.01, "traffic_light": light}


@pytest.mark.parametrize(("lights", "red_grades", "status"), [
    (["green", "green"], 1, "pass"),
    (["green", "amber"], 1, "warn"),
    (["red", "green"], 1, "fail"),
    (["red", "amber"], 2, "warn"),
    (["red", "red", "amber"], 2, "fail"),
    ([None, None], 1, "pass"),
])
def test_red_grade(lights, red_grades, status):
    grades = [_grade(str(k + 1), light) for k, light in enumerate(lights)]
    alert = _alert(_data(grades=grades), "red_grade", AlertRules(red_grades=red_grades))
    assert alert.status == status
    if "red" in lights:
        assert "red: grade 1 (30 defaults of 1,000, PD 1.00%)" in alert.detail
    if "amber" in lights:
        assert "amber: grade" in alert.detail


def test_alerts_as_plain_data():
    alert = _alert(_data(score=0.2), "score_psi")
    assert alert.as_dict() == {"rule": "score_psi", "status": "fail", "detail": alert.detail, "value": 0.2,
                               "threshold": 0.10}
