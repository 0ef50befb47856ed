"""One company as a dict: validated against the spec and turned into the model row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskcore.data.schema import DEMO_SPEC
from riskcore.errors import SchemaError
from riskcore.serving.records import checked_record, record_matrix, validate_record


@pytest.fixture(scope="module")
def company(small_portfolio) -> dict:
    """One complete row of the demo portfolio, as a dict."""
    frame = small_portfolio.frame
    names = [*DEMO_SPEC.feature_names, DEMO_SPEC.id, DEMO_SPEC.exposure]
    row = frame.dropna(subset=list(DEMO_SPEC.feature_names)).iloc[0]
    return {n: (row[n].item() if hasattr(row[n], "item") else row[n]) for n in names}


def test_a_valid_company_has_no_problem_and_keeps_its_values(company):
    clean, problems = validate_record(DEMO_SPEC, company)
    assert problems == []
    assert clean["debt_to_assets"] == company["debt_to_assets"]
    assert clean[DEMO_SPEC.exposure] == company[DEMO_SPEC.exposure]


def test_keys_and_categories_ignore_case_and_spaces(company):
    messy = {f"  {k.upper()} ": v for k, v in company.items()} | {" SECTOR": "  energy "}
    clean, problems = validate_record(DEMO_SPEC, messy)
    assert problems == [] and clean["sector"] == "Energy"


def test_strict_refuses_another_spelling_with_the_same_message(company):
    _, tolerant = validate_record(DEMO_SPEC, company | {"sector": "Space"})
    _, exact = validate_record(DEMO_SPEC, company | {"sector": "energy"}, strict=True)
    assert [p.check for p in exact] == ["unknown_category"]
    assert exact[0].problem == tolerant[0].problem.replace("'Space'", "'energy'")
    assert validate_record(DEMO_SPEC, company | {"sector": "Energy"}, strict=True)[1] == []


def test_strict_takes_only_none_as_missing(company):
    clean, problems = validate_record(DEMO_SPEC, company | {"size_class": "", "region": None}, strict=True)
    assert [(p.column, p.check) for p in problems] == [("region", "required_missing"),
                                                       ("size_class", "unknown_category")]
    _, tolerant = validate_record(DEMO_SPEC, company | {"size_class": ""})
    assert [(p.column, p.check) for p in tolerant] == [("size_class", "required_missing")]


@pytest.mark.parametrize("missing", [None, "", "   ", float("nan"), "nan"])
def test_a_required_feature_without_a_value_is_a_problem(company, missing):
    _, problems = validate_record(DEMO_SPEC, company | {"current_ratio": missing})
    assert [(p.column, p.check, p.problem) for p in problems] == [
        ("current_ratio", "required_missing", "Current ratio is required; fill it in")]


def test_an_optional_feature_may_be_missing(company):
    clean, problems = validate_record(DEMO_SPEC, {k: v for k, v in company.items() if k != "quick_ratio"})
    assert problems == [] and clean["quick_ratio"] is None


def test_every_problem_names_its_rule_row_and_id(company):
    record = company | {"roa": "abc", "quick_ratio": "1e400", "debt_to_assets": 7, "region": "Atlantis",
                        DEMO_SPEC.exposure: -1}
    clean, problems = validate_record(DEMO_SPEC, record, row=9)
    found = {p.column: p.check for p in problems}
    assert found == {"roa": "type", "quick_ratio": "non_finite", "debt_to_assets": "range",
                     "region": "unknown_category", DEMO_SPEC.exposure: "range"}
    assert {p.row for p in problems} == {9} and {p.id for p in problems} == {str(company[DEMO_SPEC.id])}
    assert not set(found) & {k for k, v in clean.items() if v is not None}


def test_text_is_read_as_a_file_cell_would_be(company):
    clean, problems = validate_record(DEMO_SPEC, company | {"roa": " 0.05 ", "cash_ratio": "1_000"})
    assert clean["roa"] == 0.05
    assert [p.column for p in problems] == ["cash_ratio"]  # Python's float() would take "1_000"


def test_an_exposure_that_is_not_a_number_is_unusable(company):
    _, problems = validate_record(DEMO_SPEC, company | {DEMO_SPEC.exposure: "ten million"})
    assert problems[0].check == "type" and problems[0].problem.startswith("'ten million' is not a usable amount")


def test_a_panel_feature_must_be_a_finite_number_when_given(company):
    clean, problems = validate_record(DEMO_SPEC, company | {"roa_delta": "oops", "debt_to_assets_delta": 0.1})
    assert [(p.column, p.check) for p in problems] == [("roa_delta", "type")]
    assert clean["debt_to_assets_delta"] == 0.1 and clean["roa_delta"] is None


def test_checked_record_raises_every_problem_at_once(quick_bundle, company):
    with pytest.raises(SchemaError) as err:
        checked_record(quick_bundle, company | {"roa": "abc", "sector": "Space"})
    assert {p.column for p in err.value.problems} == {"roa", "sector"}


def test_record_matrix_equals_the_frame_matrix(quick_bundle, company):
    clean, matrix = checked_record(quick_bundle, company | {"quick_ratio": None})
    np.testing.assert_array_equal(matrix, quick_bundle.matrix(pd.DataFrame([clean])))
    np.testing.assert_array_equal(record_matrix(quick_bundle, clean), matrix)
