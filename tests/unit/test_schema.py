import numpy as np
import pandas as pd
import pytest

from riskcore.data.schema import DEMO_SPEC, FAMILIES, SECTORS, DatasetSpec, extend_spec, infer_spec
from riskcore.errors import DataFileError


def test_demo_spec_has_thirty_raw_features_in_four_families():
    raw = [f for f in DEMO_SPEC.features if f.kind == "numeric"]
    assert len(raw) >= 30
    fams = {f.family for f in raw}
    assert {"financial", "esg", "alternative", "macro"} <= fams
    assert all(f.family in FAMILIES for f in DEMO_SPEC.all_features)


def test_feature_names_are_unique_and_labelled():
    names = [f.name for f in DEMO_SPEC.all_features]
    assert len(names) == len(set(names))
    for f in DEMO_SPEC.all_features:
        assert f.label, f.name
        assert f.description, f.name


def test_ranges_are_consistent():
    for f in DEMO_SPEC.features:
        if f.kind != "numeric":
            continue
        if f.min is not None and f.max is not None:
            assert f.min < f.max, f.name
        if f.typical_min is not None and f.min is not None:
            assert f.typical_min >= f.min, f.name
        if f.typical_max is not None and f.max is not None:
            assert f.typical_max <= f.max, f.name


def test_roles_and_never_features():
    assert DEMO_SPEC.target == "default_12m"
    assert DEMO_SPEC.id == "company_id" and DEMO_SPEC.time == "fiscal_year"
    assert DEMO_SPEC.segment == "sector" and DEMO_SPEC.exposure == "exposure_eur"
    assert "true_pd" in DEMO_SPEC.never
    assert "true_pd" not in DEMO_SPEC.feature_names
    assert DEMO_SPEC.feature("sector").categories == SECTORS
    assert len(SECTORS) == 11


def test_engineered_recipes_use_declared_inputs():
    for f in DEMO_SPEC.engineered:
        assert f.family == "engineered"
        assert f.recipe is not None
        for name in f.recipe.inputs:
            assert name in DEMO_SPEC.feature_names, (f.name, name)
    assert {f.recipe.op for f in DEMO_SPEC.engineered} == {"product", "composite", "delta", "rolling_std"}


def test_spec_round_trips_through_json():
    again = DatasetSpec.from_dict(DEMO_SPEC.to_dict())
    assert again == DEMO_SPEC


def test_infer_spec_numbers_text_and_free_text():
    frame = pd.DataFrame({
        "y": ["yes", "no"] * 50,
        "ratio": [str(x) for x in np.linspace(0, 1, 100)],
        "grade": ["A", "B", "C", "D"] * 25,
        "comment": [f"free text {i}" for i in range(100)],
        "count": list(range(100)),
    })
    spec = infer_spec(frame, target="y", positive="yes")
    kinds = {f.name: f.kind for f in spec.features}
    assert kinds == {"ratio": "numeric", "grade": "categorical", "count": "numeric"}
    assert spec.feature("count").integer
    assert "comment" in spec.never
    assert spec.positive == "yes"


def test_infer_spec_names_a_missing_role_column():
    frame = pd.DataFrame({"a": [1, 2]})
    with pytest.raises(DataFileError, match="target column 'default' is not in the file"):
        infer_spec(frame, target="default")


def test_extend_spec_declares_unknown_columns(small_portfolio):
    frame = small_portfolio.frame.rename(columns={"true_pd": "internal_score"})
    spec = extend_spec(DEMO_SPEC, frame)
    assert "internal_score" in spec.feature_names
    assert set(DEMO_SPEC.feature_names) < set(spec.feature_names)


def test_format_value_uses_units():
    assert DEMO_SPEC.feature("interest_coverage").format_value(0.84) == "0.84×"
    assert DEMO_SPEC.feature("interest_coverage").format_value(4.12) == "4.1×"
    assert DEMO_SPEC.feature("roa").format_value(-0.052) == "-5.2%"
    assert DEMO_SPEC.feature("supplier_payment_delay").format_value(45.2) == "45 days"
    assert DEMO_SPEC.feature("esg_governance").format_value(float("nan")) == "missing"


def test_infer_spec_reads_money_percent_and_dates_and_says_so():
    n = 60
    approved = pd.date_range("2010-01-01", periods=n, freq="30D")
    frame = pd.DataFrame({
        "y": [0, 1] * (n // 2),
        "fy": approved.year.astype(str),
        "amount": [f"${1000 * (i + 1):,.2f}" for i in range(n)],
        "rate": [f"{i % 9 + 1}%" for i in range(n)],
        "opened": (approved - pd.Timedelta(days=400)).strftime("%d/%m/%Y"),
        "lost_on": (approved + pd.Timedelta(days=700)).strftime("%d-%b-%y"),
        "bank": [f"Bank {i}" for i in range(n)],
    })
    spec = infer_spec(frame, target="y", time="fy")
    assert spec.feature("amount").kind == "numeric" and spec.feature("rate").unit == "%"
    opened = spec.feature("opened")
    assert opened.from_date and opened.unit == "years"
    assert spec.post_event == ("lost_on",)
    assert "lost_on" not in spec.feature_names and "bank" in spec.never
    notes = " | ".join(spec.notes)
    assert "'amount': money written as '$1,000.00' read as numbers" in notes
    assert "'lost_on'" in notes and "after the row's observation date" in notes
    assert "'bank' has 60 distinct text values" in notes
    assert DatasetSpec.from_dict(spec.to_dict()) == spec


def test_infer_spec_keeps_placeholder_words_as_categories_in_text():
    frame = pd.DataFrame({"y": [0, 1] * 20, "rev": ["Y", "N", "none", "T"] * 10})
    spec = infer_spec(frame, target="y")
    assert "none" in spec.feature("rev").categories


def test_date_without_time_column_is_left_out_with_a_note():
    frame = pd.DataFrame({"y": [0, 1] * 10, "x": np.arange(20.0), "d": [f"2024-01-{i + 1:02d}" for i in range(20)]})
    spec = infer_spec(frame, target="y")
    assert "d" in spec.never and any("no observation date" in n for n in spec.notes)
