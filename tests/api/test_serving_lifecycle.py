"""The API follows the champion, survives a tampered one, and scores a challenger in shadow or canary.

A real MLflow registry (SQLite) with two versions, a real audit trail; each test works on its own copy
of the state folder, so tampering with a bundle or moving the champion touches nothing else.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from models import champion_and_challenger

from api.app import create_app
from riskcore.config import ServingRules, Settings
from riskcore.identity import KeyStore
from riskcore.modelling.bundle import load_bundle
from riskcore.modelling.tracking import Tracker
from riskcore.serving.audit import AuditLog
from riskcore.serving.scoring import score_one
from riskcore.serving.server import in_canary


@pytest.fixture(scope="module")
def original(model_cache):
    """A state folder: a logistic champion (registry version 1) and a LightGBM version 2, not promoted."""
    state = champion_and_challenger(model_cache)
    return state, [state.results[name].model_version for name in ("champion", "challenger")]


@pytest.fixture
def home(original, tmp_path):
    """This test's copy of the state folder, its registry pointing at its own bundles."""
    state, versions = original
    home = state.copy_to(tmp_path / "home").folder
    settings = Settings(home=home, api_rate_limit=10_000, serving=ServingRules(check_seconds=0))
    tracker = Tracker.from_settings(settings)
    return settings, tracker, versions


@pytest.fixture
def api(home):
    """A client factory on the copied state; returns (client, service key, audit log)."""
    settings, _, _ = home
    store = KeyStore(settings.keys_file)
    key = store.add("admin", "test")[1]
    logs = []

    def make(**serving) -> tuple[TestClient, dict[str, str], AuditLog]:
        s = replace(settings, serving=replace(settings.serving, **serving))
        audit = AuditLog.from_settings(s)
        logs.append(audit)
        return TestClient(create_app(s, keys=store, audit=audit)), {"X-API-Key": key}, audit

    yield make
    for log in logs:
        log.close()


def _company(client: TestClient) -> dict:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Company"]
    return dict(schema["examples"][0])


def _promote(tracker: Tracker, registry_version: str) -> None:
    tracker.move_champion(registry_version, tags={"moved_by": "test", "move_reason": "test"})


def _tamper(settings: Settings, version: str) -> Path:
    path = settings.models_dir / version / "metrics.json"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(" ")
    return path


def test_a_new_champion_is_served_without_a_restart(home, api):
    settings, tracker, (first, second) = home
    client, key, _ = api()
    company = _company(client)
    assert client.post("/predict", json=company, headers=key).json()["model_version"] == first
    _promote(tracker, "2")
    r = client.post("/predict", json=company, headers=key)
    assert r.status_code == 200 and r.json()["model_version"] == second
    info = client.get("/model_info", headers=key).json()
    assert (info["model_version"], info["champion_version"], info["status"]) == (second, second, "ok")


def test_a_tampered_champion_is_never_served_and_the_previous_one_is(home, api):
    settings, tracker, (first, second) = home
    _promote(tracker, "2")
    client, key, audit = api()
    company = _company(client)
    assert client.post("/predict", json=company, headers=key).json()["model_version"] == second
    changed = _tamper(settings, second)

    ready = client.get("/ready")
    body = ready.json()
    assert ready.status_code == 200 and body["ready"] is True
    assert (body["status"], body["serving_version"], body["champion_version"]) == ("degraded", first, second)
    assert second in body["reason"] and first in body["reason"] and str(settings.home) not in body["reason"]
    r = client.post("/predict", json=company, headers=key)
    assert r.status_code == 200 and r.json()["model_version"] == first
    assert client.get("/model_info", headers=key).json()["status"] == "degraded"

    changed.write_text(changed.read_text(encoding="utf-8")[:-1], encoding="utf-8")  # the byte restored
    assert client.get("/ready").json()["status"] == "ok"
    assert client.post("/predict", json=company, headers=key).json()["model_version"] == second
    events = [(m.event, m.from_version, m.to_version) for m in audit.moves()]
    assert events == [("fallback", second, first), ("restore", second, second)]
    assert audit.verify().ok


def test_with_no_verified_version_scoring_answers_503(home, api):
    settings, tracker, (first, second) = home
    _promote(tracker, "2")
    client, key, audit = api()
    company = _company(client)
    _tamper(settings, first)
    _tamper(settings, second)
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    r = client.post("/predict", json=company, headers=key)
    assert r.status_code == 503 and "no verified model" in r.json()["detail"]
    assert str(settings.home) not in r.text
    assert [m.event for m in audit.moves()] == ["fallback"] and audit.moves()[0].to_version == ""


