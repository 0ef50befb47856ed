import numpy as np
import pandas as pd
import pytest

from riskcore.data.tabular import match_columns, neutralise_formulas, parse_numbers, read_table, write_csv
from riskcore.errors import DataFileError


def test_ids_stay_text():
    t = read_table(b"id,x\n007,1\n010,2\n")
    assert t.frame["id"].tolist() == ["007", "010"]


def test_semicolon_and_decimal_comma():
    t = read_table("id;x;name\n1;1,5;Müller, Hans\n2;1.234,5;B\n".encode())
    assert t.info.delimiter == ";" and t.info.decimal == ","
    values, bad = parse_numbers(t.frame["x"], t.info.decimal)
    np.testing.assert_array_equal(values, [1.5, 1234.5])
    assert not bad.any()
    assert t.frame["name"].iloc[0] == "Müller, Hans"


@pytest.mark.parametrize("data,enc", [
    (b"\xef\xbb\xbfid,x\n1,2\n", "UTF-8 with BOM"),
    ("id;x\n1;M\xfcller\n".encode("latin-1"), "Windows-1252"),
    ("id,x\n1,2\n".encode("utf-16"), "UTF-16"),
])
def test_encodings(data, enc):
    t = read_table(data)
    assert t.info.encoding == enc
    assert list(t.frame.columns) == ["id", "x"]


def test_tab_and_pipe():
    assert read_table(b"a\tb\n1\t2\n").info.delimiter == "\t"
    assert read_table(b"a|b\n1|2\n").info.delimiter == "|"


def test_ragged_rows_are_reported_and_the_rest_kept():
    t = read_table(b"id,x\n1,2\n3\n4,5,6\n7,8\n")
    assert t.frame["id"].tolist() == ["1", "7"]
    assert t.rows.tolist() == [1, 4]
    assert [p.row for p in t.problems] == [2, 3]
    assert "1 fields but the header has 2" in t.problems[0].problem


def test_unclosed_quote_names_the_row():
    t = read_table(b'id,x,name\n1,2,ok\n2,3,"bad\n4,5,x\n')
    assert t.frame["id"].tolist() == ["1"]
    assert t.problems[0].row == 2 and "never closed" in t.problems[0].problem


def test_newline_inside_quotes_is_a_value():
    t = read_table(b'id,x,name\n1,2,"a\nb"\n2,3,c\n')
    assert t.frame["name"].tolist() == ["a\nb", "c"]


@pytest.mark.parametrize("data,message", [
    (b"", "empty"),
    (b"  \n\n", "empty"),
    (b"id,x\n", "header but no data rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "PNG image"),
    (b"PK\x03\x04rest", "Excel workbook"),
    (b"abc\x00def\x00", "binary data"),
])
def test_unusable_files(data, message):
    with pytest.raises(DataFileError, match=message):
        read_table(data)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        read_table(tmp_path / "nope.csv")


def test_duplicate_headers_are_renamed_and_noted():
    t = read_table(b"id,x,x\n1,2,3\n")
    assert list(t.frame.columns) == ["id", "x", "x.1"]
    assert any("appears more than once" in n for n in t.info.notes)


def test_null_tokens_become_missing():
    t = read_table(b"id,x\n1,NA\n2,\n3,null\n4,5\n")
    values, bad = parse_numbers(t.frame["x"])
    assert np.isnan(values[:3]).all() and values[3] == 5 and not bad.any()


def test_parse_numbers_flags_text_and_keeps_inf():
    values, bad = parse_numbers(pd.Series(["1", "abc", None, "inf", "1e400", " 2 "], dtype=object))
    assert bad.tolist() == [False, True, False, False, False, False]
    assert np.isinf(values[3]) and np.isinf(values[4]) and values[5] == 2


def test_match_columns_ignores_case_and_spaces():
    mapping, notes = match_columns([" Current_Ratio ", "ROA", "x"], ["current_ratio", "roa", "absent"])
    assert mapping == {"current_ratio": " Current_Ratio ", "roa": "ROA"}
    assert notes == []


@pytest.mark.parametrize("cell", ["=1+2", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "\x00x"])
def test_formula_cells_are_neutralised(cell):
    out = neutralise_formulas(pd.Series([cell, "plain"], dtype=object))
    assert out.iloc[0] == "'" + cell and out.iloc[1] == "plain"


def test_write_csv_leaves_numbers_and_neutralises_text(tmp_path):
    frame = pd.DataFrame({"id": ["=HYPERLINK(\"x\")", "007"], "=bad": [1.5, -2.0], "n": [-3, 4]})
    path = tmp_path / "out.csv"
    write_csv(frame, path)
    text = path.read_text()
    assert "'=HYPERLINK" in text and "'=bad" in text
    back = read_table(path)
    assert back.frame["n"].tolist() == ["-3", "4"]
    assert back.frame["id"].tolist()[1] == "007"


def test_the_table_names_stay_importable_from_one_place():
    """``riskcore.data.tabular`` gathers the names of the table modules; each is the concept module's object."""
    from riskcore.data import columns, parsing, reading, table, tabular, writing

    homes = (columns, parsing, reading, table, writing)
    for name in tabular.__all__:
        home = next(m for m in homes if name in m.__all__)
        assert getattr(tabular, name) is getattr(home, name), name
