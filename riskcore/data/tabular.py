"""Reading and writing the tables users bring — CSV, Excel and Parquet — tolerantly and safely.

:func:`read_table` accepts what spreadsheets, core-banking exports and data
tools produce. The format is told by the file's first bytes, not its name, so
uploaded bytes work too:

- **CSV**: comma, semicolon, tab or pipe delimiters; decimal commas; UTF-8 with
  or without a byte-order mark, UTF-16 with one, or Windows-1252/Latin-1;
  quoted fields with delimiters, line feeds and carriage returns inside.
- **Excel** (``.xlsx``, read with python-calamine): the first sheet, or the one
  named. Whole numbers stay whole (``2024``, not ``2024.0``), dates become ISO
  text (``2024-12-31``). An old ``.xls`` is refused with a message saying to
  save it as ``.xlsx`` or CSV.
- **Parquet** (read with pyarrow): number columns stay numbers (``float64``, or
  ``int64`` when the file's statistics show no missing value), so a million
  numbers are not turned into text; other columns become text.

Text cells are kept as text, so ids such as ``007`` keep their zeros;
:func:`riskcore.data.parsing.parse_numbers` (also importable from here, where it
used to live) then turns a column into numbers and says which cells were not
numbers. Only true missing markers are missing (:data:`NULL_TOKENS`:
an empty cell or one of only spaces, ``NA``, ``N/A``, ``NaN``, ``NULL`` and
``#N/A``, each as written here, in upper case or in lower case). Words such as
``none``, ``-`` or ``?`` stay text: in a category column ``none`` is often a
real level (no guarantor), and in a number column the number parser decides
what they mean.

Rows that cannot be read (too many or too few fields, a quote never closed, a
NUL byte in a cell) are reported by row number while the rest of the file is
kept. ``Table.rows`` holds, for each frame row, the number a user finds it by:
for CSV and Parquet the 1-based data-row number (the header is not counted);
for Excel the sheet's own row number as Excel shows it in its margin (the
header is usually row 1, so the first data row is row 2). ``ReadInfo.describe``
says which.

CSV is read by pyarrow's streaming reader straight from the bytes or the path,
a few megabytes at a time. One cheap pass over the bytes first checks what the
fast reader cannot judge on its own: an odd number of quote characters (a quote
never closed), bytes that are not UTF-8, UTF-16. Such files, and files where
pyarrow meets a row it cannot parse, are read with Python's ``csv`` module so
every problem gets an exact row number. :func:`open_table` gives the same rows
as :func:`read_table` in chunks (:class:`TableReader`), so a large file is
never held whole in memory; Excel files and files that need the exact reader
are read whole and then handed out in slices.

:func:`write_csv` neutralises spreadsheet formula injection in text cells;
:func:`write_parquet` writes plainly (Parquet is not opened as formulas).
:func:`write_table` writes chunk by chunk to a temporary file that takes the
final name only when the writer is committed, so a partial output never
appears under that name.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import os
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from riskcore.errors import DataFileError, Problem

__all__ = [
    "NULL_TOKENS",
    "ReadInfo",
    "Table",
    "TableReader",
    "TableWriter",
    "map_columns",
    "match_columns",
    "neutralise_formulas",
    "normalise_name",
    "open_table",
    "parse_numbers",  # noqa: F822 - lives in riskcore.data.parsing, resolved by __getattr__ below
    "read_table",
    "text_array",
    "write_csv",
    "write_parquet",
    "write_table",
]

Source: TypeAlias = "str | os.PathLike[str] | bytes | IO[bytes]"
FileFormat = Literal["csv", "excel", "parquet"]

#: Cells read as missing in every format: empty, or one of these markers as written, in upper or in lower case
#: (cells of only spaces are missing too). ``none``, ``-`` and ``?`` are not here on purpose (see the module text).
NULL_TOKENS: tuple[str, ...] = ("", "NA", "na", "N/A", "n/a", "NaN", "NAN", "nan", "NULL", "null", "#N/A", "#n/a")
_NULL_SET = pa.array(NULL_TOKENS, type=pa.large_string())
_DELIMITERS = (",", ";", "\t", "|")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3", "an SQLite database"),
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")
_MAX_FIELD_CHARS = 1_000_000
_HEAD_BYTES = 65536
_BLOCK_BYTES = 1 << 20  # pyarrow parses this much at a time when streaming (it reads a few blocks ahead)
_WHOLE_BLOCK_BYTES = 1 << 24  # and when reading a whole file, where fewer, larger blocks are faster
_SCAN_BYTES = 1 << 22
_DECIMAL_SAMPLE = 200
_NUL_PROBLEM = ("this cell holds a NUL (zero) byte, which is not text, so the row was skipped; "
                "remove the byte (export the table again as CSV UTF-8) and try again")


@dataclass(frozen=True)
class ReadInfo:
    """How a file was read: its format, encoding, delimiter and decimal mark.

    For Excel, ``sheet`` names the sheet read and row numbers are the sheet's
    (the header is ``header_row``, usually 1); for CSV and Parquet they are
    1-based data-row numbers and ``header_row`` is 0. ``encoding`` and
    ``delimiter`` are empty for Excel and Parquet.
    """

    encoding: str
    delimiter: str
    decimal: str
    n_rows: int
    n_columns: int
    notes: tuple[str, ...] = ()
    format: FileFormat = "csv"
    sheet: str | None = None
    header_row: int = 0

    def describe(self) -> str:
        """One line for a user: what we detected."""
        dec = "decimal comma" if self.decimal == "," else "decimal point"
        shape = f"{self.n_rows:,} rows × {self.n_columns} columns"
        if self.format == "excel":
            return (f"Excel sheet {self.sheet!r}, {shape}; row numbers are the sheet's "
                    f"(the header is row {self.header_row})")
        if self.format == "parquet":
            return f"Parquet, {shape}"
        names = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
        return f"{shape}, {names.get(self.delimiter, self.delimiter)}-separated, {dec}, {self.encoding}"


@dataclass
class Table:
    """A file read as a frame.

    ``frame`` holds the cells under the header's names (cleaned and made
    unique): text columns as strings (or missing), and for Parquet number
    columns as ``float64``/``int64``; ``rows`` holds each frame row's number as
    a user finds it (see the module text: data-row numbers, or the sheet's row
    numbers for Excel), which is what every message quotes; ``problems`` lists
    rows that could not be read at all.
    """

    frame: pd.DataFrame
    rows: np.ndarray
    info: ReadInfo
    problems: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------------
# sources and detection
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Source:
    """A path (read lazily) or bytes already in memory."""

    path: Path | None
    data: bytes | None
    size: int

    def open(self) -> IO[bytes]:
        """A fresh binary stream over the whole file."""
        return self.path.open("rb") if self.path is not None else io.BytesIO(self.data or b"")

    def head(self, n: int = _HEAD_BYTES) -> bytes:
        """The first ``n`` bytes."""
        if self.data is not None:
            return self.data[:n]
        with self.open() as f:
            return f.read(n)

    def blocks(self, size: int = _SCAN_BYTES) -> Iterator[bytes]:
        """The bytes in blocks (one block when they are in memory already)."""
        if self.data is not None:
            yield self.data
            return
        with self.open() as f:
            while block := f.read(size):
                yield block

    def read(self) -> bytes:
        """Every byte."""
        if self.data is not None:
            return self.data
        assert self.path is not None  # noqa: S101 - a _Source holds one or the other
        return self.path.read_bytes()


def _source(source: Source, max_bytes: int | None) -> _Source:
    """Resolve what the caller gave, checking that it exists and is not over the size limit."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DataFileError(f"no such file: {str(path)!r}. Check the path and try again.")
        if path.is_dir():
            raise DataFileError(f"{str(path)!r} is a folder, not a data file.")
        src = _Source(path, None, path.stat().st_size)
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            raw = source.read()
            data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        src = _Source(None, data, len(data))
    if max_bytes is not None and src.size > max_bytes:
        raise DataFileError(f"the file is {src.size / 1e6:,.1f} MB; the limit is {max_bytes / 1e6:,.0f} MB. "
                            "Split it into smaller files.")
    return src


