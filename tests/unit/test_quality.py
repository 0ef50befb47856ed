from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from riskcore.data.infer import infer_spec
from riskcore.data.quality import binarize_target, check_frame, clean_for_training, prepare_frame
from riskcore.data.schema import DEMO_SPEC
from riskcore.data.tabular import read_table
from riskcore.errors import DataFileError


def _key(d):
    return f"{d['id']} {d['year']}"


def test_report_finds_exactly_the_injected_imperfections(small_portfolio):
    m = small_portfolio.manifest
    report = check_frame(small_portfolio.frame, DEMO_SPEC)
    cells = report.cells
    found_range = set(zip(cells.loc[cells.check == "range", "id"], cells.loc[cells.check == "range", "column"]))
    assert found_range == {(_key(d), d["column"]) for d in m.impossible}
    found_out = set(zip(cells.loc[cells.check == "outlier", "id"], cells.loc[cells.check == "outlier", "column"]))
    assert found_out == {(_key(d), d["column"]) for d in m.outliers}
    assert sorted(report.duplicates["id"]) == sorted(f"{a} {b}" for a, b in m.duplicates)
    assert set(report.duplicates["kind"]) == {"exact"}
    esg = small_portfolio.frame["esg_governance"].isna()
    keys = set(zip(small_portfolio.frame.loc[esg, "company_id"], small_portfolio.frame.loc[esg, "fiscal_year"]))
    assert keys == set(m.esg_missing)
    assert {c for c, n in m.missing.items()} == set(report.columns.loc[report.columns.n_missing > 0, "column"])


def test_findings_name_columns_and_rows_by_key(small_portfolio):
    report = check_frame(small_portfolio.frame, DEMO_SPEC)
    range_findings = [f for f in report.findings if f.check == "range"]
    assert range_findings and all(f.column and f.keys for f in range_findings)
    assert all(f.severity == "error" for f in range_findings)
    d = small_portfolio.manifest.impossible[0]
    assert any(k.startswith(_key(d)) for f in range_findings for k in f.keys)
    assert report.has_problems
    assert "Rows per period" in report.to_text()


def test_missing_by_segment_and_periods(small_portfolio):
    report = check_frame(small_portfolio.frame, DEMO_SPEC)
    assert set(report.missing_by_segment.index) == set(small_portfolio.frame["sector"])
    assert "esg_governance" in report.missing_by_segment.columns
    assert report.periods["rows"].sum() == len(small_portfolio.frame)
    assert report.target["positives"] == small_portfolio.frame["default_12m"].sum()


def test_text_cells_and_infinities_are_located():
    csv = (b"company_id,fiscal_year,roa,sector,default_12m\n"
           b"A,2020,0.1,Energy,0\nB,2020,abc,Energy,1\nC,2020,inf,Nowhere,0\n")
    spec = replace(infer_spec(read_table(csv).frame, target="default_12m", id="company_id", time="fiscal_year"),
                   features=(DEMO_SPEC.feature("roa"), DEMO_SPEC.feature("sector")))
    report = check_frame(read_table(csv), spec)
    cells = report.cells.set_index(["row", "column"])
    assert cells.loc[(2, "roa"), "check"] == "type"
    assert "'abc' is not a number" in cells.loc[(2, "roa"), "problem"]
    assert cells.loc[(3, "roa"), "check"] == "non_finite"
    assert cells.loc[(3, "sector"), "check"] == "unknown_category"
    assert "allowed: Energy" in cells.loc[(3, "sector"), "problem"]


def test_duplicate_keys_with_different_values_are_errors():
    frame = pd.DataFrame({"company_id": ["A", "A", "B"], "fiscal_year": [2020, 2020, 2020],
                          "x": [1.0, 2.0, 3.0], "default_12m": [0, 0, 1]})
    spec = infer_spec(frame, target="default_12m", id="company_id", time="fiscal_year")
    report = check_frame(frame, spec)
    dup = [f for f in report.findings if f.check == "duplicate_key"]
    assert dup and dup[0].severity == "error" and dup[0].keys == ("A 2020",)
    assert report.duplicates.iloc[0].to_dict() == {"row": 2, "id": "A 2020", "kind": "key", "first_row": 1}


def test_constant_column_is_warned():
    frame = pd.DataFrame({"a": [1.0] * 50, "b": np.arange(50.0), "y": [0, 1] * 25})
    report = check_frame(frame, infer_spec(frame, target="y"))
    assert any(f.check == "constant" and f.column == "a" for f in report.findings)


@pytest.mark.parametrize("values,positive,expected", [
    (["0", "1", "1"], None, [0, 1, 1]),
    (["true", "False", "TRUE"], None, [1, 0, 1]),
    (["yes", "no", None], None, [1, 0, np.nan]),
    (["bad", "good", "bad"], "bad", [1, 0, 1]),
])
def test_binarize_target(values, positive, expected):
    y, bad, msg = binarize_target(pd.Series(values, dtype=object), positive)
    assert msg == "" and not bad.any()
    np.testing.assert_array_equal(y, np.array(expected, dtype=float))


def test_binarize_target_explains_labels():
    _, _, msg = binarize_target(pd.Series(["bad", "good"], dtype=object))
    assert "--positive" in msg and "'bad'" in msg
    _, _, msg = binarize_target(pd.Series(["a", "b", "c"], dtype=object), "a")
    assert "more than two labels" in msg


