"""Every endpoint: the happy path, the numbers against the engine, and the audit row behind each score."""

from __future__ import annotations

import math

import pytest
from apitools import header

from riskcore.serving.scoring import score_one


def _engine_record(company):
    record = {**company["features"], "company_id": company["company_id"]}
    if company.get("exposure") is not None:
        record["exposure_eur"] = company["exposure"]
    return record


def test_health_needs_no_key(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert len(r.headers["x-request-id"]) == 32


def test_ready_when_model_and_audit_store_are_fine(client, bundle):
    r = client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"ready": True, "status": "ok", "model_version": bundle.version,
                        "serving_version": bundle.version, "champion_version": bundle.version,
                        "challenger_version": None, "reason": "", "reasons": []}


@pytest.mark.parametrize("role", ["admin", "service"])
def test_predict_scores_like_the_engine_and_audits_the_score(client, keys, keystore, company, bundle, audit, role):
    r = client.post("/predict", json=company, headers=header(keys[role]))
    assert r.status_code == 200, r.text
    body = r.json()
    expected = score_one(bundle, _engine_record(company))
    assert body["company_id"] == company["company_id"]
    assert body["fiscal_year"] == company.get("fiscal_year")
    for field in ("p_default", "score_raw", "decision", "grade", "risk_level", "expected_loss", "n_missing"):
        assert body[field] == expected[field], field
    assert body["model_version"] == bundle.version
    assert body["request_id"] == r.headers["x-request-id"]
    assert body["timestamp"].endswith("Z") or "+00:00" in body["timestamp"]

    rows = audit.recent(10)
    assert len(rows) == 1
    row = rows.iloc[0]
    key_id = next(k.id for k in keystore.keys() if k.role == role)
    assert (row["request_id"], row["caller"], row["source"]) == (body["request_id"], key_id, "api")
    assert (row["company_id"], row["decision"], row["grade"]) == (company["company_id"], body["decision"],
                                                                 body["grade"])
    assert row["p_default"] == body["p_default"]
    assert row["bundle_hash"] == bundle.manifest_hash
    assert audit.verify().ok