def _decode(data: bytes) -> tuple[str, str, list[str]]:
    notes: list[str] = []
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8", errors="strict"), "UTF-8 with BOM", notes
        except UnicodeDecodeError as err:
            notes.append(f"the file starts with a UTF-8 byte-order mark but is not UTF-8 (byte {err.start + 3}); "
                         "it was read as Windows-1252/Latin-1")
            data = data[3:]
            try:
                return data.decode("cp1252"), "Windows-1252", notes
            except UnicodeDecodeError:
                return data.decode("latin-1"), "Latin-1", notes
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "UTF-16", notes
    try:
        return data.decode("utf-8"), "UTF-8", notes
    except UnicodeDecodeError as err:
        notes.append(f"the file is not UTF-8 (byte {err.start}); it was read as Windows-1252/Latin-1")
    try:
        return data.decode("cp1252"), "Windows-1252", notes
    except UnicodeDecodeError:
        return data.decode("latin-1"), "Latin-1", notes


_NOT_BLANK = re.compile(rb"[^ \t\r\n\xef\xbb\xbf]")


def _blank(data: bytes) -> bool:
    """True when the bytes hold nothing but spaces, line breaks and byte-order marks (without copying them)."""
    return _NOT_BLANK.search(data) is None


def _check_binary(head: bytes) -> None:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            if "old Excel" in what:
                hint = " Save it as .xlsx or CSV (in Excel: File → Save As → Excel Workbook) and try again."
            elif "Excel" in what:
                hint = " Save it as CSV (in Excel: File → Save As → CSV UTF-8) and try again."
            else:
                hint = ""
            raise DataFileError(f"this file is not a CSV: it looks like {what}.{hint}")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        # a stray NUL in one cell of a text file is that row's problem; a binary file has no line breaks in its
        # first block, or NUL bytes all over it
        lines = b"\n" in head or b"\r" in head
        if not lines or head.count(b"\x00") > len(head) // 100 + 1:
            raise DataFileError("this file is not a CSV: it contains binary data. "
                                "Export the table as CSV and try again.")


def _is_workbook(src: _Source) -> bool:
    """A ZIP that holds a spreadsheet workbook (xlsx, xlsm, xlsb or OpenDocument)."""
    try:
        with src.open() as f, zipfile.ZipFile(f) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return bool({"xl/workbook.xml", "xl/workbook.bin"} & names) or ("content.xml" in names and "mimetype" in names)


def _format_of(src: _Source) -> FileFormat:
    head = src.head(8192)
    if _blank(head) and (src.size <= len(head) or all(_blank(b) for b in src.blocks())):
        raise DataFileError("the file is empty: it has no header and no rows. "
                            "Export the table again with a header row.")
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04") and _is_workbook(src):
        return "excel"
    _check_binary(head)
    return "csv"


