"""Reading real files: hostile CSVs, Excel, Parquet, streaming, and the chunked writer."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskcore.data.tabular import (
    NULL_TOKENS,
    match_columns,
    normalise_name,
    open_table,
    read_ahead,
    read_table,
    write_csv,
    write_parquet,
    write_table,
)
from riskcore.errors import DataFileError


def _col(j):
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s

def xlsx(sheets, start_row=1, start_col=0):
    """Bytes of a minimal .xlsx: sheets maps a name to rows of str/int/float/bool/date/None."""
    sheet_xml = []
    for rows in sheets.values():
        out = []
        for i, row in enumerate(rows):
            cells = []
            for j, v in enumerate(row):
                ref = f"{_col(j + start_col)}{i + start_row}"
                if v is None:
                    continue
                if isinstance(v, bool):
                    cells.append(f'<c r="{ref}" t="b"><v>{int(v)}</v></c>')
                elif isinstance(v, (dt.date, dt.datetime)):
                    base = dt.datetime(1899, 12, 30)
                    d = v if isinstance(v, dt.datetime) else dt.datetime(v.year, v.month, v.day)
                    serial = (d - base).total_seconds() / 86400
                    cells.append(f'<c r="{ref}" s="1"><v>{serial}</v></c>')
                elif isinstance(v, (int, float)):
                    cells.append(f'<c r="{ref}"><v>{v!r}</v></c>')
                else:
                    cells.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(v)}</t></is></c>')
            out.append(f'<row r="{i + start_row}">{"".join(cells)}</row>')
        sheet_xml.append('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                         f'spreadsheetml/2006/main"><sheetData>{"".join(out)}</sheetData></worksheet>')
    names = list(sheets)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                   'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
                   'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
                   '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
                   'main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
                   'officedocument.spreadsheetml.styles+xml"/>'
                   + "".join(f'<Override PartName="/xl/worksheets/sheet{k + 1}.xml" ContentType="application/vnd.'
                             'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for k in range(len(names)))
                   + "</Types>")
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
                   'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
                   'relationships"><sheets>'
                   + "".join(f'<sheet name="{escape(n)}" sheetId="{k + 1}" r:id="rId{k + 1}"/>'
                             for k, n in enumerate(names))
                   + "</sheets></workbook>")
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships">'
                   + "".join(f'<Relationship Id="rId{k + 1}" Type="http://schemas.openxmlformats.org/officeDocument/'
                             f'2006/relationships/worksheet" Target="worksheets/sheet{k + 1}.xml"/>'
                             for k in range(len(names)))
                   + f'<Relationship Id="rId{len(names) + 1}" Type="http://schemas.openxmlformats.org/officeDocument/'
                     '2006/relationships/styles" Target="styles.xml"/></Relationships>')
        z.writestr("xl/styles.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/'
                   'spreadsheetml/2006/main"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" '
                   'applyNumberFormat="1"/></cellXfs></styleSheet>')
        for k, x in enumerate(sheet_xml):
            z.writestr(f"xl/worksheets/sheet{k + 1}.xml", x)
    return buf.getvalue()


def _chunks(source, **kwargs):
    with open_table(source, **kwargs) as reader:
        return reader.info, reader.columns, list(reader)


def _joined(chunks):
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    rows = np.concatenate([c.rows for c in chunks])
    return frame, rows, [p for c in chunks for p in c.problems]


# -- hostile CSVs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    b'id,name,x\n1,"line one\rline two",3\n2,b,4\n',
    b'id,name,x\n1,"line one\r\nline two",3\n2,b,4\n',
    b'id,name,x\r\n1,"line one\rline two",3\r\n2,b,4\r\n',
    b'id;name;x\n1;"line one\rline two";3\n2;b\xe9;4\n',  # Windows-1252: the exact reader
    b'id,name,x\n1,"line one\rline two",3\n2,b,4\n3,"open\n',  # a quote never closed: the exact reader
])
def test_carriage_return_inside_quotes_stays_in_its_cell(data):
    t = read_table(data)
    assert t.frame["id"].tolist()[:2] == ["1", "2"]
    assert t.frame["name"].iloc[0] in ("line one\rline two", "line one\r\nline two")
    assert t.rows.tolist()[:2] == [1, 2]
    _, _, chunks = _chunks(data, chunk_rows=1)
    frame, rows, _ = _joined(chunks)
    assert frame["name"].iloc[0] == t.frame["name"].iloc[0] and rows.tolist() == t.rows.tolist()


@pytest.mark.parametrize("encode", [bytes, lambda b: b.replace(b"ok", b"\xe9")])
def test_a_nul_byte_costs_its_row_only(encode):
    data = encode(b"id,name,x\n1,ok,2\n2,a\x00b,3\n3,c,4\n")
    t = read_table(data)
    assert t.frame["id"].tolist() == ["1", "3"] and t.rows.tolist() == [1, 3]
    (p,) = t.problems
    assert p.row == 2 and p.column == "name" and p.value == "a\x00b"
    assert "NUL" in p.problem and "try again" in p.problem


def test_a_nul_byte_in_an_excel_cell_costs_its_row_only():
    t = read_table(xlsx({"S": [["id", "x"], ["1", "a\x00b"], ["2", "c"]]}))
    assert t.rows.tolist() == [3] and t.problems[0].row == 2


@pytest.mark.parametrize("data,message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "PNG image"),
    (b"%PDF-1.7\n%\xe2\xe3\n1 0 obj", "PDF document"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip archive"),
    (b"SQLite format 3\x00\x10\x00", "SQLite database"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", r"old Excel workbook \(\.xls\)\. Save it as \.xlsx or CSV"),
    (b"\x00\x01\x02\x03" * 100, "binary data"),
    (b"id,x\n" + b"\x00\x01" * 400 + b"\n", "binary data"),
])
def test_binary_files_are_still_refused(data, message):
    with pytest.raises(DataFileError, match=message):
        read_table(data)


def test_a_zip_that_is_not_a_workbook_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data.csv", "id,x\n1,2\n")
    with pytest.raises(DataFileError, match="ZIP archive or an Excel workbook"):
        read_table(buf.getvalue())


def test_only_true_missing_markers_are_missing():
    cells = ["none", "None", "-", "?", "n.a.", "Null", *NULL_TOKENS, "  ", "\t"]
    data = ("id,guarantor\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells))).encode()
    t = read_table(data)
    values = t.frame["guarantor"].tolist()
    assert values[:6] == ["none", "None", "-", "?", "n.a.", "Null"]
    assert all(pd.isna(v) for v in values[6:])
    assert t.rows.tolist() == list(range(1, len(cells) + 1))


def test_none_is_a_category_level_not_a_gap():
    data = "id,guarantor\n" + "".join(f"{i},{'none' if i % 3 else 'bank'}\n" for i in range(300))
    t = read_table(data.encode())
    assert t.frame["guarantor"].nunique() == 2 and t.frame["guarantor"].notna().all()


# -- column names ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["current_ratio", "Current Ratio", "current-ratio", "Current_Ratio ", "CURRENT.RATIO"])
def test_names_match_ignoring_case_spaces_underscores_and_punctuation(name):
    assert normalise_name(name) == normalise_name("current_ratio")
    mapping, notes = match_columns(["COMPANY ID", name], ["company_id", "current_ratio"])
    assert mapping == {"company_id": "COMPANY ID", "current_ratio": name} and notes == []


def test_a_name_of_punctuation_only_is_kept():
    assert normalise_name("%") == "%" and normalise_name("#") != normalise_name("%")


def test_exact_beats_normalised_and_a_copy_is_noted():
    mapping, notes = match_columns(["Current Ratio", "current_ratio"], ["current_ratio"])
    assert mapping == {"current_ratio": "current_ratio"}
    assert len(notes) == 1 and "appears 2 times" in notes[0]
    mapping, notes = match_columns(["x_1", "x-1"], ["x-1", "x_1"])
    assert mapping == {"x-1": "x-1", "x_1": "x_1"} and notes == []


def test_a_label_is_accepted_as_the_name():
    aliases = {"current_ratio": ["Current ratio (x)"], "roa": ["Return on assets"]}
    mapping, _ = match_columns(["id", "current ratio (x)", "Return on Assets"], ["id", "current_ratio", "roa"],
                               aliases)
    assert mapping == {"id": "id", "current_ratio": "current ratio (x)", "roa": "Return on Assets"}


def test_a_label_never_takes_another_features_column():
    # the label of "leverage" reads as the name "roa": the column ROA belongs to roa, present or not
    aliases = {"leverage": ["ROA"]}
    mapping, _ = match_columns(["ROA"], ["roa", "leverage"], aliases)
    assert mapping == {"roa": "ROA"}
    mapping, _ = match_columns(["ROA"], ["leverage", "roa"], aliases)
    assert mapping == {"roa": "ROA"}
    mapping, _ = match_columns(["roa", "Leverage ratio"], ["roa", "leverage"], {"leverage": ["leverage ratio"]})
    assert mapping == {"roa": "roa", "leverage": "Leverage ratio"}


# -- Excel ----------------------------------------------------------------------------------------------------------

def test_excel_first_sheet_with_whole_numbers_dates_and_sheet_rows():
    data = xlsx({"Companies": [["company id", "year", "sector", "ratio", "as of"],
                               ["007", 2024, "none", 1.5, dt.date(2024, 12, 31)],
                               [None, None, None, None, None],
                               ["8", 2023.0, "NA", 0.25, dt.datetime(2024, 1, 2, 13, 30)],
                               ["9", 2022, True, None, None]],
                 "Other": [["a"], [1]]})
    t = read_table(data)
    assert t.frame["company id"].tolist() == ["007", "8", "9"]
    assert t.frame["sector"].tolist()[::2] == ["none", "TRUE"] and t.frame["ratio"].tolist()[:2] == ["1.5", "0.25"]
    assert t.frame["as of"].tolist()[:2] == ["2024-12-31", "2024-01-02 13:30:00"] and t.frame["as of"].isna().iloc[2]
    assert t.frame["year"].tolist() == ["2024", "2023", "2022"]
    assert t.frame["as of"].iloc[0] == "2024-12-31" and pd.isna(t.frame["sector"].iloc[1])
    assert t.rows.tolist() == [2, 4, 5]  # the sheet's row numbers: the header is row 1, row 3 is empty
    assert t.info.format == "excel" and t.info.sheet == "Companies"
    assert t.info.describe().startswith("Excel sheet 'Companies', 3 rows × 5 columns")
    assert "header is row 1" in t.info.describe()


def test_excel_sheet_by_name_and_a_table_placed_lower_down():
    data = xlsx({"A": [["x"], [1]], "B": [["id", "v"], ["1", 2], ["2", 3]]}, start_row=4, start_col=2)
    t = read_table(data, sheet="B")
    assert list(t.frame.columns) == ["id", "v"] and t.rows.tolist() == [5, 6] and t.info.header_row == 4
    with pytest.raises(DataFileError, match=r"no sheet 'C'; its sheets are 'A', 'B'"):
        read_table(data, sheet="C")


def test_excel_from_a_path_and_in_chunks(tmp_path):
    path = tmp_path / "book.bin"  # the format comes from the bytes, not the name
    path.write_bytes(xlsx({"S": [["id", "x"]] + [[str(i), i] for i in range(7)]}))
    whole = read_table(path)
    _, columns, chunks = _chunks(path, chunk_rows=3)
    frame, rows, _ = _joined(chunks)
    assert columns == ["id", "x"] and [len(c.rows) for c in chunks] == [3, 3, 1]
    pd.testing.assert_frame_equal(frame, whole.frame)
    assert rows.tolist() == whole.rows.tolist() == list(range(2, 9))


def test_empty_sheet_and_header_only_sheet():
    with pytest.raises(DataFileError, match="sheet 'S' is empty"):
        read_table(xlsx({"S": []}))
    with pytest.raises(DataFileError, match="header but no data rows"):
        read_table(xlsx({"S": [["id", "x"]]}))


# -- Parquet --------------------------------------------------------------------------------------------------------

def test_parquet_keeps_numbers_numeric_and_text_as_text(tmp_path):
    frame = pd.DataFrame({"id": ["007", "008", None], "year": [2022, 2023, 2024], "x": [1.5, np.nan, 2.0],
                          "n": pd.array([1, None, 3], dtype="Int64"), "flag": [True, False, True],
                          "when": pd.to_datetime(["2024-12-31", "2024-01-02 13:30", None], format="ISO8601"),
                          "label": ["none", "NA", "  "]})
    path = tmp_path / "data.parquet"
    write_parquet(frame, path)
    t = read_table(path)
    assert t.frame["year"].dtype == np.int64 and t.frame["x"].dtype == np.float64
    assert t.frame["n"].dtype == np.float64  # whole numbers with a gap
    assert t.frame["id"].tolist()[:2] == ["007", "008"] and pd.isna(t.frame["id"].iloc[2])
    assert t.frame["when"].tolist()[:2] == ["2024-12-31", "2024-01-02 13:30:00"]
    assert t.frame["label"].iloc[0] == "none" and t.frame["label"].iloc[1:].isna().all()
    assert t.frame["flag"].tolist() == ["true", "false", "true"]
    assert t.rows.tolist() == [1, 2, 3] and t.info.describe() == "Parquet, 3 rows × 7 columns"


def test_parquet_from_bytes_in_row_groups(tmp_path):
    table = pa.table({"id": [f"c{i}" for i in range(10)], "x": np.arange(10, dtype=np.int32)})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=4)
    info, columns, chunks = _chunks(buf.getvalue(), chunk_rows=3)
    frame, rows, _ = _joined(chunks)
    assert frame["x"].dtype == np.int64 and frame["x"].tolist() == list(range(10))
    assert rows.tolist() == list(range(1, 11)) and info.n_rows == 10
    with open_table(buf.getvalue()) as reader:
        ids = reader.read_columns(["id"])
    assert list(ids.frame.columns) == ["id"] and ids.rows.tolist() == list(range(1, 11))


def test_a_damaged_parquet_file_is_a_clear_error():
    with pytest.raises(DataFileError, match="Parquet file could not be read"):
        read_table(b"PAR1garbage-not-parquet")


# -- streaming ------------------------------------------------------------------------------------------------------

def test_open_table_knows_info_and_columns_before_reading(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("id;x;x\n" + "".join(f"{i};{i},5;1\n" for i in range(1000)))
    with open_table(path, chunk_rows=300) as reader:
        assert reader.columns == ["id", "x", "x.1"]
        assert reader.info.delimiter == ";" and reader.info.decimal == ","
        sizes = [len(c.rows) for c in reader]
        assert sizes == [300, 300, 300, 100] and reader.info.n_rows == 1000
        again = [c.rows[0] for c in reader]  # iterating again reads the file again
        assert again == [1, 301, 601, 901]
        cols = reader.read_columns(["id"])
    assert list(cols.frame.columns) == ["id"] and cols.rows.tolist() == list(range(1, 1001))


def test_a_bad_row_far_down_switches_to_the_exact_reader_mid_stream(tmp_path):
    lines = [f"{i},{i}" for i in range(1, 20001)]
    lines[15000] = "bad"  # row 15001 has one field
    path = tmp_path / "f.csv"
    path.write_text("id,x\n" + "\n".join(lines) + "\n")
    whole = read_table(path)
    _, _, chunks = _chunks(path, chunk_rows=4000)
    frame, rows, problems = _joined(chunks)
    pd.testing.assert_frame_equal(frame, whole.frame)
    assert rows.tolist() == whole.rows.tolist() and 15001 not in rows
    assert [p.row for p in problems] == [p.row for p in whole.problems] == [15001]
    assert [p.row for p in chunks[3].problems] == [15001]  # the chunk whose rows it falls between
    assert [len(c.rows) for c in chunks] == [4000, 4000, 4000, 4000, 3999]


@pytest.mark.parametrize("bad_row", [None, 15001])
def test_iter_columns_gives_the_chunks_of_the_whole_reader_for_those_columns(tmp_path, bad_row):
    lines = [f"{i},{i % 7},t{i}" for i in range(1, 20001)]
    if bad_row is not None:
        lines[bad_row - 1] = "bad"  # one field: switches to the exact reader mid-stream
    path = tmp_path / "f.csv"
    path.write_text("id,x,note\n" + "\n".join(lines) + "\n")
    with open_table(path, chunk_rows=4000) as reader:
        some = list(reader.iter_columns(["note", "id"]))  # first, as a first pass over a file does
        whole = list(reader)
    assert [c.rows.tolist() for c in some] == [c.rows.tolist() for c in whole]
    assert [[p.row for p in c.problems] for c in some] == [[p.row for p in c.problems] for c in whole]
    for a, b in zip(some, whole):
        pd.testing.assert_frame_equal(a.frame, b.frame[["note", "id"]])


def test_read_ahead_gives_the_chunks_in_order_and_raises_where_the_failing_one_would_come():
    def chunks():
        yield from (1, 2, 3)
        raise DataFileError("row 4 cannot be read")

    got = []
    with pytest.raises(DataFileError, match="row 4"):
        for chunk in read_ahead(chunks()):
            got.append(chunk)
    assert got == [1, 2, 3]
    assert list(read_ahead(iter([]))) == []


def test_closing_read_ahead_waits_for_the_chunk_being_read():
    finished = threading.Event()

    def chunks():
        yield 1
        time.sleep(0.2)
        finished.set()
        yield 2

    ahead = read_ahead(chunks())
    assert next(ahead) == 1
    ahead.close()
    assert finished.is_set()


def test_every_row_unreadable_gives_one_empty_chunk_with_the_problems():
    _, _, chunks = _chunks(b"id,x\n1\n2\n", chunk_rows=10)
    assert len(chunks) == 1 and chunks[0].frame.empty and [p.row for p in chunks[0].problems] == [1, 2]


def test_read_columns_names_an_unknown_column():
    with open_table(b"id,x\n1,2\n") as reader, pytest.raises(DataFileError, match="no column 'y'"):
        reader.read_columns(["y"])


_CELL = st.one_of(
    st.sampled_from(["", "NA", "none", "-", "007", "1,5", "1.5", " ", "x y", '"q"', "a,b", "a;b", "l1\nl2",
                     "l1\rl2", "é", "a\x00b", "=1+2"]),
    st.text(alphabet="ab ,;\"\n\r1.", max_size=4),
)


def _csv_bytes(rows: list[list[str]], delimiter: str, quote_all: bool) -> bytes:
    out = io.StringIO()
    csv_writer = __import__("csv").writer(out, delimiter=delimiter, lineterminator="\n",
                                          quoting=1 if quote_all else 0)
    csv_writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_cols=st.integers(1, 4),
    body=st.lists(st.lists(_CELL, min_size=1, max_size=5), min_size=1, max_size=25),
    delimiter=st.sampled_from([",", ";"]),
    quote_all=st.booleans(),
    raw_tail=st.sampled_from(["", "bad\n", '9,"open\n', "\n\n", "1,2,3,4,5,6\n"]),
    chunk_rows=st.integers(1, 7),
)
def test_chunks_put_together_are_read_table(n_cols, body, delimiter, quote_all, raw_tail, chunk_rows):
    header = [f"c{j}" for j in range(n_cols)]
    rows = [(r + [""] * n_cols)[:n_cols] if k % 5 else r for k, r in enumerate(body)]  # some ragged rows
    data = _csv_bytes([header] + rows, delimiter, quote_all) + raw_tail.replace(",", delimiter).encode()
    try:
        whole = read_table(data)
    except DataFileError:
        with pytest.raises(DataFileError):
            _chunks(data, chunk_rows=chunk_rows)
        return
    info, columns, chunks = _chunks(data, chunk_rows=chunk_rows)
    frame, numbers, problems = _joined(chunks)
    assert columns == list(whole.frame.columns)
    pd.testing.assert_frame_equal(frame, whole.frame)
    assert numbers.tolist() == whole.rows.tolist()
    assert problems == whole.problems
    assert (info.encoding, info.delimiter, info.decimal) == (whole.info.encoding, whole.info.delimiter,
                                                             whole.info.decimal)
    assert all(len(c.rows) <= chunk_rows for c in chunks)


def test_streaming_memory_stays_near_one_chunk(tmp_path):
    script = textwrap.dedent("""
        import resource, sys
        import numpy as np, pyarrow as pa, pyarrow.csv as pacsv
        n, path = 200_000, sys.argv[1]
        cols = {"id": pa.array(np.char.add("C", np.arange(n).astype(str)))}
        cols.update({f"x{j}": pa.array(np.round(np.random.default_rng(j).normal(size=n), 3)) for j in range(20)})
        pacsv.write_csv(pa.table(cols), path)
        del cols
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        from riskcore.data.tabular import open_table
        rows = 0
        with open_table(path, chunk_rows=20_000) as reader:
            for chunk in reader:
                rows += len(chunk.rows)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(rows, (peak - base) / 1024)
    """)
    path = tmp_path / "mem.csv"
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True,
                         cwd=os.getcwd())
    rows, grown_mb = out.stdout.split()
    size_mb = path.stat().st_size / 1e6
    assert int(rows) == 200_000
    assert float(grown_mb) < max(size_mb, 60), (grown_mb, size_mb)


# -- the chunked writer ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_table_in_chunks_with_a_column_missing_in_one_chunk(tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    first = pd.DataFrame({"id": ["=cmd", "b"], "note": [None, None], "p": [0.1, 0.2], "n": [1, 2]})
    second = pd.DataFrame({"id": ["c"], "note": ["kept"], "p": [0.3], "n": [3]})
    with write_table(path, fmt) as writer:
        writer.write(first)
        writer.write(second)
        assert not path.exists()  # nothing under the final name until the end
    back = read_table(path)
    assert back.frame["note"].tolist()[2] == "kept" and back.rows.tolist() == [1, 2, 3]
    if fmt == "csv":
        assert back.frame["id"].tolist() == ["'=cmd", "b", "c"]
    else:
        assert back.frame["id"].tolist() == ["=cmd", "b", "c"] and back.frame["p"].dtype == np.float64
    assert [f for f in os.listdir(tmp_path) if f != path.name] == []


def test_an_error_inside_write_table_leaves_nothing(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), write_table(path) as writer:
        writer.write(pd.DataFrame({"a": [1]}))
        raise RuntimeError("stop")
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["out.csv"]
    writer = write_table(tmp_path / "x.parquet", "parquet")
    writer.write(pd.DataFrame({"a": [1]}))
    writer.abort()
    assert os.listdir(tmp_path) == ["out.csv"]


def test_write_table_refuses_other_columns_and_a_type_it_cannot_convert(tmp_path):
    with write_table(tmp_path / "o.parquet", "parquet") as writer:
        writer.write(pd.DataFrame({"a": [1]}))
        with pytest.raises(ValueError, match="every chunk must have the columns"):
            writer.write(pd.DataFrame({"b": [1]}))
        with pytest.raises(ValueError, match="pass schema="):
            writer.write(pd.DataFrame({"a": ["text"]}))
    schema = pa.schema([("a", pa.large_string())])
    with write_table(tmp_path / "s.parquet", "parquet", schema=schema) as writer:
        writer.write(pd.DataFrame({"a": [None]}))
        writer.write(pd.DataFrame({"a": ["x"]}))
    assert pq.read_table(tmp_path / "s.parquet").column("a").to_pylist() == [None, "x"]


def test_write_table_matches_write_csv(tmp_path):
    frame = pd.DataFrame({"id": ["=HYPERLINK(\"x\")", "007"], "=bad": [1.5, -2.0], "n": [-3, 4]})
    write_csv(frame, tmp_path / "a.csv")
    with write_table(tmp_path / "b.csv") as writer:
        writer.write(frame.iloc[:1])
        writer.write(frame.iloc[1:])
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
