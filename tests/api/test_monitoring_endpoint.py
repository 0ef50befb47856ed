"""GET /monitoring: the newest monitoring run of the served model, from a real experiment store."""

from __future__ import annotations

import pytest
from apitools import header

from api import monitoring as api_monitoring
from riskcore.lifecycle import monitor_file, record_monitoring
from riskcore.modelling.tracking import Tracker
from riskcore.serving.audit import DeliveryLog


@pytest.fixture
def monitored(settings, bundle, audit, small_portfolio, tmp_path):
    """One monitoring run of the served model on the portfolio's last two years, with their outcomes."""
    frame = small_portfolio.frame
    later = frame[frame["fiscal_year"] >= frame["fiscal_year"].max() - 1]
    portfolio = tmp_path / "later.csv"
    outcomes = tmp_path / "outcomes.csv"
    later.drop(columns=["default_12m", "true_pd"]).to_csv(portfolio, index=False)
    later[["company_id", "fiscal_year", "default_12m"]].to_csv(outcomes, index=False)
    run = monitor_file(bundle, str(portfolio), audit=audit, face="cli", outcomes=str(outcomes))
    return record_monitoring(run, bundle, tracker=Tracker.from_settings(settings))


def test_never_monitored_is_404_with_what_to_do(client, keys, bundle):
    r = client.get("/monitoring", headers=header(keys["viewer"]))
    assert r.status_code == 404
    assert bundle.version in r.json()["detail"]
    assert "python -m riskcore monitor" in r.json()["detail"]


@pytest.mark.parametrize("role", ["admin", "analyst", "viewer"])
def test_latest_monitoring_summary(monitored, client, keys, bundle, role):
    r = client.get("/monitoring", headers=header(keys[role]))
    assert r.status_code == 200, r.text
    body = r.json()
    report = monitored.report.as_dict()
    assert body["model_version"] == bundle.version
    assert body["run_id"] == monitored.run_id
    assert body["rows"] == report["n"]
    assert [a["rule"] for a in body["alerts"]] == [a["rule"] for a in report["alerts"]]
    assert [a["status"] for a in body["alerts"]] == [a["status"] for a in report["alerts"]]
    psis = [f["psi"] for f in body["features"]]
    assert psis == sorted(psis, reverse=True)
    assert body["features"][0]["name"] == report["features"][0]["name"]
    assert body["realized"]["n"] == report["realized"]["n"] > 0
    assert body["expected"]["auc"] == pytest.approx(report["expected"]["auc"])
    assert {g["traffic_light"] for g in body["grades"]} <= {"green", "amber", "red"}
    battery = body["validation"]
    assert battery["n"] == report["realized"]["n"] and battery["asset_correlation"] == "basel"
    assert {t["test"] for t in battery["tests"]} >= {"Hosmer–Lemeshow (grades)", "Spiegelhalter", "grade PSI",
                                                    "AUC against initial validation", "grade migration"}
    assert all(t["rule"] and t["light"] in ("green", "amber", "red") for t in battery["tests"])
    assert [g["grade"] for g in battery["grades"]] == [g["grade"] for g in report["grades"]]
    assert body["deliveries"] == []  # no [alerts.delivery] target: nothing was sent


def test_the_summary_says_where_the_runs_alerts_were_delivered(monitored, client, keys, audit, bundle):
    deliveries = DeliveryLog(audit.store)
    notice = {"kind": "monitoring_alert", "severity": "fail", "key": "monitoring_alert|score_psi|fail",
              "ref": monitored.run_id, "model_version": bundle.version, "rule": "score_psi"}
    (planned,) = deliveries.plan(notice, [("webhook", "0123456789abcdef", "risk-slack")], repeat_s=0, lease_s=60)
    deliveries.finish(planned.id, sent=False, attempts=3, error="the webhook cannot be reached: the connection was "
                                                                "refused (gave up after 3 attempts)",
                      tries=[{"at": "2026-05-01T10:00:00Z", "error": "the connection was refused"}] * 3)
    body = client.get("/monitoring", headers=header(keys["viewer"])).json()
    (delivery,) = body["deliveries"]
    assert {k: delivery[k] for k in ("id", "kind", "severity", "rule", "channel", "target", "ref", "state",
                                     "attempts")} == {
        "id": planned.id, "kind": "monitoring_alert", "severity": "fail", "rule": "score_psi", "channel": "webhook",
        "target": "risk-slack", "ref": monitored.run_id, "state": "failed", "attempts": 3}
    assert delivery["error"].startswith("the webhook cannot be reached") and delivery["finished"].endswith("Z")
    assert delivery["tries"] == [{"at": "2026-05-01T10:00:00Z", "error": "the connection was refused"}] * 3


def test_scoring_role_may_not_read_it(monitored, client, keys):
    r = client.get("/monitoring", headers=header(keys["service"]))
    assert r.status_code == 403
    assert "viewer" in r.json()["detail"]


def test_needs_a_key(client):
    assert client.get("/monitoring").status_code == 401


def test_no_model_is_503(make_client, keys):
    r = make_client(bundle_=None).get("/monitoring", headers=header(keys["viewer"]))
    assert r.status_code == 503


def test_history_is_read_again_after_the_cache_expires(monitored, settings, bundle):
    now = [0.0]
    history = api_monitoring.LatestMonitoring(settings, clock=lambda: now[0])
    first_id = monitored.run_id
    first = history.latest(bundle.version)
    assert first is not None and first["run_id"] == first_id
    second_id = record_monitoring(monitored, bundle, tracker=Tracker.from_settings(settings)).run_id
    assert second_id != first_id
    assert history.latest(bundle.version)["run_id"] == first_id  # still the cached answer
    now[0] += api_monitoring.CACHE_SECONDS + 1
    assert history.latest(bundle.version)["run_id"] == second_id