def _utf8_ok(buf: bytes | memoryview) -> bool:
    """Whether the bytes are valid UTF-8 (checked by Arrow, without decoding them into a Python string)."""
    offsets = pa.py_buffer(np.array([0, len(buf)], dtype=np.int64))
    arr = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(buf)])
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _sniff_delimiter(sample: str) -> str:
    lines = sample.splitlines()[:60]
    if not lines:
        return ","
    best, best_score = ",", (-1.0, 0)
    text = "\n".join(lines)
    for d in _DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(text), delimiter=d) if r]
        except csv.Error:
            continue
        if not counts:
            continue
        # the last sampled line may be cut in the middle
        body = counts[:-1] if len(counts) > 2 else counts
        modal = max(set(body), key=body.count)
        if modal < 2:
            continue
        score = (body.count(modal) / len(body), modal)
        if score > best_score:
            best, best_score = d, score
    return best


_DEC_COMMA = re.compile(r"^\s*[-+]?\d{1,3}(?:\.\d{3})*,\d+\s*$|^\s*[-+]?\d+,\d+\s*$")
_DEC_POINT = re.compile(r"^\s*[-+]?\d*\.\d+(?:[eE][-+]?\d+)?\s*$")


def _sniff_decimal(frame: pd.DataFrame, delimiter: str) -> str:
    if delimiter == ",":
        return "."
    sample = frame.head(_DECIMAL_SAMPLE)
    comma = point = 0
    for col in sample.columns:
        vals = sample[col].dropna().astype(str)
        comma += int(vals.str.match(_DEC_COMMA).sum())
        point += int(vals.str.match(_DEC_POINT).sum())
    return "," if comma > point else "."


# ---------------------------------------------------------------------------
# the pieces every format shares
# ---------------------------------------------------------------------------

@dataclass
class _Part:
    """Rows read so far, still in Arrow: cleaned cells, their row numbers, the rows that could not be read."""

    table: pa.Table
    rows: np.ndarray
    problems: list[Problem]


def _unique_header(raw: Sequence[str]) -> tuple[list[str], list[str]]:
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


def _finish(table: pa.Table, names: list[str], rows: np.ndarray, *, tokens: bool, nul: bool) -> _Part:
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
    return _Part(out, rows, problems)


def _text_table(columns: list[list[str | None]]) -> pa.Table:
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


class _NeedsExact(Exception):
    """The fast reader met a row it cannot parse: the exact reader takes over."""


@dataclass
class _CsvPlan:
    """What one pass over the bytes decided: encoding, delimiter and whether the fast reader may be used."""

    encoding: str
    delimiter: str
    fast: bool
    nul: bool
    raw_header: list[str]


def _plan_csv(src: _Source) -> _CsvPlan:
    head = src.head()
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _CsvPlan("UTF-16", ",", False, True, [])
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
            utf8, carry = _utf8_ok(memoryview(buf)[:cut]), buf[cut:]
    utf8 = utf8 and _utf8_ok(carry)
    encoding = "UTF-8 with BOM" if bom else "UTF-8"
    delimiter = _sniff_delimiter(head[3 if bom else 0:].decode("utf-8", errors="replace"))
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
    return _CsvPlan(encoding, delimiter, fast, nul, raw_header)


def _csv_exact_part(src: _Source, plan: _CsvPlan) -> tuple[_Part, str, str, list[str]]:
    """The whole file through Python's csv module; also the encoding, delimiter and notes it was read with."""
    text, encoding, notes = _decode(src.read())
    delimiter = plan.delimiter if plan.fast else _sniff_delimiter(text[:_HEAD_BYTES])
    header_raw, rows, nums, problems = _exact_read(text, delimiter)
    if not header_raw:
        raise DataFileError("the file has no header row.")
    names, header_notes = _unique_header([str(c) for c in header_raw])
    columns = [[r[j] for r in rows] for j in range(len(names))]
    part = _finish(_text_table(columns), names, np.asarray(nums, dtype=np.int64), tokens=True, nul="\x00" in text)
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


def _excel_part(src: _Source, sheet: str | None) -> tuple[_Part, str, int, list[str]]:
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
    names, notes = _unique_header(header_raw)
    body = [i for i in filled if i > top]
    columns = [[texts[i][j] if j < len(texts[i]) else None for i in body] for j in range(left, width)]
    rows = np.asarray([i + 1 for i in body], dtype=np.int64)
    part = _finish(_text_table(columns), names, rows, tokens=True, nul=True)
    return part, name, top + 1, notes


# ---------------------------------------------------------------------------
# Parquet
# ---------------------------------------------------------------------------

