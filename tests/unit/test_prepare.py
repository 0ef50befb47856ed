"""Typing a frame against the spec: columns matched, cells typed, every unusable cell located."""

from dataclasses import replace

import numpy as np
import pandas as pd

from riskcore.data.prepare import freeze_typical_ranges, prepare_frame, range_cells, row_keys
from riskcore.data.schema import DEMO_SPEC, FeatureSpec

SPEC = replace(DEMO_SPEC, features=(DEMO_SPEC.feature("debt_to_assets"), DEMO_SPEC.feature("sector"),
                                    DEMO_SPEC.feature("quick_ratio")))


def test_columns_match_by_label_and_the_rest_is_extra_or_missing():
    frame = pd.DataFrame({"Company ID": ["A"], "FISCAL_YEAR": ["2020"], "Debt to assets": ["0.4"],
                          "sector": [" energy "], "notes": ["x"]})
    prepared = prepare_frame(frame, SPEC)
    assert list(prepared.frame.columns) == ["company_id", "fiscal_year", "sector", "debt_to_assets", "notes"]
    assert prepared.frame.loc[0, "debt_to_assets"] == 0.4 and prepared.frame.loc[0, "sector"] == "Energy"
    assert prepared.missing_columns == ("quick_ratio",) and prepared.extra_columns == ("notes",)
    assert prepared.category_codes["sector"].tolist() == [list(DEMO_SPEC.feature("sector").categories).index("Energy")]


def test_bad_cells_carry_row_key_value_rule_and_sentence():
    frame = pd.DataFrame({"company_id": ["A", "B"], "fiscal_year": ["2020", "2021"],
                          "debt_to_assets": ["abc", "1e999"], "sector": ["Energy", "Mars"]})
    cells = prepare_frame(frame, SPEC).cells
    assert cells[["row", "id", "column", "value", "check"]].values.tolist() == [
        [1, "A 2020", "debt_to_assets", "abc", "type"],
        [2, "B 2021", "debt_to_assets", "1e999", "non_finite"],
        [2, "B 2021", "sector", "Mars", "unknown_category"]]
    assert cells["problem"].iloc[0].startswith("'abc' is not a number")


def test_a_year_written_as_a_date_becomes_the_fiscal_year():
    frame = pd.DataFrame({"company_id": ["A", "B"], "fiscal_year": ["2020-12-31", "2021-06-30"],
                          "debt_to_assets": [0.1, 0.2], "sector": ["Energy", "Energy"]})
    prepared = prepare_frame(frame, SPEC)
    assert prepared.frame["fiscal_year"].tolist() == [2020, 2021]
    assert any("each row's period is its fiscal year" in n for n in prepared.notes)


def test_range_cells_separate_impossible_values_from_unusual_ones():
    frame = pd.DataFrame({"company_id": ["A", "B", "C"], "fiscal_year": [2020, 2020, 2020],
                          "debt_to_assets": [7.0, 3.0, 0.5]})  # valid 0 to 5, typical 0 to 1.6
    invalid, outliers = range_cells(frame, SPEC, np.array([1, 2, 3]))
    assert invalid[["row", "id", "check"]].values.tolist() == [[1, "A 2020", "range"]]
    assert outliers[["row", "id", "check"]].values.tolist() == [[2, "B 2020", "outlier"]]
    _, anonymous = range_cells(frame, SPEC, np.array([1, 2, 3]), outlier_keys=False)
    assert anonymous["id"].isna().all()


def test_row_keys_read_as_a_person_writes_them():
    frame = pd.DataFrame({"company_id": ["A", None], "fiscal_year": [2020.0, np.nan]})
    assert row_keys(frame, SPEC).tolist() == ["A 2020", "? ?"]
    assert row_keys(frame[[]], SPEC, np.array([4, 9])).tolist() == ["row 4", "row 9"]


def test_frozen_typical_ranges_come_from_the_rows_given():
    spec = replace(SPEC, features=(FeatureSpec("amount"),))
    frame = pd.DataFrame({"amount": np.arange(100.0)})
    frozen = freeze_typical_ranges(spec, frame).feature("amount")
    assert frozen.typical_min == 0.0 and frozen.typical_max > 99.0
    assert freeze_typical_ranges(spec, frame.head(5)).feature("amount").typical_min is None
