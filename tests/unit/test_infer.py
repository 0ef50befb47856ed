"""Inferring a data contract from a user's file: features, their kinds, and a note for every decision."""

import re

import numpy as np
import pandas as pd
import pytest
from messy import loan_export, numbered_in_turn

from riskcore.data.infer import extend_spec, infer_spec
from riskcore.data.schema import DEMO_SPEC, DatasetSpec
from riskcore.errors import DataFileError, SchemaError


def test_infer_spec_numbers_text_and_free_text():
    frame = pd.DataFrame({
        "y": ["yes", "no"] * 50,
        "ratio": [str(x) for x in np.linspace(0, 1, 100)],
        "grade": ["A", "B", "C", "D"] * 25,
        "comment": [f"free text {i}" for i in range(100)],
        "count": [(7 * i) % 23 for i in range(100)],  # a count repeats; a row counter would be an identifier
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
        "amount": [f"${1000 * ((37 * i) % n + 1):,.2f}" for i in range(n)],  # not in time order
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


# ---------------------------------------------------------------------------
# identifier-like numeric columns
# ---------------------------------------------------------------------------

LOAN_ROLES = {"target": "MIS_Status", "positive": "CHGOFF", "time": "ApprovalFY",
              "drop": ("ChgOffPrinGr", "ChgOffDate")}


@pytest.fixture(scope="module")
def numbered_loans():
    """A loan export whose loan number is handed out in approval order, with a ratio unique per row."""
    return numbered_in_turn(loan_export(1500, seed=2))


def test_a_sequential_loan_number_is_left_out_with_a_note_naming_it(numbered_loans):
    spec = infer_spec(numbered_loans, **LOAN_ROLES)
    assert "LoanNr" in spec.never and "LoanNr" not in spec.feature_names
    (note,) = [n for n in spec.notes if n.startswith("'LoanNr'")]
    assert "was left out of the features: 1,500 distinct whole numbers in 1,500 rows (100%)" in note
    assert "rises with the time column 'ApprovalFY'" in note and "--feature LoanNr" in note
    # a ratio is unique per row too, because it is a float: it stays a feature; so do the amounts
    assert numbered_loans["SBA_Share"].is_unique
    assert spec.feature("SBA_Share").kind == "numeric"
    assert {"GrAppv", "SBA_Appv", "DisbursementGross", "Term", "NoEmp"} <= set(spec.feature_names)
    assert DatasetSpec.from_dict(spec.to_dict()) == spec


def test_a_loan_number_named_as_a_feature_is_one(numbered_loans):
    spec = infer_spec(numbered_loans, **LOAN_ROLES, features=["LoanNr"])
    assert spec.feature("LoanNr").kind == "numeric" and "LoanNr" not in spec.never
    assert any(n.startswith("'LoanNr' looks like an identifier") and "named as a feature" in n for n in spec.notes)


def test_a_loan_number_named_as_the_id_is_the_id(numbered_loans):
    spec = infer_spec(numbered_loans, **LOAN_ROLES, id="LoanNr")
    assert spec.id == "LoanNr" and "LoanNr" not in spec.never
    assert not any("LoanNr" in n for n in spec.notes)


@pytest.mark.parametrize(("features", "message"), [
    (["Loan number"], "cannot use ['Loan number'] as features (--feature): not in the file"),
    (["ChgOffDate"], "named both as features (--feature) and as columns to leave out (--drop)"),
    (["ApprovalFY"], "a column with a role cannot also be a feature (--feature): 'ApprovalFY' is the time column"),
    (["Name"], "cannot use these columns as features (--feature): 'Name': it has 1,4"),
])
def test_a_column_that_cannot_be_a_feature_named_as_one_is_refused_with_why(numbered_loans, features, message):
    with pytest.raises(DataFileError, match=re.escape(message)):
        infer_spec(numbered_loans, **LOAN_ROLES, features=features)


def test_an_identifier_added_to_the_demo_layout_is_left_out_unless_named(small_portfolio):
    frame = small_portfolio.frame.sort_values(["fiscal_year", "company_id"], kind="stable").reset_index(drop=True)
    frame = frame.assign(application_no=np.arange(500_000, 500_000 + len(frame)),
                         comment=[f"note {i}" for i in range(len(frame))])
    spec = extend_spec(DEMO_SPEC, frame)
    assert {"application_no", "comment"} <= set(spec.never)
    assert any(n.startswith("'application_no' was left out") and "'fiscal_year'" in n for n in spec.notes)
    named = extend_spec(DEMO_SPEC, frame, features=["application_no"])
    assert "application_no" in named.feature_names
    with pytest.raises(DataFileError, match="'true_pd' is a column the layout never uses as a feature"):
        extend_spec(DEMO_SPEC, frame, features=["true_pd"])