def _parquet_file(src: _Source) -> Any:
    import pyarrow.parquet as pq

    try:
        # without pre-buffering: with it, reading a file batch by batch held more memory the longer the file
        # (0.47 GB for 5,000,000 rows against 0.27 GB without, the same batches)
        return pq.ParquetFile(str(src.path) if src.path is not None else pa.BufferReader(src.data or b""),
                              pre_buffer=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as err:
        raise DataFileError(f"this Parquet file could not be read ({err}); export it again and try again.") from err


def _parquet_types(pf: Any) -> list[pa.DataType]:
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


def _parquet_column(arr: pa.ChunkedArray, target: pa.DataType, name: str) -> pa.ChunkedArray:
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


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------

class TableReader:
    """A data file read in chunks of rows; iterate it for :class:`Table` chunks.

    ``info`` (format, encoding, delimiter and decimal mark, the number of
    columns) is decided when the reader is opened, on the first block of the
    file; ``n_rows`` is 0 for a streamed CSV until the file has been read to
    the end once. ``columns`` is the cleaned, de-duplicated header, the same
    names :func:`read_table` gives. Each chunk's frame has the dtypes
    :func:`read_table` gives, ``rows`` the file's row numbers of its rows and
    ``problems`` the unreadable rows among them; the chunks put together are
    :func:`read_table`'s result. Iterating again reads the file again. Use it
    as a context manager, or call :meth:`close`.
    """

    def __init__(self, src: _Source, fmt: FileFormat, *, sheet: str | None, chunk_rows: int,
                 block_bytes: int = _BLOCK_BYTES):
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows!r}")
        self._src, self._format, self._chunk_rows, self._block_bytes = src, fmt, chunk_rows, block_bytes
        self._whole: _Part | None = None
        self._plan: _CsvPlan | None = None
        self._parquet: Any = None
        self._types: list[pa.DataType] = []
        self._pending: Iterator[_Part] | None = None
        self._closed = False
        notes: list[str] = []
        encoding = delimiter = ""
        sheet_name: str | None = None
        header_row = 0
        n_rows = 0
        if fmt == "excel":
            self._whole, sheet_name, header_row, notes = _excel_part(src, sheet)
            self.columns = list(self._whole.table.column_names)
            n_rows = self._whole.table.num_rows
        elif fmt == "parquet":
            self._parquet = _parquet_file(src)
            self._types = _parquet_types(self._parquet)
            self.columns, notes = _unique_header([str(n) for n in self._parquet.schema_arrow.names])
            n_rows = int(self._parquet.metadata.num_rows)
        else:
            self._plan = _plan_csv(src)
            encoding, delimiter = self._plan.encoding, self._plan.delimiter
            if self._plan.fast:
                self.columns, notes = _unique_header(self._plan.raw_header)
            else:
                self._whole, encoding, delimiter, notes = _csv_exact_part(src, self._plan)
                self.columns = list(self._whole.table.column_names)
                n_rows = self._whole.table.num_rows
        if sheet is not None and fmt != "excel":
            notes.append(f"the file is not an Excel workbook, so the sheet name {sheet!r} was not used")
        # the decimal mark is judged on the first rows; those parts are kept for the first pass
        first = self._parts(None)
        head: list[_Part] = []
        n_head = 0
        for part in first:
            head.append(part)
            n_head += part.table.num_rows
            if n_head >= _DECIMAL_SAMPLE:
                break
        else:
            if self._whole is None:
                n_rows = n_head
        if n_head == 0 and not any(p.problems for p in head):
            raise DataFileError("the file has a header but no data rows. Add at least one row below the header.")
        self._pending = _chain(head, first)
        sample = pa.concat_tables([p.table for p in head]).slice(0, _DECIMAL_SAMPLE).to_pandas()
        decimal = _sniff_decimal(sample, delimiter if fmt == "csv" else "")
        self.info = ReadInfo(encoding=encoding, delimiter=delimiter, decimal=decimal, n_rows=n_rows,
                             n_columns=len(self.columns), notes=tuple(notes), format=fmt, sheet=sheet_name,
                             header_row=header_row if fmt == "excel" else 0)

    # -- parts: the file's rows in the order they come, as Arrow -------------------------------------------------

    def _parts(self, select: list[int] | None) -> Iterator[_Part]:
        if self._closed:
            raise ValueError("this TableReader is closed; open the file again with open_table()")
        if self._whole is not None:
            yield _select(self._whole, select)
        elif self._format == "parquet":
            yield from self._parquet_parts(select)
        else:
            yield from self._csv_parts(select)

    def _parquet_parts(self, select: list[int] | None) -> Iterator[_Part]:
        idx = list(range(len(self.columns))) if select is None else select
        raw_names = self._parquet.schema_arrow.names
        # columns are picked by name when names are unique (then only those are read), else by position
        unique = len(set(raw_names)) == len(raw_names)
        wanted = [raw_names[j] for j in idx] if unique else None
        pos = list(range(len(idx))) if unique else idx
        done = 0
        for batch in self._parquet.iter_batches(batch_size=min(self._chunk_rows, 1 << 20), columns=wanted):
            cols = [_parquet_column(pa.chunked_array([batch.column(k)]), self._types[j], raw_names[j])
                    for k, j in zip(pos, idx)]
            table = pa.Table.from_arrays(cols, names=[self.columns[j] for j in idx])
            rows = np.arange(done + 1, done + batch.num_rows + 1, dtype=np.int64)
            done += batch.num_rows
            yield _finish(table, table.column_names, rows, tokens=True, nul=True)

    def _csv_parts(self, select: list[int] | None) -> Iterator[_Part]:
        plan = self._plan
        assert plan is not None  # noqa: S101 - only CSV comes here
        names = self.columns if select is None else [self.columns[j] for j in select]
        # a NUL byte is looked for in every cell of a row, so a projection reads all columns then
        project = select is not None and not plan.nul
        raw = plan.raw_header
        include = [raw[j] for j in select] if project and select is not None else raw
        bad: list[Any] = []

        def on_invalid(row: Any) -> str:
            bad.append(row)
            return "skip"

        done = 0
        try:
            # a path or a buffer, not a Python file object: Arrow then reads natively, without a Python copy per block
            stream = pacsv.open_csv(
                str(self._src.path) if self._src.path is not None else pa.BufferReader(self._src.data or b""),
                read_options=pacsv.ReadOptions(block_size=self._block_bytes),
                parse_options=pacsv.ParseOptions(delimiter=plan.delimiter, newlines_in_values=True,
                                                 invalid_row_handler=on_invalid),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.large_string() for n in raw},
                    include_columns=include,
                    null_values=list(NULL_TOKENS),
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            try:
                for batch in stream:
                    if bad:
                        raise _NeedsExact
                    table = pa.Table.from_batches([batch])
                    rows = np.arange(done + 1, done + batch.num_rows + 1, dtype=np.int64)
                    part = _finish(table, self.columns if not project else names, rows, tokens=False, nul=plan.nul)
                    done += batch.num_rows
                    yield _select(part, None if project else select)
                if bad:
                    raise _NeedsExact
            finally:
                stream.close()
        except (_NeedsExact, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # the rows handed out so far were read cleanly and are numbered as the exact reader numbers them
            whole, *_ = _csv_exact_part(self._src, plan)
            keep = whole.rows > done
            yield _select(_Part(whole.table.filter(pa.array(keep)), whole.rows[keep],
                                [p for p in whole.problems if p.row is None or p.row > done]), select)

    # -- public ------------------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Table]:
        """Chunks of at most ``chunk_rows`` rows, in file order."""
        parts = self._pending if self._pending is not None else self._parts(None)
        self._pending = None
        n = 0
        for chunk in _rechunk(parts, self._chunk_rows):
            n += len(chunk.rows)
            yield self._table(chunk)
        if self.info.n_rows != n:
            self.info = replace(self.info, n_rows=n)

    def read_columns(self, names: list[str]) -> Table:
        """Only these columns, for the whole file (a cheap first pass over ids and years).

        Parameters
        ----------
        names : column names as :attr:`columns` gives them.

        Returns
        -------
        Table
            The same rows, row numbers and problems as reading every column.

        Raises
        ------
        DataFileError
            When a name is not a column of the file.
        """
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise DataFileError(f"the file has no column {', '.join(map(repr, missing))}; its columns are "
                                f"{', '.join(map(repr, self.columns))}. Choose among them.")
        select = [self.columns.index(n) for n in names]
        return self._table(_concat(list(self._parts(select)), [self.columns[j] for j in select]))

    def close(self) -> None:
        """Let go of the rows held in memory; the reader cannot be used afterwards."""
        self._pending = None
        self._whole = None
        self._closed = True

    def __enter__(self) -> TableReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _table(self, part: _Part) -> Table:
        return Table(frame=part.table.to_pandas(), rows=part.rows, info=self.info, problems=part.problems)

    def _read_all(self) -> Table:
        """Everything at once (what :func:`read_table` returns)."""
        parts = list(self._pending if self._pending is not None else self._parts(None))
        self._pending = None
        part = _concat(parts, self.columns)
        self.info = replace(self.info, n_rows=part.table.num_rows)
        return self._table(part)


def _chain(head: list[_Part], rest: Iterator[_Part]) -> Iterator[_Part]:
    yield from head
    yield from rest


def _select(part: _Part, select: list[int] | None) -> _Part:
    if select is None:
        return part
    return _Part(part.table.select(select), part.rows, part.problems)


def _concat(parts: list[_Part], names: list[str]) -> _Part:
    if not parts:
        return _Part(pa.table({n: pa.array([], type=pa.large_string()) for n in names}),
                     np.zeros(0, dtype=np.int64), [])
    return _Part(pa.concat_tables([p.table for p in parts]),
                 np.concatenate([p.rows for p in parts]), [q for p in parts for q in p.problems])


def _rechunk(parts: Iterator[_Part], size: int) -> Iterator[_Part]:
    """Parts cut into chunks of ``size`` rows; each problem goes with the chunk its row falls in.

    A problem's row lies after the previous chunk's last row and up to this
    chunk's last row. Problems after the last readable row come in one more
    chunk without rows (so no chunk is held back to wait for them, which
    would keep two chunks in memory), and so does every problem of a file
    with no readable row.
    """
    tables: list[pa.Table] = []
    rows: list[np.ndarray] = []
    problems: list[Problem] = []
    n = 0
    schema: pa.Schema | None = None

    def cut(k: int) -> _Part:
        nonlocal tables, rows, n
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        allrows = np.concatenate(rows) if len(rows) > 1 else rows[0]
        out = _Part(table.slice(0, k), allrows[:k], [])
        tables, rows, n = ([table.slice(k)], [allrows[k:]], n - k) if k < len(allrows) else ([], [], 0)
        last = int(out.rows[-1])
        out.problems = [p for p in problems if p.row is None or p.row <= last]
        problems[:] = [p for p in problems if not (p.row is None or p.row <= last)]
        return out

    for part in parts:
        schema = part.table.schema
        problems.extend(part.problems)
        if part.table.num_rows:
            tables.append(part.table)
            rows.append(part.rows)
            n += part.table.num_rows
        while n >= size:
            yield cut(size)
    if n:
        yield cut(n)
    if problems and schema is not None:
        yield _Part(schema.empty_table(), np.zeros(0, dtype=np.int64), problems)


def open_table(source: Source, *, max_bytes: int | None = None, sheet: str | None = None,
               chunk_rows: int = 100_000) -> TableReader:
    r"""Open a CSV, Excel or Parquet file to read it in chunks of rows.

    A CSV path is streamed by pyarrow a few megabytes at a time and a Parquet
    file a row group at a time, so memory stays near one chunk's worth however
    large the file; an Excel sheet, and a CSV that needs the exact reader (see
    the module text), is read whole and handed out in slices.

    Parameters
    ----------
    source : a path, the file's bytes, or a binary file object (read whole).
    max_bytes : refuse files larger than this.
    sheet : for an Excel workbook, the sheet to read (the first when omitted).
    chunk_rows : rows per chunk (the last chunk may have fewer).

    Returns
    -------
    TableReader
        Iterable of :class:`Table` chunks; ``info`` and ``columns`` are known at once.

    Raises
    ------
    DataFileError
        As :func:`read_table`.

    Examples
    --------
    >>> with open_table(b"id,x\n1,2\n3,4\n", chunk_rows=1) as reader:
    ...     [chunk.rows.tolist() for chunk in reader]
    [[1], [2]]
    """
    src = _source(source, max_bytes)
    return TableReader(src, _format_of(src), sheet=sheet, chunk_rows=chunk_rows)


def read_table(source: Source, *, max_bytes: int | None = None, sheet: str | None = None) -> Table:
    """Read a CSV, Excel or Parquet file, detecting its format, encoding, delimiter and decimal mark.

    Parameters
    ----------
    source : a path, the file's bytes, or a binary file object.
    max_bytes : refuse files larger than this.
    sheet : for an Excel workbook, the sheet to read (the first when omitted).

    Returns
    -------
    Table
        Every cell of a CSV or Excel file as text (missing markers, see
        :data:`NULL_TOKENS`, become missing; Parquet number columns stay
        numbers), the row number of each row, the rows that could not be read.

    Raises
    ------
    DataFileError
        When the file is empty, binary, has no header or no data rows, or the sheet named is not in the workbook.
    """
    src = _source(source, max_bytes)
    reader = TableReader(src, _format_of(src), sheet=sheet, chunk_rows=1 << 62, block_bytes=_WHOLE_BLOCK_BYTES)
    return reader._read_all()


# ---------------------------------------------------------------------------
# columns and numbers
# ---------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\W_]+")
_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=8192)
def _normalised(name: str) -> str:
    folded = name.strip().lstrip("\ufeff").casefold()
    # a name of punctuation only (``%``, ``#``) keeps its characters so that it does not match every other such name
    return _SEPARATORS.sub("", folded) or _SPACES.sub(" ", folded)


