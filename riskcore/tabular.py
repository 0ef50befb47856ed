"""Reading and writing the CSV files users bring, tolerantly and safely.

:func:`read_table` accepts what spreadsheets and core-banking exports produce:
comma, semicolon, tab or pipe delimiters; decimal commas; UTF-8 with or without
a byte-order mark, UTF-16 with one, or Windows-1252/Latin-1; quoted fields with
delimiters and newlines inside. Every cell is read as text first, so ids such as
``007`` keep their zeros; :func:`parse_numbers` then turns a column into numbers
and says which cells were not numbers. Rows that cannot be parsed (too many or
too few fields, a quote never closed) are reported by row number while the rest
of the file is kept.

The fast path is pyarrow's multithreaded reader; a file it cannot parse cleanly
is read again with Python's ``csv`` module so every problem gets an exact row.

:func:`write_csv` neutralises spreadsheet formula injection in text cells.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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
    "map_columns",
    "match_columns",
    "neutralise_formulas",
    "normalise_name",
    "parse_numbers",
    "read_table",
    "text_array",
    "write_csv",
]

NULL_TOKENS: tuple[str, ...] = ("", "NA", "N/A", "n/a", "na", "NaN", "nan", "NAN", "null", "NULL", "Null",
                                "None", "none", "#N/A", "-", "?")
_DELIMITERS = (",", ";", "\t", "|")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3", "an SQLite database"),
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")
_MAX_FIELD_CHARS = 1_000_000


@dataclass(frozen=True)
class ReadInfo:
    """How a file was read: its encoding, delimiter and decimal mark."""

    encoding: str
    delimiter: str
    decimal: str
    n_rows: int
    n_columns: int
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for a user: what we detected."""
        names = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
        dec = "decimal comma" if self.decimal == "," else "decimal point"
        return (f"{self.n_rows:,} rows × {self.n_columns} columns, {names.get(self.delimiter, self.delimiter)}-"
                f"separated, {dec}, {self.encoding}")


@dataclass
class Table:
    """A file read as text.

    ``frame`` holds every cell as a string (or missing) under the header's
    names, stripped of surrounding spaces; ``rows`` holds each frame row's 1-based
    data-row number in the file (the header is not counted), which is what every
    message quotes; ``problems`` lists rows that could not be read at all.
    """

    frame: pd.DataFrame
    rows: np.ndarray
    info: ReadInfo
    problems: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------------
# detection
# ---------------------------------------------------------------------------

def _load_bytes(source: str | os.PathLike[str] | bytes | IO[bytes]) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DataFileError(f"no such file: {str(path)!r}. Check the path and try again.")
        if path.is_dir():
            raise DataFileError(f"{str(path)!r} is a folder, not a CSV file.")
        return path.read_bytes()
    data = source.read()
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)


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


def _check_binary(data: bytes) -> None:
    head = data[:8192]
    for magic, what in _MAGIC:
        if head.startswith(magic):
            hint = " Save it as CSV (in Excel: File → Save As → CSV UTF-8) and try again." if "Excel" in what else ""
            raise DataFileError(f"this file is not a CSV: it looks like {what}.{hint}")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataFileError("this file is not a CSV: it contains binary data. Export the table as CSV and try again.")


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
    sample = frame.head(200)
    comma = point = 0
    for col in sample.columns:
        vals = sample[col].dropna().astype(str)
        comma += int(vals.str.match(_DEC_COMMA).sum())
        point += int(vals.str.match(_DEC_POINT).sum())
    return "," if comma > point else "."


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------

def _clean_header(names: list[str]) -> tuple[list[str], list[str]]:
    notes = []
    out = []
    for i, n in enumerate(names):
        n2 = (n or "").strip().lstrip("\ufeff")
        if not n2:
            n2 = f"column_{i + 1}"
            notes.append(f"column {i + 1} has no name; it was called {n2!r}")
        out.append(n2)
    return out, notes


def _fast_read(data: bytes, encoding: str, delimiter: str) -> pd.DataFrame | None:
    """Pyarrow read of every column as text; ``None`` when the file needs the exact path."""
    bad: list[Any] = []

    def on_invalid(row: Any) -> str:
        bad.append(row)
        return "skip"

    raw = data[3:] if encoding == "UTF-8 with BOM" else data
    try:
        names_line = pacsv.open_csv(
            io.BytesIO(raw),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
        ).schema.names
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, StopIteration, UnicodeDecodeError):
        return None
    if len(set(names_line)) != len(names_line) or any(not n.strip() for n in names_line):
        return None
    bad.clear()
    try:
        table = pacsv.read_csv(
            io.BytesIO(raw),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.large_string() for n in names_line},
                null_values=list(NULL_TOKENS),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    if bad:
        return None
    return table.to_pandas()


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