def test_predict_with_only_the_required_features(client, keys, bundle):
    features = {"sector": "Energy", "region": "Western Europe", "size_class": "small", "current_ratio": 1.2,
                "debt_to_assets": 0.5, "interest_coverage": 3, "roa": 0.02}
    r = client.post("/predict", json={"company_id": "MIN-1", "features": features}, headers=header(keys["service"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expected_loss"] is None
    assert body["n_missing"] == score_one(bundle, features)["n_missing"] > 0


def test_null_for_an_optional_feature_means_missing(client, keys, company):
    optional = next(k for k in ("esg_social", "quick_ratio", "cash_ratio") if k in company["features"])
    without = {**company, "features": {k: v for k, v in company["features"].items() if k != optional}}
    with_null = {**company, "features": {**company["features"], optional: None}}
    a = client.post("/predict", json=without, headers=header(keys["service"])).json()
    b = client.post("/predict", json=with_null, headers=header(keys["service"])).json()
    assert a["p_default"] == b["p_default"]


def test_predict_batch_scores_the_valid_companies_and_reports_the_others(client, keys, company, audit):
    good2 = {**company, "company_id": "B-2"}
    bad_type = {**company, "company_id": "B-bad", "features": {**company["features"], "roa": "high"}}
    bad_range = {**company, "company_id": "B-range", "features": {**company["features"], "roa": 99.0}}
    not_company = {"hello": "world"}
    payload = {"companies": [company, bad_type, good2, bad_range, not_company]}
    r = client.post("/predict_batch", json=payload, headers=header(keys["service"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["n_companies"], body["n_scored"], body["n_rejected"]) == (5, 2, 3)
    assert [x["index"] for x in body["results"]] == [0, 2]
    assert [x["company_id"] for x in body["results"]] == [company["company_id"], "B-2"]
    errors = {(e["index"], e["field"]) for e in body["errors"]}
    assert (1, "features.roa") in errors and (3, "features.roa") in errors
    assert {e["index"] for e in body["errors"]} == {1, 3, 4}
    assert next(e for e in body["errors"] if e["index"] == 1)["company_id"] == "B-bad"
    assert next(e for e in body["errors"] if e["index"] == 4)["company_id"] is None

    single = client.post("/predict", json=company, headers=header(keys["service"])).json()
    assert body["results"][0]["p_default"] == single["p_default"]
    assert body["results"][0]["score_raw"] == single["score_raw"]

    rows = audit.recent(10)
    batch_rows = rows[rows["request_id"] == body["request_id"]]
    assert sorted(batch_rows["company_id"]) == sorted([company["company_id"], "B-2"])
    assert audit.verify().ok


def test_predict_batch_where_every_company_fails_is_still_200(client, keys, audit):
    r = client.post("/predict_batch", json={"companies": [{"company_id": "x"}]}, headers=header(keys["admin"]))
    assert r.status_code == 200
    assert r.json()["n_scored"] == 0 and r.json()["n_rejected"] == 1
    assert audit.count() == 0


def test_batch_results_equal_score_frame(client, keys, bundle):
    """The batch goes through score_one per company; score_frame on the same rows gives the same numbers."""
    import pandas as pd

    from riskcore.serving.scoring import score_frame

    hold = bundle.holdout().head(20)
    names = list(bundle.spec.feature_names)
    companies = []
    for i, row in enumerate(hold[names].to_dict(orient="records")):
        features = {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in row.items()
                    if v is not None and not (isinstance(v, float) and math.isnan(v))}
        companies.append({"company_id": f"F-{i}", "features": features})
    r = client.post("/predict_batch", json={"companies": companies}, headers=header(keys["service"]))
    assert r.status_code == 200 and not r.json()["errors"]
    frame = pd.DataFrame([{**c["features"], "company_id": c["company_id"]} for c in companies])
    expected = score_frame(bundle, frame).scores.set_index("company_id")
    for x in r.json()["results"]:
        assert x["p_default"] == pytest.approx(expected.loc[x["company_id"], "p_default"], abs=1e-12)
        assert x["score_raw"] == pytest.approx(expected.loc[x["company_id"], "score_raw"], abs=1e-9)
        assert x["grade"] == expected.loc[x["company_id"], "grade"]


@pytest.mark.parametrize("role", ["admin", "analyst"])
def test_predict_explain_adds_reasons_and_contributions(client, keys, company, audit, role):
    r = client.post("/predict_explain", json=company, headers=header(keys[role]))
    assert r.status_code == 200, r.text
    body = r.json()
    plain = client.post("/predict", json=company, headers=header(keys["admin"])).json()
    assert body["p_default"] == plain["p_default"] and body["decision"] == plain["decision"]
    total = body["base_pd"] + sum(c["contribution_pd"] for c in body["contributions"])
    assert total == pytest.approx(body["p_default"], abs=1e-9)
    assert {c["feature"] for c in body["contributions"]} >= {"roa", "current_ratio"}
    pd_effects = [abs(c["contribution_pd"]) for c in body["contributions"]]
    assert pd_effects == sorted(pd_effects, reverse=True)
    assert len(body["reasons"]) <= 4
    assert all(r["contribution_pd"] > 0 and r["text"] for r in body["reasons"])
    row = audit.recent(10).set_index("request_id").loc[body["request_id"]]
    assert list(row["reasons"]) == [x["text"] for x in body["reasons"]]


@pytest.mark.parametrize("role", ["admin", "analyst", "viewer"])
def test_model_info(client, keys, bundle, role):
    r = client.get("/model_info", headers=header(keys[role]))
    assert r.status_code == 200
    info = r.json()
    assert info["model_version"] == bundle.version
    assert info["kind"] == "lightgbm"
    assert info["bundle_hash"] == bundle.manifest_hash
    assert info["threshold"] == bundle.threshold
    assert info["costs"] == {"fn": bundle.costs.fn, "fp": bundle.costs.fp, "lgd": bundle.costs.lgd,
                             "mode": bundle.costs.mode}
    assert info["test_metrics"]["auc"] == pytest.approx(bundle.metrics["test"]["auc"])
    assert info["trained_at"]
    by_name = {f["name"]: f for f in info["features"]}
    assert set(bundle.spec.feature_names) <= set(by_name)
    assert (by_name["roa"]["min"], by_name["roa"]["max"], by_name["roa"]["required"]) == (-3, 2, True)
    assert "Energy" in by_name["sector"]["categories"]
    assert info["max_batch"] == 1000


def test_openapi_documents_the_key_header_and_has_working_examples(client, keys):
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "An API key from `python -m api keys add --role ROLE`."}
    assert doc["paths"]["/predict"]["post"]["security"] == [{"ApiKey": []}, {"BearerToken": []}]  # either one
    assert "security" not in doc["paths"]["/health"]["get"]
    for path in ("/predict", "/predict_batch", "/predict_explain"):
        assert {"401", "403", "413", "422", "429", "503"} <= set(doc["paths"][path]["post"]["responses"])
    assert "Retry-After" in doc["paths"]["/predict"]["post"]["responses"]["429"]["headers"]
    schemas = doc["components"]["schemas"]
    features = schemas["Features"]
    assert features["additionalProperties"] is False
    assert features["properties"]["roa"]["minimum"] == -3 and features["properties"]["roa"]["maximum"] == 2
    assert set(features["required"]) == {"sector", "region", "size_class", "current_ratio", "debt_to_assets",
                                         "interest_coverage", "roa"}
    assert schemas["Batch"]["properties"]["companies"]["maxItems"] == 1000
    for example in schemas["Company"]["examples"]:
        assert client.post("/predict", json=example, headers=header(keys["admin"])).status_code == 200
    for example in schemas["Batch"]["examples"]:
        r = client.post("/predict_batch", json=example, headers=header(keys["admin"]))
        assert r.status_code == 200 and not r.json()["errors"]
    assert client.get("/docs").status_code == 200


def test_every_response_carries_its_request_id(client, keys, company):
    ids = set()
    for _ in range(3):
        r = client.post("/predict", json=company, headers=header(keys["service"]))
        assert r.json()["request_id"] == r.headers["x-request-id"]
        ids.add(r.headers["x-request-id"])
    assert len(ids) == 3


def test_schema_bounds_are_json_schema_keywords(client):
    """Every bound in the schema is minimum/maximum: a stray 'ge'/'le' would be ignored by clients."""
    text = client.get("/openapi.json").text
    assert '"ge":' not in text and '"le":' not in text
    company = client.get("/openapi.json").json()["components"]["schemas"]["Company"]
    year = next(a for a in company["properties"]["fiscal_year"]["anyOf"] if a.get("type") == "integer")
    assert (year["minimum"], year["maximum"]) == (1900, 2200)
