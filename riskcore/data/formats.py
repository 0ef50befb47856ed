"""Each format's reader: CSV (Python's exact reader), Excel (python-calamine) and Parquet (pyarrow).

All of them produce a :class:`Part`: the rows still in Arrow, cleaned (missing
markers and cells of only spaces are missing), each with its row number, plus
the rows that could not be read. :class:`riskcore.data.reading.TableReader`
streams CSV with pyarrow's fast reader when :func:`plan_csv` allows it and falls
back to :func:`csv_exact_part` when a row needs an exact row number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from riskcore.data.sources import HEAD_BYTES, ByteSource, decode_text, sniff_delimiter, utf8_ok
from riskcore.data.table import NULL_TOKENS
from riskcore.errors import DataFileError, Problem

_NULL_SET = pa.array(NULL_TOKENS, type=pa.large_string())
_NUL_PROBLEM = ("this cell holds a NUL (zero) byte, which is not text, so the row was skipped; "
                "remove the byte (export the table again as CSV UTF-8) and try again")


# ---------------------------------------------------------------------------
# the pieces every format shares
# ---------------------------------------------------------------------------

@dataclass
class Part:
    """Rows read so far, still in Arrow: cleaned cells, their row numbers, the rows that could not be read."""

    table: pa.Table
    rows: np.ndarray
    problems: list[Problem]


def unique_header(raw: Sequence[str]) -> tuple[list[str], list[str]]:
    """Header names stripped, blanks named ``column_<i>``, repeats renamed ``name.1``; and notes saying so."""
    notes: list[str] = []
    cleaned: list[str] = []
    for i, n in enumerate(raw):
        n2 = (n or "").strip().lstrip("\ufeff")
        if not n2:
            n2 = f"column_{i + 1}"
            notes.append(f"column {i + 1} has no name; it was called {n2!r}")
        cleaned.append(n2)
    seen: dict[str, int] = {}
    unique = []
    for i, h in enumerate(cleaned):
        if h in seen:
            new = f"{h}.{seen[h] + 1}"
            seen[h] += 1
            notes.append(f"column {h!r} appears more than once; column {i + 1} was renamed {new!r}")
            unique.append(new)
        else:
            seen[h] = 0
            unique.append(h)
    return unique, notes


def _clean_text(arr: pa.ChunkedArray, tokens: bool) -> pa.ChunkedArray:
    """Missing markers (when not already applied by the CSV reader) and cells of only spaces become missing."""
    if tokens:
        arr = pc.if_else(pc.is_in(arr, value_set=_NULL_SET), pa.scalar(None, arr.type), arr)
    space = pc.utf8_is_space(arr)
    if pc.any(space).as_py():
        arr = pc.if_else(space, pa.scalar(None, arr.type), arr)
    return arr


def finish(table: pa.Table, names: list[str], rows: np.ndarray, *, tokens: bool, nul: bool) -> Part:
    """Clean text cells and set aside rows with a NUL byte in a cell (one problem each, naming the cell)."""
    columns = [_clean_text(c, tokens) if pa.types.is_large_string(c.type) else c for c in table.columns]
    out = pa.Table.from_arrays(columns, names=names)
    problems: list[Problem] = []
    if nul and out.num_rows:
        flags = [(j, pc.fill_null(pc.match_substring(c, "\x00"), False))
                 for j, c in enumerate(columns) if pa.types.is_large_string(c.type)]
        flags = [(j, f) for j, f in flags if pc.any(f).as_py()]
        if flags:
            bad = np.zeros(out.num_rows, dtype=bool)
            first = np.full(out.num_rows, -1)
            for j, f in flags:
                mask = f.to_numpy(zero_copy_only=False)
                first[mask & ~bad] = j
                bad |= mask
            for i in np.flatnonzero(bad):
                col = names[first[i]]
                problems.append(Problem(int(rows[i]), col, columns[first[i]][int(i)].as_py(), _NUL_PROBLEM))
            out = out.filter(pa.array(~bad))
            rows = rows[~bad]
    return Part(out, rows, problems)


def _text_table(columns: Sequence[Sequence[str | None]]) -> pa.Table:
    return pa.Table.from_arrays([pa.chunked_array([pa.array(c, type=pa.large_string())]) for c in columns],
                                names=[f"c{j}" for j in range(len(columns))])


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------

def _exact_read(text: str, delimiter: str) -> tuple[list[str], list[list[str]], list[int], list[Problem]]:
    """Python csv reader with exact data-row numbers and a problem per unreadable row.

    A quote that is never closed makes the csv module swallow every later line
    into one field. When a record spans several lines and has the wrong number
    of fields, the row where it started is reported and reading starts again
    on the next line, so one stray quote costs one row, not the rest of the
    file. (A quote that opens the last field and runs to the end of the file
    cannot be told apart from a value with line breaks; that row and the
    lines after it are reported together.)
    """
    problems: list[Problem] = []
    csv.field_size_limit(1 << 30)
    lines = _Lines(list(io.StringIO(text, newline="")))
    reader = csv.reader(lines, delimiter=delimiter, strict=False)
    try:
        header = next(reader)
    except StopIteration:
        return [], [], [], problems
    n_cols = len(header)
    odd_quotes = text.count('"') % 2 == 1
    rows: list[list[str]] = []
    numbers: list[int] = []
    data_row = 0
    while True:
        start = lines.i
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            data_row += 1
            problems.append(Problem(data_row, None, None, f"this row could not be read ({err}); fix or remove it"))
            lines.i = start + 1
            reader = csv.reader(lines, delimiter=delimiter, strict=False)
            continue
        used = lines.i - start
        if not rec or (len(rec) == 1 and not rec[0].strip()):
            continue  # blank line
        data_row += 1
        spans = used > 1 and any("\n" in f or "\r" in f for f in rec)
        if spans and len(rec) != n_cols:
            problems.append(Problem(
                data_row, None, None,
                f"a quote opened in this row is never closed (it ran into the {used - 1} line(s) after it); "
                "this row was skipped and the lines after it were read on their own — close the quote "
                "(or remove the stray \") and try again"))
            lines.i = start + 1
            reader = csv.reader(lines, delimiter=delimiter, strict=False)
            continue
        if spans and odd_quotes and lines.i >= len(lines.lines):
            # the quote opened the last field and ran to the end of the file: the lines after it cannot be
            # told apart from a value with line breaks, so none of them is guessed into a row
            problems.append(Problem(
                data_row, None, None,
                f"a quote opened in this row is never closed, so this row and the {used - 1} line(s) after it "
                "could not be read; close the quote (or remove the stray \") and try again"))
            continue
        if len(rec) != n_cols:
            if len(rec) < n_cols:
                problems.append(Problem(data_row, None, None,
                                        f"this row has {len(rec)} fields but the header has {n_cols}; "
                                        "add the missing fields (empty is fine) or remove the row"))
            else:
                problems.append(Problem(data_row, None, None,
                                        f"this row has {len(rec)} fields but the header has {n_cols}; "
                                        "a value probably contains an unquoted delimiter: quote it"))
            continue
        rows.append(rec)
        numbers.append(data_row)
    return header, rows, numbers, problems


class _Lines:
    """The physical lines of a text, fed to csv.reader one at a time; ``i`` is the next line's index."""

    def __init__(self, lines: list[str]):
        self.lines, self.i = lines, 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.i >= len(self.lines):
            raise StopIteration
        self.i += 1
        return self.lines[self.i - 1]


