"""The grade basis in the API's answers: point-in-time by default, through the cycle when the model says so."""

from __future__ import annotations

from dataclasses import replace

from apitools import header

from riskcore.serving.scoring import score_one


def _features(company):
    return company["features"]


def test_a_point_in_time_model_answers_as_before_with_the_basis_named(client, keys, company, bundle):
    body = client.post("/predict", json=company, headers=header(keys["service"])).json()
    assert body["grade_basis"] == "pit" and body["p_default_ttc"] is None
    assert body["grade_pit"] == body["grade"] == score_one(bundle, _features(company))["grade"]
    info = client.get("/model_info", headers=header(keys["viewer"])).json()
    assert info["grade_basis"] == "pit"
    assert info["long_run_default_rate"] == bundle.cycle.long_run_default_rate


def test_a_through_the_cycle_model_grades_on_the_ttc_pd_and_decides_on_the_pit_pd(make_client, keys, company,
                                                                                    bundle):
    ttc = replace(bundle, cycle=replace(bundle.cycle, basis="ttc"), _central=None)
    client = make_client(bundle_=ttc)
    single = client.post("/predict", json=company, headers=header(keys["service"])).json()
    batch = client.post("/predict_batch", json={"companies": [company]}, headers=header(keys["service"])).json()
    expected = score_one(ttc, _features(company))
    for body in (single, batch["results"][0]):
        assert body["grade_basis"] == "ttc"
        assert body["p_default_ttc"] == expected["p_default_ttc"] is not None
        assert (body["grade"], body["grade_pit"]) == (expected["grade"], expected["grade_pit"])
        assert body["p_default"] == expected["p_default"]
        assert body["decision"] == ("refer" if body["p_default"] >= ttc.threshold else "accept")
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Prediction"]["properties"]
    assert {"p_default_ttc", "grade_pit", "grade_basis"} <= set(schema)