def test_clean_for_training_applies_the_policy(small_portfolio):
    prepared = prepare_frame(small_portfolio.frame, DEMO_SPEC)
    report = check_frame(prepared)
    clean, notes = clean_for_training(prepared, report)
    m = small_portfolio.manifest
    assert len(clean) == len(small_portfolio.frame) - len(m.duplicates)
    assert not clean.duplicated(subset=["company_id", "fiscal_year"]).any()
    for d in m.impossible:
        row = clean[(clean.company_id == d["id"]) & (clean.fiscal_year == d["year"])]
        assert row[d["column"]].isna().all()
    assert any("duplicate" in n for n in notes) and any("invalid cell" in n for n in notes)


def test_clean_for_training_needs_a_target():
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    spec = infer_spec(frame, target=None)
    prepared = prepare_frame(frame, spec)
    with pytest.raises(DataFileError, match="target column"):
        clean_for_training(prepared, check_frame(prepared))


def test_typical_range_of_a_count_is_never_negative():
    # jobs created: mostly 0 or 1, a few large; the spread-based fences would go below zero
    rng = np.random.default_rng(0)
    jobs = np.concatenate([rng.integers(0, 2, 2000), [40, 55, 80]])
    frame = pd.DataFrame({"jobs": jobs.astype(str), "y": (rng.random(len(jobs)) < 0.2).astype(int)})
    report = check_frame(read_table(frame.to_csv(index=False).encode()), infer_spec(frame, target="y"))
    out = report.cells[report.cells["check"] == "outlier"]
    assert len(out) and set(out["value"]) <= {40, 55, 80}
    assert all("typical range 0 to" in p for p in out["problem"])


def test_money_features_and_a_dated_time_column_are_read():
    csv = (b"id,approved,amount,rate,default\n"
           b"A,28-Feb-97,\"$60,000.00\",12%,0\nB,01-Mar-05,\"(1,234)\",\"12,5 %\",1\nC,2005-06-30,none,5%,0\n")
    table = read_table(csv)
    spec = infer_spec(table.frame, target="default", id="id", time="approved")
    prepared = prepare_frame(table, spec)
    frame = prepared.frame
    assert frame["approved"].tolist() == [1997, 2005, 2005] and frame["approved"].dtype == np.int64
    np.testing.assert_allclose(frame["amount"].to_numpy()[:2], [60000.0, -1234.0])
    assert np.isnan(frame["amount"].iloc[2])
    np.testing.assert_allclose(frame["rate"], [0.12, 0.125, 0.05])
    assert any("fiscal year" in n for n in prepared.notes)
    report = check_frame(prepared)
    assert any("money written as '$60,000.00'" in n for n in report.notes)
    assert not [c for c in report.cells["check"] if c == "type"]


@pytest.mark.parametrize("with_time", [True, False])
def test_the_report_counts_the_file_s_columns(with_time):
    frame = pd.DataFrame({"company_id": ["A", "B", "C"], "fiscal_year": [2020, 2020, 2021],
                          "x": [1.0, 2.0, 3.0], "default_12m": [0, 1, 0]})
    if not with_time:
        frame = frame.drop(columns="fiscal_year")
    spec = infer_spec(frame, target="default_12m", id="company_id", time="fiscal_year" if with_time else None)
    report = check_frame(frame, spec)
    assert report.n_columns == frame.shape[1]
    assert report.target == {"rows": 3.0, "positives": 1.0, "rate": 1 / 3}


def test_periods_count_defaults_only_with_a_usable_target():
    frame = pd.DataFrame({"company_id": list("ABCD"), "fiscal_year": [2020, 2020, 2021, 2021],
                          "x": [1.0, 2.0, 3.0, 4.0], "default_12m": [0, 1, 1, 1]})
    spec = infer_spec(frame, target="default_12m", id="company_id", time="fiscal_year")
    periods = check_frame(frame, spec).periods
    assert periods[["period", "rows", "defaults"]].values.tolist() == [[2020, 2, 1], [2021, 2, 2]]
    no_target = check_frame(frame.drop(columns="default_12m"), spec).periods
    assert no_target["rows"].tolist() == [2, 2] and no_target["defaults"].isna().all()


def test_each_check_reports_under_its_own_name():
    frame = pd.DataFrame({"company_id": ["A", "A", "B", "C"], "fiscal_year": [2020, 2020, 2020, 2020],
                          "current_ratio": [1.0, 1.0, None, -1.0], "sector": ["Energy", "Energy", "Energy", "Mars"],
                          "default_12m": [0, 0, 1, 0]})
    spec = replace(DEMO_SPEC, features=(DEMO_SPEC.feature("current_ratio"), DEMO_SPEC.feature("sector"),
                                        DEMO_SPEC.feature("roa")))
    report = check_frame(frame, spec)
    found = {(f.check, f.column) for f in report.findings}
    assert {("missing_column", "roa"), ("required_missing", "current_ratio"), ("range", "current_ratio"),
            ("unknown_category", "sector"), ("duplicate_row", None), ("target_balance", "default_12m"),
            ("periods", "fiscal_year")} <= found
    severities = [f.severity for f in report.findings]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