class NeedsExact(Exception):
    """The fast reader met a row it cannot parse: the exact reader takes over."""


@dataclass
class CsvPlan:
    """What one pass over the bytes decided: encoding, delimiter and whether the fast reader may be used."""

    encoding: str
    delimiter: str
    fast: bool
    nul: bool
    raw_header: list[str]


def plan_csv(src: ByteSource) -> CsvPlan:
    """One pass over the bytes: whether the fast reader can read them (UTF-8, quotes balanced, a clean header)."""
    head = src.head()
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return CsvPlan("UTF-16", ",", False, True, [])
    bom = head.startswith(b"\xef\xbb\xbf")
    quotes = 0
    nul = False
    utf8 = True
    carry = b""
    for block in src.blocks():
        quotes += block.count(b'"')
        nul = nul or block.find(b"\x00") >= 0
        if utf8:
            # a line feed never falls inside a multi-byte character: check up to the last one, carry the rest
            buf = carry + block if carry else block
            cut = buf.rfind(b"\n") + 1 if src.data is None else len(buf)
            utf8, carry = utf8_ok(memoryview(buf)[:cut]), buf[cut:]
    utf8 = utf8 and utf8_ok(carry)
    encoding = "UTF-8 with BOM" if bom else "UTF-8"
    delimiter = sniff_delimiter(head[3 if bom else 0:].decode("utf-8", errors="replace"))
    # an odd number of quote characters means a quote is never closed, and only the exact reader can say where
    fast = utf8 and quotes % 2 == 0
    raw_header: list[str] = []
    if fast:
        try:
            raw_header = list(pacsv.open_csv(io.BytesIO(head), parse_options=pacsv.ParseOptions(
                delimiter=delimiter, invalid_row_handler=lambda row: "skip")).schema.names)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, StopIteration):
            fast = False
        # pyarrow cannot hold two columns of one name, and blank names are named by the exact reader
        if len(set(raw_header)) != len(raw_header) or any(not n.strip() for n in raw_header):
            fast = False
    return CsvPlan(encoding, delimiter, fast, nul, raw_header)