def normalise_name(name: str) -> str:
    """Column-name key for tolerant matching: case-folded, without spaces, underscores or punctuation.

    ``COMPANY ID``, ``Company_Id`` and ``company-id`` all give ``companyid``.
    Letters and digits of every script are kept. Names repeat (every record of
    an API call has the same keys), so results are cached.
    """
    return _normalised(str(name))


def match_columns(columns: list[str], wanted: list[str],
                  aliases: Mapping[str, Sequence[str]] | None = None) -> tuple[dict[str, str], list[str]]:
    """Map each wanted name to a column of the file, ignoring case, spaces, underscores and punctuation.

    Parameters
    ----------
    columns : the file's column names.
    wanted : the names looked for (the spec's).
    aliases : other names accepted for a wanted name, such as a feature's
        plain-language label (``{"current_ratio": ["Current ratio"]}``).

    Returns
    -------
    (mapping, notes)
        ``mapping`` is wanted name → file column for the names found; ``notes``
        tell of names that matched more than one column (the first is used).

    Notes
    -----
    A column that is exactly a wanted name goes to that name first; then
    names are matched by :func:`normalise_name`; aliases come last and only
    claim columns no wanted name took. An alias that reads as another wanted
    name (normalised) is ignored, so a label never takes another feature's
    column. A column renamed ``x.1`` because ``x`` appeared twice counts as a
    copy of ``x``.
    """
    wanted_set = set(wanted)
    by_key: dict[str, list[str]] = {}
    for c in columns:
        base = re.sub(r"\.\d+$", "", c) if c not in wanted_set else c
        by_key.setdefault(normalise_name(base), []).append(c)
    present = set(columns)
    mapping: dict[str, str] = {}
    notes: list[str] = []
    exact = {w for w in wanted if w in present}
    taken = set(exact)
    for w in wanted:
        hits = [c for c in by_key.get(normalise_name(w), []) if c == w or c not in exact]
        if w in exact:
            hits = [w] + [c for c in hits if c != w]
        else:
            hits = [c for c in hits if c not in taken]
        if not hits:
            continue
        mapping[w] = hits[0]
        taken.add(hits[0])
        if len(hits) > 1:
            notes.append(f"column {w!r} appears {len(hits)} times ({', '.join(map(repr, hits))}); "
                         f"the first was used — remove the others")
    if aliases:
        own = {normalise_name(w) for w in wanted}
        for w in wanted:
            if w in mapping:
                continue
            # a label that reads as a wanted name (normalised) would take that name's column: it is not used
            names = [a for a in aliases.get(w, ()) if a and normalise_name(a) not in own]
            hit = next((a for a in names if a in present and a not in taken), None)
            for a in names if hit is None else ():
                hit = next((c for c in by_key.get(normalise_name(a), []) if c not in taken), None)
                if hit is not None:
                    break
            if hit is not None:
                mapping[w] = hit
                taken.add(hit)
    return {w: mapping[w] for w in wanted if w in mapping}, notes


