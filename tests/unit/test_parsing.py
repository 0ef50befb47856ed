import numpy as np
import pandas as pd
import pytest

from riskcore.data.parsing import classify_column, date_ages, fiscal_years, parse_dates, parse_numbers


def _one(text, decimal="."):
    values, bad = parse_numbers(pd.Series([text], dtype=object), decimal)
    return values[0], bool(bad[0])


@pytest.mark.parametrize("text,expected", [
    ("$60,000.00", 60000.0),
    ("€ 1.234,50", 1234.5),
    ("USD 1,234", 1234.0),
    ("1 234,50", 1234.5),
    ("1\u00a0234,50 €", 1234.5),
    ("1'234.50", 1234.5),
    ("(1,234)", -1234.0),
    ("($1,234.50)", -1234.5),
    ("-$5", -5.0),
    ("$-5", -5.0),
    ("1,234-", -1234.0),
    ("12%", 0.12),
    ("12,5 %", 0.125),
    ("-3.5%", -0.035),
    ("1e3", 1000.0),
    ("  7 ", 7.0),
    ("2,000,000", 2_000_000.0),
])
def test_money_percent_and_signs_read_as_numbers(text, expected):
    value, bad = _one(text)
    assert not bad
    assert value == pytest.approx(expected)


@pytest.mark.parametrize("text", ["none", "None", "-", "?", "n/a", "NULL", "", "   ", None])
def test_placeholders_are_missing_not_errors(text):
    value, bad = _one(text)
    assert np.isnan(value) and not bad


@pytest.mark.parametrize("text", ["abc", "USD", "12 apples", "1.2.3,4,5"])
def test_text_is_flagged(text):
    value, bad = _one(text)
    assert np.isnan(value) and bad


def test_decimal_comma_file_and_column_votes():
    values, bad = parse_numbers(pd.Series(["1,5", "2,25", "1.234,5"], dtype=object), ",")
    np.testing.assert_allclose(values, [1.5, 2.25, 1234.5])
    # a comma-decimal column in a point-decimal file: its unambiguous cells decide
    values, bad = parse_numbers(pd.Series(["€ 1.234,50", "12,5", "3"], dtype=object), ".")
    np.testing.assert_allclose(values, [1234.5, 12.5, 3.0])
    assert not bad.any()


def test_clean_column_takes_the_fast_path_and_numbers_pass_through():
    values, bad = parse_numbers(pd.Series(["1", "2.5", None], dtype=object))
    np.testing.assert_array_equal(values[:2], [1.0, 2.5])
    assert np.isnan(values[2]) and not bad.any()
    values, bad = parse_numbers(pd.Series([1, 2, 3]))
    np.testing.assert_array_equal(values, [1.0, 2.0, 3.0])


def _dates(values):
    out, bad, note = parse_dates(pd.Series(values, dtype=object))
    return [None if np.isnat(d) else str(d)[:10] for d in out], bad.tolist(), note


@pytest.mark.parametrize("values,expected", [
    (["2024-12-31"], ["2024-12-31"]),
    (["2024-12-31 10:00"], ["2024-12-31"]),
    (["28 Feb 1997"], ["1997-02-28"]),
    (["28-Feb-97", "01-Mar-05"], ["1997-02-28", "2005-03-01"]),
    (["01-Mar-65"], ["1965-03-01"]),
    (["31/12/2024", "01/02/2024"], ["2024-12-31", "2024-02-01"]),
    (["12/31/2024", "01/02/2024"], ["2024-12-31", "2024-01-02"]),
])
def test_dates_in_common_formats(values, expected):
    got, bad, note = _dates(values)
    assert got == expected and not any(bad)
    assert "dates written as" in note


def test_day_or_month_first_is_decided_from_the_data_and_said():
    assert "day first" in _dates(["31/12/2024", "01/02/2024"])[2]
    assert "month first" in _dates(["12/31/2024", "01/02/2024"])[2]
    assert "could not" in _dates(["01/02/2024", "03/04/2024"])[2] or "read first" in \
        _dates(["01/02/2024", "03/04/2024"])[2]


def test_unreadable_dates_are_flagged_and_placeholders_missing():
    got, bad, _ = _dates(["28-Feb-97", "none", None, "soon"])
    assert got == ["1997-02-28", None, None, None]
    assert bad == [False, False, False, True]


def test_fiscal_years_and_ages():
    d = np.array(["2024-03-31", "2024-09-30", "NaT"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(fiscal_years(d)[:2], [2024, 2024])
    np.testing.assert_array_equal(fiscal_years(d, year_end_month=6)[:2], [2024, 2025])
    assert np.isnan(fiscal_years(d)[2])
    ages = date_ages(np.array(["2020-12-31"], dtype="datetime64[ns]"), np.array(["2024-12-31"], dtype="datetime64[ns]"))
    assert ages[0] == pytest.approx(4.0, abs=0.01)


@pytest.mark.parametrize("values,kind,note", [
    (["$60,000.00", "$1.00", "$5,000.00"], "money", "'GrAppv': money written as '$60,000.00' read as numbers"),
    (["12%", "5%", "7,5 %"], "percent", "percentages"),
    (["28-Feb-97", "1-Mar-05"], "date", "dates written as '28-Feb-97'"),
    (["1", "2", "none"], "number", "'none' read as missing"),
    (["a", "b", "a"], "text", ""),
    ([None, None], "empty", "no values"),
])
def test_classify_column_says_what_it_converted(values, kind, note):
    fmt = classify_column(pd.Series(values, dtype=object, name="GrAppv"))
    assert fmt.kind == kind
    assert note in fmt.note


def test_a_column_is_converted_only_when_consistent():
    mostly_text = ["$1.00"] * 8 + ["call us", "see file", "n/k"]
    assert classify_column(pd.Series(mostly_text, dtype=object)).kind == "text"
    mostly_money = ["$1.00"] * 19 + ["call us"]
    assert classify_column(pd.Series(mostly_money, dtype=object)).kind == "money"