def read_table(source: str | os.PathLike[str] | bytes | IO[bytes], *, max_bytes: int | None = None) -> Table:
    """Read a CSV file as text, detecting its encoding, delimiter and decimal mark.

    Parameters
    ----------
    source : a path, the file's bytes, or a binary file object.
    max_bytes : refuse files larger than this.

    Returns
    -------
    Table
        Every cell as text (missing tokens such as ``""``, ``NA``, ``null`` become
        missing), the data-row number of each row, the rows that could not be read.

    Raises
    ------
    DataFileError
        When the file is empty, binary, has no header or no data rows.
    """
    data = _load_bytes(source)
    if max_bytes is not None and len(data) > max_bytes:
        raise DataFileError(f"the file is {len(data) / 1e6:,.1f} MB; the limit is {max_bytes / 1e6:,.0f} MB. "
                            "Split it into smaller files.")
    if _blank(data):
        raise DataFileError("the file is empty: it has no header and no rows. "
                            "Export the table again with a header row.")
    _check_binary(data)
    fast = None
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-8 (pyarrow checks every cell) read straight from the bytes: decoding a large file into
        # one Python string would cost a second copy of it. An odd number of quote characters means
        # a quote is never closed, and only the exact reader can say where.
        encoding = "UTF-8 with BOM" if data.startswith(b"\xef\xbb\xbf") else "UTF-8"
        sample = data[3 if encoding == "UTF-8 with BOM" else 0:65536].decode("utf-8", errors="replace")
        delimiter = _sniff_delimiter(sample)
        if data.count(b'"') % 2 == 0:
            fast = _fast_read(data, encoding, delimiter)
    problems: list[Problem] = []
    notes: list[str] = []
    if fast is not None:
        frame = fast
        header_raw = list(frame.columns)
        numbers = np.arange(1, len(frame) + 1, dtype=np.int64)
    else:
        text, encoding, notes = _decode(data)
        delimiter = _sniff_delimiter(text[:65536])
        header_raw, rows, nums, problems = _exact_read(text, delimiter)
        if not header_raw:
            raise DataFileError("the file has no header row.")
        frame = pd.DataFrame(rows, columns=pd.RangeIndex(len(header_raw)), dtype=object)
        frame = frame.astype("str") if len(frame) else frame
        frame.columns = header_raw
        frame = frame.replace(list(NULL_TOKENS), np.nan) if len(frame) else frame
        numbers = np.asarray(nums, dtype=np.int64)
    header, header_notes = _clean_header([str(c) for c in header_raw])
    notes.extend(header_notes)
    seen: dict[str, int] = {}
    unique = []
    for i, h in enumerate(header):
        if h in seen:
            new = f"{h}.{seen[h] + 1}"
            seen[h] += 1
            notes.append(f"column {h!r} appears more than once; column {i + 1} was renamed {new!r}")
            unique.append(new)
        else:
            seen[h] = 0
            unique.append(h)
    frame.columns = unique
    if len(frame) == 0 and not problems:
        raise DataFileError("the file has a header but no data rows. Add at least one row below the header.")
    frame = frame.reset_index(drop=True)
    for col in frame.columns:
        s = frame[col]
        if s.dtype != object and not pd.api.types.is_string_dtype(s):
            frame[col] = s.astype("str")
    decimal = _sniff_decimal(frame, delimiter)
    info = ReadInfo(encoding=encoding, delimiter=delimiter, decimal=decimal, n_rows=len(frame),
                    n_columns=len(frame.columns), notes=tuple(notes))
    return Table(frame=frame, rows=numbers, info=info, problems=problems)


# ---------------------------------------------------------------------------
# columns and numbers
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=8192)
def _normalised(name: str) -> str:
    return _SPACES.sub(" ", name.strip().lstrip("\ufeff")).casefold()


_SPACES = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """Column-name key for tolerant matching: case-folded, spaces trimmed and squeezed.

    Names repeat (every record of an API call has the same keys), so results are cached.
    """
    return _normalised(str(name))


def match_columns(columns: list[str], wanted: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map each wanted name to a column of the file, ignoring case and surrounding spaces.

    Returns the mapping (wanted → actual) for names found, and notes about names
    that matched more than one column (the first one is used).
    """
    by_key: dict[str, list[str]] = {}
    for c in columns:
        base = re.sub(r"\.\d+$", "", c) if c not in wanted else c
        by_key.setdefault(normalise_name(base), []).append(c)
    mapping: dict[str, str] = {}
    notes: list[str] = []
    for w in wanted:
        hits = by_key.get(normalise_name(w), [])
        if not hits:
            continue
        mapping[w] = hits[0]
        if len(hits) > 1:
            notes.append(f"column {w!r} appears {len(hits)} times ({', '.join(map(repr, hits))}); "
                         f"the first was used — remove the others")
    return mapping, notes


def parse_numbers(values: pd.Series, decimal: str = ".") -> tuple[np.ndarray, np.ndarray]:
    """Turn a text column into float64 and flag the cells that are not numbers.

    Missing cells, and cells holding only spaces, stay NaN and are not flagged.
    ``inf``, ``1e400`` and the like parse to infinity; callers decide whether
    that is allowed. Text columns are parsed by pyarrow without a Python object
    per cell; only a column with bad cells takes a second, slower pass to find them.

    Returns
    -------
    (numbers, not_a_number) : float64 array and boolean mask of the same length.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        return arr, np.zeros(len(arr), dtype=bool)
    text = text_array(values)
    if decimal == ",":
        text = _decimal_point(pc.utf8_trim_whitespace(text))
    # most columns are clean: one cast, and only a column that fails pays for trimming and checking
    for attempt in range(2):
        try:
            out = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
            return np.asarray(out, dtype=np.float64), np.zeros(len(out), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if attempt == 0:
                text = pc.utf8_trim_whitespace(text)
                text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    missing = pc.is_null(text).to_numpy(zero_copy_only=False)
    as_series = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object)
    out = pd.to_numeric(as_series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(out) & ~missing & ~as_series.str.fullmatch(r"(?i)[-+]?nan").fillna(False).to_numpy(dtype=bool)
    return out, bad


def _decimal_point(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """``1.234,5`` → ``1234.5`` and ``1,5`` → ``1.5`` (decimal comma, optional thousands points)."""
    thousands = pc.match_substring_regex(text, r"^[-+]?\d{1,3}(\.\d{3})+(,\d+)?$")
    text = pc.if_else(thousands, pc.replace_substring(text, ".", ""), text)
    return pc.replace_substring(text, ",", ".")


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