def text_array(values: pd.Series) -> pa.ChunkedArray:
    """A text column as an Arrow string array (no Python object per cell when it is already Arrow-backed).

    Cells that are not strings (numbers in an object column) become their ``str()``.
    """
    arr = values.array
    if isinstance(arr, pd.arrays.ArrowStringArray) or (
            isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        return pa.chunked_array(pa.array(arr))
    obj = values.to_numpy(dtype=object, na_value=None)
    try:
        return pa.chunked_array([pa.array(obj, type=pa.large_string(), from_pandas=True)])
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        fixed = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in obj]
        return pa.chunked_array([pa.array(fixed, type=pa.large_string())])


def __getattr__(name: str) -> Any:
    # parse_numbers moved to riskcore.data.parsing, which imports text_array from here: resolving it on first use
    # (rather than importing at the top) works whichever of the two modules is imported first
    if name == "parse_numbers":
        from riskcore.data.parsing import parse_numbers

        return parse_numbers
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------

def neutralise_formulas(values: pd.Series) -> pd.Series:
    """Prefix text cells that a spreadsheet would run as a formula with ``'``.

    A cell starting with ``=``, ``+``, ``-``, ``@``, tab, carriage return or NUL
    is written as ``'=…`` (OWASP's advice for CSV injection). Numbers are not text
    and stay untouched, and neither is a text cell holding a plain number such as
    ``-5`` or ``+1,5``. Text columns are checked with pyarrow, without a Python
    call per cell; an object column mixing text and other values takes a slower
    path for its text cells only. Returns a Series of the same dtype.
    """
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return values
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        fixed = _neutralise_arrow(text_array(values))
        if values.dtype == object:
            return pd.Series(fixed.to_numpy(zero_copy_only=False), index=values.index, name=values.name, dtype=object)
        return pd.Series(fixed.to_pandas(), index=values.index, name=values.name).astype(values.dtype)
    s = values.astype(object).copy()
    is_text = np.fromiter((isinstance(v, str) for v in s.to_numpy()), dtype=bool, count=len(s))
    if is_text.any():
        fixed_text = _neutralise_arrow(text_array(s[is_text])).to_numpy(zero_copy_only=False)
        s[is_text] = fixed_text
    return s


