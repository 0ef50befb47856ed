"""One validation contract: the same bad value reads the same on every face.

A rule of the spec (required, valid range, known category, exposure not negative)
is checked once, by the engine, and worded once (:mod:`riskcore.data.rules`): a
file's cell, a company given as a dict and a company sent to the API get the
same sentence. The API reports it in pydantic's 422 shape, with pydantic's type.
"""

from __future__ import annotations

import pandas as pd
import pytest

from riskcore.data.quality import check_frame
from riskcore.errors import SchemaError
from riskcore.serving.records import validate_record
from riskcore.serving.scoring import score_frame, score_one
from tests.api.apitools import header

# case: (change to the API company, the column, the API's loc, the API's type)
CASES = {
    "above the maximum": (lambda c: _features(c, roa=2.5), "roa", ["body", "features", "roa"], "less_than_equal"),
    "below the minimum": (lambda c: _features(c, debt_to_assets=-0.1), "debt_to_assets",
                          ["body", "features", "debt_to_assets"], "greater_than_equal"),
    "unknown category": (lambda c: _features(c, sector="Crypto"), "sector", ["body", "features", "sector"],
                         "literal_error"),
    "required feature missing": (lambda c: _features(c, interest_coverage=None), "interest_coverage",
                                 ["body", "features", "interest_coverage"], "missing"),
    "negative exposure": (lambda c: {**c, "exposure": -1.0}, "exposure_eur", ["body", "exposure"],
                          "greater_than_equal"),
}


def _features(company: dict, **changes) -> dict:
    return {**company, "features": {**company["features"], **changes}}


def _record(bundle, company: dict) -> dict:
    """The API's company as one row of a file (or a dict for the engine)."""
    spec = bundle.spec
    row = {spec.id: company["company_id"], **company["features"]}
    if "fiscal_year" in company:
        row[spec.time] = company["fiscal_year"]
    if company.get("exposure") is not None:
        row[spec.exposure] = company["exposure"]
    return row


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_bad_value_gives_the_same_message_on_every_face(client, keys, company, bundle, audit, case):
    change, column, loc, kind = CASES[case]
    bad = change(company)
    record = _record(bundle, bad)

    # one company as a dict (the dashboard's what-if, score_one)
    _, problems = validate_record(bundle.spec, record)
    assert [p.column for p in problems] == [column]
    message = problems[0].problem
    with pytest.raises(SchemaError) as err:
        score_one(bundle, record)
    assert [p.problem for p in err.value.problems] == [message]

    # a file: the reject report of scoring, and the quality report's cells
    rejects = score_frame(bundle, pd.DataFrame([record])).rejects
    assert rejects.loc[rejects["column"] == column, "problem"].tolist() == [message]
    cells = check_frame(pd.DataFrame([record]), bundle.spec).cells
    if problems[0].check != "required_missing":  # a quality report counts missing values per column instead
        assert cells.loc[cells["column"] == column, "problem"].tolist() == [message]

    # the API: one 422 naming the field, with the same sentence and pydantic's error type
    r = client.post("/predict", json=bad, headers=header(keys["admin"]))
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == [{"loc": loc, "msg": message, "type": kind}]

    # and inside a batch, the same again
    r = client.post("/predict_batch", json={"companies": [company, bad]}, headers=header(keys["admin"]))
    errors = r.json()["errors"]
    assert [(e["index"], e["field"], e["message"], e["type"]) for e in errors] == \
        [(1, ".".join(loc[1:]), message, kind)]
    assert audit.count() == 1  # only the valid company was scored and recorded


def test_a_category_must_be_written_as_the_spec_writes_it(client, keys, company, bundle):
    """Machine clients get an exact contract; a person's file or form may vary case and spaces."""
    wrong_case = _features(company, sector=company["features"]["sector"].upper())
    r = client.post("/predict", json=wrong_case, headers=header(keys["admin"]))
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "literal_error"
    blank = client.post("/predict", json=_features(company, sector=""), headers=header(keys["admin"]))
    assert blank.status_code == 422 and blank.json()["detail"][0]["type"] == "literal_error"
    assert score_one(bundle, _record(bundle, wrong_case))["p_default"] == \
        score_one(bundle, _record(bundle, company))["p_default"]


def test_the_openapi_document_states_the_rules_the_engine_checks(client, bundle):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    features = schemas["Features"]
    spec = bundle.spec
    assert features["required"] == [f.name for f in spec.features if f.required]
    sector = features["properties"]["sector"]
    assert sector["enum"] == list(spec.feature("sector").categories) and "default" not in sector
    optional = next(f for f in spec.features if not f.required and f.kind == "numeric")
    shown = features["properties"][optional.name]["anyOf"][0]
    assert (shown["minimum"], shown["maximum"]) == (optional.min, optional.max)


def test_each_rule_keeps_the_type_pydantic_gives_it():
    from api.validation import rule_error
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.errors import Problem

    def kind(column, value, check):
        return rule_error(DEMO_SPEC, Problem(1, column, value, "message", None, check))

    assert kind("roa", 2.5, "range") == (("body", "features", "roa"), "message", "less_than_equal")
    assert kind("roa", -9.0, "range")[2] == "greater_than_equal"
    assert kind("exposure_eur", -1.0, "range") == (("body", "exposure"), "message", "greater_than_equal")
    assert kind("sector", "Mars", "unknown_category")[2] == "literal_error"
    assert kind("roa", None, "required_missing")[2] == "missing"
    assert rule_error(DEMO_SPEC, Problem(1, None, None, "message"))[::2] == (("body",), "value_error")