def test_a_shadow_challenger_scores_every_request_and_the_answer_is_the_champions(home, api):
    settings, _, (first, second) = home
    client, key, audit = api(challenger=second)
    company = _company(client)
    r = client.post("/predict", json=company, headers=key)
    assert r.status_code == 200
    answer = r.json()
    champion, challenger = load_bundle(settings.models_dir / first), load_bundle(settings.models_dir / second)
    record = {**company.pop("features"), **{k: v for k, v in company.items() if k != "exposure"}}
    assert answer["model_version"] == first
    assert answer["p_default"] == pytest.approx(score_one(champion, dict(record), strict=True)["p_default"], abs=1e-12)
    rows = audit.recent(10)
    mine = rows[rows["request_id"] == answer["request_id"]].set_index("source")
    assert sorted(mine.index) == ["api", "shadow"]
    assert mine.loc["api", "model_version"] == first and mine.loc["shadow", "model_version"] == second
    assert mine.loc["shadow", "p_default"] == pytest.approx(
        score_one(challenger, dict(record), strict=True)["p_default"], abs=1e-9)
    ready = client.get("/ready").json()
    assert ready["challenger_version"] == second and ready["status"] == "ok"


def test_a_canary_share_is_decided_by_the_challenger_by_a_stable_hash(home, api):
    settings, _, (first, second) = home
    client, key, audit = api(challenger=second, canary_share=0.5)
    template = _company(client)
    companies = [{**template, "company_id": f"C{i:04d}"} for i in range(40)]
    r = client.post("/predict_batch", json={"companies": companies}, headers=key)
    assert r.status_code == 200
    results = r.json()["results"]
    assert len(results) == 40
    for item in results:
        expected = second if in_canary(item["company_id"], 0.5) else first
        assert item["model_version"] == expected
    assert {item["model_version"] for item in results} == {first, second}  # 40 companies: both sides are used
    rows = audit.recent(200)
    rows = rows[rows["request_id"] == r.json()["request_id"]]
    assert len(rows) == 80  # every company: one decision and one shadow score
    decided = rows[rows["source"] == "api"].set_index("company_id")["model_version"]
    assert all(decided[c] == (second if in_canary(c, 0.5) else first) for c in decided.index)
    assert audit.verify().ok


def test_compare_on_the_shadow_history_with_the_outcomes_observed_since(home, api, tmp_path, monkeypatch, capsys):
    import json

    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from riskcore.cli import main
    from riskcore.lifecycle.shadow import compare_from_audit

    settings, _, (first, second) = home
    client, key, audit = api(challenger=second)
    examples = client.get("/openapi.json").json()["components"]["schemas"]["Company"]["examples"]
    companies = [{**examples[i % 2], "company_id": f"C{i:03d}"} for i in range(60)]
    answer = client.post("/predict_batch", json={"companies": companies}, headers=key).json()
    # the riskier example defaults two times in three, the safer one time in six; ten have no outcome yet
    outcome = {c["company_id"]: int(i % 2 == 1 and i % 3 != 0 or i % 2 == 0 and i % 6 == 0)
               for i, c in enumerate(companies[:50])}
    path = tmp_path / "outcomes.csv"
    pd.DataFrame({"company_id": list(outcome), "fiscal_year": [c.get("fiscal_year") for c in companies[:50]],
                  "default_12m": list(outcome.values())}).to_csv(path, index=False)

    champion, challenger = load_bundle(settings.models_dir / first), load_bundle(settings.models_dir / second)
    found = compare_from_audit(audit, champion, challenger, outcomes=str(path), costs=settings.costs)
    figures = found.comparison.as_dict()
    assert figures["rows"] == 50 and figures["defaults"] == sum(outcome.values())
    p_answer = {r["company_id"]: r["p_default"] for r in answer["results"]}
    assert figures["auc"]["auc_champion"] == pytest.approx(
        roc_auc_score(list(outcome.values()), [p_answer[c] for c in outcome]), abs=1e-12)
    assert any("have no outcome yet" in n for n in found.notes)
    assert "shadow history" in found.rows_from

    monkeypatch.setenv("RISKCORE_HOME", str(settings.home))
    monkeypatch.setenv("RISKCORE_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    status = main(["models", "compare", second, "--from-audit", "--outcomes", str(path), "--out", str(tmp_path)])
    assert status in (0, 1) and "shadow history" in capsys.readouterr().out
    assert json.loads((tmp_path / "comparison.json").read_text())["rows"] == 50
    with pytest.raises(SystemExit) as exit_:
        main(["models", "compare", second, "--from-audit"])
    assert exit_.value.code == 2 and "--outcomes FILE" in capsys.readouterr().err