_RISKY_FIRST_BYTES = pa.array([c.encode() for c in _FORMULA_START], type=pa.large_binary())
_PLAIN_NUMBER = r"^[-+]?[0-9]+(?:[.,][0-9]+)?(?:[eE][-+]?[0-9]+)?$"


def _neutralise_arrow(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """The formula check on an Arrow string array (see :func:`neutralise_formulas`)."""
    # the first byte decides (every risky character is ASCII, so one byte in UTF-8)
    first = pc.binary_slice(text.cast(pa.large_binary()), 0, 1)
    risky = pc.fill_null(pc.is_in(first, value_set=_RISKY_FIRST_BYTES), False)
    if not pc.any(risky).as_py():
        return text
    # negative numbers written as text are common and harmless: look closer only at the risky cells
    if pc.all(pc.match_substring_regex(pc.filter(text, risky), _PLAIN_NUMBER)).as_py():
        return text
    fix = pc.and_(risky, pc.invert(pc.match_substring_regex(text, _PLAIN_NUMBER)))
    prefixed = pc.binary_join_element_wise(pa.scalar("'", text.type), text, pa.scalar("", text.type))
    return pc.if_else(fix, prefixed, text)


def map_columns(fn: Callable[[Any], Any], columns: list[Any]) -> list[Any]:
    """``[fn(c) for c in columns]``, on a few threads when there are several columns.

    For work that Arrow or NumPy do without holding the GIL (parsing numbers,
    checking text for formulas), one thread per core gets that many columns done
    at once; results keep the input order, and an exception is raised as is.
    """
    workers = min(len(columns), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(c) for c in columns]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, columns))


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str] | IO[bytes]) -> None:
    """Write a frame as UTF-8 CSV with formula injection neutralised in text cells and headers.

    Text columns stay in Arrow from end to end and go through pyarrow's writer,
    which is several times faster than ``DataFrame.to_csv``. Missing values are
    written as empty cells; numbers as numbers.
    """
    names = neutralise_formulas(pd.Series([str(c) for c in frame.columns], dtype=object)).tolist()
    arrays = map_columns(_csv_column, [frame.iloc[:, j] for j in range(frame.shape[1])])
    table = pa.Table.from_arrays(arrays, names=names) if arrays else pa.table({})
    if isinstance(path, (str, os.PathLike)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="needed"))