def csv_exact_part(src: ByteSource, plan: CsvPlan) -> tuple[Part, str, str, list[str]]:
    """The whole file through Python's csv module; also the encoding, delimiter and notes it was read with."""
    text, encoding, notes = decode_text(src.read())
    delimiter = plan.delimiter if plan.fast else sniff_delimiter(text[:HEAD_BYTES])
    header_raw, rows, nums, problems = _exact_read(text, delimiter)
    if not header_raw:
        raise DataFileError("the file has no header row.")
    names, header_notes = unique_header([str(c) for c in header_raw])
    columns = [[r[j] for r in rows] for j in range(len(names))]
    part = finish(_text_table(columns), names, np.asarray(nums, dtype=np.int64), tokens=True, nul="\x00" in text)
    part.problems = sorted(problems + part.problems, key=lambda p: p.row or 0)
    return part, encoding, delimiter, notes + header_notes


# ---------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------

def _excel_text(v: Any) -> str | None:
    """An Excel cell as the text a user sees: whole numbers without ``.0``, dates as ISO text."""
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e16 else repr(v)
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    return str(v)


def excel_part(src: ByteSource, sheet: str | None) -> tuple[Part, str, int, list[str]]:
    """One sheet, read whole: the rows (numbered as the sheet numbers them), the sheet's name, its header row."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = (CalamineWorkbook.from_path(str(src.path)) if src.path is not None
                else CalamineWorkbook.from_filelike(io.BytesIO(src.data or b"")))
    except (CalamineError, OSError, ValueError) as err:
        raise DataFileError(f"this Excel workbook could not be opened ({err}). Open it in Excel, save it again "
                            "as .xlsx (or CSV) and try again.") from err
    sheets = list(book.sheet_names)
    if not sheets:
        raise DataFileError("this Excel workbook has no sheets. Save the table in a sheet and try again.")
    if sheet is None:
        name = sheets[0]
    elif sheet in sheets:
        name = sheet
    else:
        raise DataFileError(f"this Excel workbook has no sheet {sheet!r}; its sheets are "
                            f"{', '.join(map(repr, sheets))}. Choose one of them.")
    try:
        cells = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except (CalamineError, ValueError) as err:
        raise DataFileError(f"sheet {name!r} of this Excel workbook could not be read ({err}). Save the workbook "
                            "again as .xlsx (or CSV) and try again.") from err
    finally:
        book.close()
    texts = [[_excel_text(v) for v in r] for r in cells]
    filled = [i for i, r in enumerate(texts) if any(v is not None for v in r)]
    if not filled:
        raise DataFileError(f"sheet {name!r} is empty: it has no header and no rows. Put the table in it, with a "
                            "header row, or choose another sheet.")
    # the table starts at its first filled row and column, wherever a user put it on the sheet
    left = min(next(j for j, v in enumerate(texts[i]) if v is not None) for i in filled)
    width = max(max(j for j, v in enumerate(texts[i]) if v is not None) for i in filled) + 1
    top = filled[0]
    header_raw = [(texts[top][j] if j < len(texts[top]) else None) or "" for j in range(left, width)]
    names, notes = unique_header(header_raw)
    body = [i for i in filled if i > top]
    columns = [[texts[i][j] if j < len(texts[i]) else None for i in body] for j in range(left, width)]
    rows = np.asarray([i + 1 for i in body], dtype=np.int64)
    part = finish(_text_table(columns), names, rows, tokens=True, nul=True)
    return part, name, top + 1, notes


# ---------------------------------------------------------------------------
# Parquet
# ---------------------------------------------------------------------------

def parquet_file(src: ByteSource) -> Any:
    """The Parquet file opened for reading batch by batch, or a ``DataFileError`` saying it cannot be read."""
    import pyarrow.parquet as pq

    try:
        # without pre-buffering: with it, reading a file batch by batch held more memory the longer the file
        # (0.47 GB for 5,000,000 rows against 0.27 GB without, the same batches)
        return pq.ParquetFile(str(src.path) if src.path is not None else pa.BufferReader(src.data or b""),
                              pre_buffer=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as err:
        raise DataFileError(f"this Parquet file could not be read ({err}); export it again and try again.") from err


def parquet_types(pf: Any) -> list[pa.DataType]:
    """The type each column is read as: numbers as float64 or int64, everything else as text.

    Whole-number columns are int64 only when the file's statistics show no
    missing value in any row group, so every chunk of a file gets the same type.
    """
    meta = pf.metadata
    out: list[pa.DataType] = []
    for j, fld in enumerate(pf.schema_arrow):
        t = fld.type
        if pa.types.is_integer(t):
            nulls = [meta.row_group(g).column(j).statistics for g in range(meta.num_row_groups)]
            clean = all(s is not None and s.has_null_count and s.null_count == 0 for s in nulls)
            out.append(pa.int64() if clean else pa.float64())
        elif pa.types.is_floating(t) or pa.types.is_decimal(t):
            out.append(pa.float64())
        else:
            out.append(pa.large_string())
    return out


def parquet_column(arr: pa.ChunkedArray, target: pa.DataType, name: str) -> pa.ChunkedArray:
    """One column as the type :func:`parquet_types` chose; timestamps as ISO text, midnight as a plain date."""
    t = arr.type
    if target != pa.large_string():
        return arr.cast(target)
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_timestamp(t):
        # whole seconds: Arrow writes the fraction of a second for finer units
        text = pc.strftime(arr.cast(pa.timestamp("s", tz=t.tz), safe=False), format="%Y-%m-%d %H:%M:%S")
        midnight = pc.fill_null(pc.ends_with(text, " 00:00:00"), False)
        return pc.if_else(midnight, pc.utf8_slice_codeunits(text, 0, 10), text).cast(pa.large_string())
    try:
        return arr.cast(pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise DataFileError(f"column {name!r} of this Parquet file has type {t} which cannot be read as a table "
                            "column; export it as numbers or text and try again.") from err
