"""Inferring a data contract from a user's file: features, their kinds, and a note for every decision."""

import numpy as np
import pandas as pd
import pytest

from riskcore.data.infer import extend_spec, infer_spec
from riskcore.data.schema import DEMO_SPEC, DatasetSpec
from riskcore.errors import DataFileError, SchemaError


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


def test_extend_spec_leaves_out_an_added_column_that_cannot_be_a_feature(small_portfolio):
    frame = small_portfolio.frame.head(400).assign(contact_email=[f"owner{i}@firm{i}.example" for i in range(400)])
    spec = extend_spec(DEMO_SPEC, frame)  # was: "no usable feature columns", for a file with all the demo's
    assert spec.feature_names == DEMO_SPEC.feature_names and spec.never == (*DEMO_SPEC.never, "contact_email")
    assert any("'contact_email' has 400 distinct text values" in note for note in spec.notes)


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


def test_a_file_without_a_usable_feature_says_why_for_each_column():
    frame = pd.DataFrame({"id": ["a", "b"], "y": [0, 1], "empty": [None, None], "gone": [1.0, 2.0]})
    with pytest.raises(SchemaError) as err:
        infer_spec(frame, target="y", id="id", drop=["gone"])
    text = str(err.value)
    assert "'id' is the id column" in text and "'y' is the target column" in text
    assert "'gone' was dropped (--drop)" in text and "'empty' is empty" in text


def test_dropping_a_column_the_file_lacks_is_refused():
    frame = pd.DataFrame({"y": [0, 1], "x": [1.0, 2.0]})
    with pytest.raises(DataFileError, match="cannot drop"):
        infer_spec(frame, target="y", drop=["z"])


def test_every_missing_role_column_is_named_at_once():
    frame = pd.DataFrame({"y": [0, 1], "x": [1.0, 2.0]})
    with pytest.raises(DataFileError) as err:
        infer_spec(frame, target="y", id="company", time="year")
    assert "the id column 'company'" in str(err.value) and "the time column 'year'" in str(err.value)