def _csv_column(s: pd.Series) -> pa.Array | pa.ChunkedArray:
    """One column as Arrow for the CSV writer: text neutralised, anything else as pyarrow converts it."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object).where(s.notna(), None)
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        if s.dtype != object or pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
            return _neutralise_arrow(text_array(s))
        # mixed objects (a reject report's values): text neutralised, the rest written as str(value)
        fixed = neutralise_formulas(s)
        cells = [None if v is None or (isinstance(v, float) and v != v) or v is pd.NA else str(v)
                 for v in fixed.to_numpy()]
        return pa.array(cells, type=pa.large_string())
    return pa.Table.from_pandas(s.to_frame(name="c"), preserve_index=False).column(0)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str] | IO[bytes]) -> None:
    """Write a frame as a Parquet file (snappy-compressed), types kept, text written as it is.

    Parquet files are not opened by spreadsheets as formulas, so text is not
    neutralised (unlike :func:`write_csv`). A text column that also holds other
    values (numbers in an object column) is written as text.
    """
    import pyarrow.parquet as pq

    table = _arrow_frame(frame)
    if isinstance(path, (str, os.PathLike)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="snappy")


def _arrow_frame(frame: pd.DataFrame) -> pa.Table:
    """A frame as an Arrow table for Parquet: each column as pyarrow converts it, mixed objects as text."""
    arrays = [_parquet_array(frame.iloc[:, j]) for j in range(frame.shape[1])]
    return pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns]) if arrays else pa.table({})


def _parquet_array(s: pd.Series) -> pa.Array | pa.ChunkedArray:
    try:
        return pa.Table.from_pandas(s.to_frame(name="c"), preserve_index=False).column(0)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        cells = [None if v is None or (isinstance(v, float) and v != v) or v is pd.NA else str(v)
                 for v in s.to_numpy()]
        return pa.array(cells, type=pa.large_string())


TableFormat = Literal["csv", "parquet"]


class TableWriter:
    """Writes a table chunk by chunk to a temporary file next to the target; :meth:`commit` gives it its name.

    Until :meth:`commit`, the rows go to a hidden temporary file in the
    target's folder, so a reader of the final name never sees a partial file;
    :meth:`abort` (or an exception inside a ``with`` block, or :meth:`close`
    without a commit) deletes it. Leaving a ``with`` block normally commits.

    Every chunk must have the same columns. Their types are those of the first
    chunk (or of ``schema``): a later chunk is cast to them, so a text column
    that is all missing in one chunk, or whole numbers in a float column, are
    fine. A column all missing in the first chunk is taken as text. CSV text
    cells and headers are neutralised as in :func:`write_csv`.
    """

    def __init__(self, path: str | os.PathLike[str], format: TableFormat = "csv", *,  # noqa: A002 - the user's word
                 schema: pa.Schema | None = None):
        if format not in ("csv", "parquet"):
            raise ValueError(f"format must be 'csv' or 'parquet', not {format!r}")
        self.path = Path(path)
        self.format = format
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:12]}.tmp")
        self._schema = schema
        self._columns: list[str] | None = None
        self._writer: Any = None
        self._sink: IO[bytes] | None = self._tmp.open("wb")
        self._done = False
        self.n_rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk (the same columns as the first one, in the same order)."""
        if self._done:
            raise ValueError("this TableWriter is finished; open a new one with write_table()")
        columns = [str(c) for c in frame.columns]
        if self._columns is None:
            self._columns = columns
        elif columns != self._columns:
            raise ValueError(f"every chunk must have the columns {self._columns!r}; this one has {columns!r}")
        if self.format == "csv":
            arrays = map_columns(_csv_column, [frame.iloc[:, j] for j in range(frame.shape[1])])
            names = neutralise_formulas(pd.Series(columns, dtype=object)).tolist()
            table = pa.Table.from_arrays(arrays, names=names) if arrays else pa.table({})
        else:
            table = _arrow_frame(frame)
        if self._schema is None:
            self._schema = pa.schema([f.with_type(pa.large_string()) if pa.types.is_null(f.type) else f
                                      for f in table.schema])
        elif self.format == "csv" and self._writer is None:
            self._schema = pa.schema([f.with_name(n) for f, n in zip(self._schema, table.schema.names)])
        table = self._cast(table)
        if self._writer is None:
            if self.format == "csv":
                self._writer = pacsv.CSVWriter(self._sink, self._schema,
                                               write_options=pacsv.WriteOptions(quoting_style="needed"))
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self._sink, self._schema, compression="snappy")
        self._writer.write_table(table)
        self.n_rows += table.num_rows

    def _cast(self, table: pa.Table) -> pa.Table:
        assert self._schema is not None  # noqa: S101 - set by the first write
        if table.schema.equals(self._schema):
            return table
        columns = []
        for col, want in zip(table.columns, self._schema):
            if col.type == want.type:
                columns.append(col)
                continue
            try:
                columns.append(col.cast(want.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise ValueError(f"column {want.name!r} was {want.type} in the first chunk but is {col.type} here "
                                 f"and cannot be converted ({err}); pass schema= to write_table") from err
        return pa.Table.from_arrays(columns, schema=self._schema)

    def commit(self) -> None:
        """Finish the file and give it its final name (replacing a file of that name)."""
        if self._done:
            return
        try:
            if self._writer is None and self._columns is None:
                self._schema = self._schema or pa.schema([])
            if self._writer is not None:
                self._writer.close()
            elif self.format == "parquet" and self._schema is not None and len(self._schema):
                import pyarrow.parquet as pq

                pq.ParquetWriter(self._sink, self._schema, compression="snappy").close()
            if self._sink is not None:
                self._sink.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._done = True

    def abort(self) -> None:
        """Throw the partial file away; the final name is left as it was."""
        self._done = True
        try:
            if self._writer is not None:
                self._writer.close()
        except (OSError, pa.ArrowException):
            pass  # the file is deleted anyway
        if self._sink is not None and not self._sink.closed:
            self._sink.close()
        self._tmp.unlink(missing_ok=True)

    def close(self) -> None:
        """End the writer: a writer that was not committed leaves nothing behind."""
        if not self._done:
            self.abort()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write_table(path: str | os.PathLike[str], format: TableFormat = "csv", *,  # noqa: A002 - the user's word
                schema: pa.Schema | None = None) -> TableWriter:
    """Open a writer that writes a CSV or Parquet file chunk by chunk, giving it its name only at the end.

    Parameters
    ----------
    path : the final file name.
    format : ``"csv"`` (formula injection neutralised, as :func:`write_csv`) or ``"parquet"`` (snappy).
    schema : the columns' Arrow types; by default those of the first chunk.

    Returns
    -------
    TableWriter
        Use it as a context manager: a normal exit commits, an exception deletes the partial file.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "scores.csv"
    >>> with write_table(out) as writer:
    ...     writer.write(pd.DataFrame({"id": ["a"], "p_default": [0.1]}))
    ...     writer.write(pd.DataFrame({"id": ["b"], "p_default": [0.2]}))
    >>> out.read_text().splitlines()
    ['"id","p_default"', '"a",0.1', '"b",0.2']
    """
    return TableWriter(path, format, schema=schema)
