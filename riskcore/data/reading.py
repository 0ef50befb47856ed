"""Reading the tables users bring — CSV, Excel and Parquet — tolerantly and safely.

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
:func:`riskcore.data.parsing.parse_numbers` then turns a column into numbers and says which cells were not
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

Writing is :mod:`riskcore.data.writing`; matching the columns to a spec is
:mod:`riskcore.data.columns`.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from riskcore.data.formats import (
    CsvPlan,
    NeedsExact,
    Part,
    csv_exact_part,
    excel_part,
    finish,
    parquet_column,
    parquet_file,
    parquet_types,
    plan_csv,
    unique_header,
)
from riskcore.data.sources import DECIMAL_SAMPLE, ByteSource, format_of, open_source, sniff_decimal
from riskcore.data.table import NULL_TOKENS, FileFormat, ReadInfo, Source, Table
from riskcore.errors import DataFileError, MissingColumnError, Problem

__all__ = ["TableReader", "open_table", "read_ahead", "read_table"]

T = TypeVar("T")
_END: Any = object()


_BLOCK_BYTES = 1 << 20  # pyarrow parses this much at a time when streaming (it reads a few blocks ahead)
_WHOLE_BLOCK_BYTES = 1 << 24  # and when reading a whole file, where fewer, larger blocks are faster


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

    def __init__(self, src: ByteSource, fmt: FileFormat, *, sheet: str | None, chunk_rows: int,
                 block_bytes: int = _BLOCK_BYTES):
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows!r}")
        self._src, self._format, self._chunk_rows, self._block_bytes = src, fmt, chunk_rows, block_bytes
        self._whole: Part | None = None
        self._plan: CsvPlan | None = None
        self._parquet: Any = None
        self._types: list[pa.DataType] = []
        self._pending: Iterator[Part] | None = None
        self._closed = False
        notes: list[str] = []
        encoding = delimiter = ""
        sheet_name: str | None = None
        header_row = 0
        n_rows = 0
        if fmt == "excel":
            self._whole, sheet_name, header_row, notes = excel_part(src, sheet)
            self.columns = list(self._whole.table.column_names)
            n_rows = self._whole.table.num_rows
        elif fmt == "parquet":
            self._parquet = parquet_file(src)
            self._types = parquet_types(self._parquet)
            self.columns, notes = unique_header([str(n) for n in self._parquet.schema_arrow.names])
            n_rows = int(self._parquet.metadata.num_rows)
        else:
            self._plan = plan_csv(src)
            encoding, delimiter = self._plan.encoding, self._plan.delimiter
            if self._plan.fast:
                self.columns, notes = unique_header(self._plan.raw_header)
            else:
                self._whole, encoding, delimiter, notes = csv_exact_part(src, self._plan)
                self.columns = list(self._whole.table.column_names)
                n_rows = self._whole.table.num_rows
        if sheet is not None and fmt != "excel":
            notes.append(f"the file is not an Excel workbook, so the sheet name {sheet!r} was not used")
        # the decimal mark is judged on the first rows; those parts are kept for the first pass
        first = self._parts(None)
        head: list[Part] = []
        n_head = 0
        for part in first:
            head.append(part)
            n_head += part.table.num_rows
            if n_head >= DECIMAL_SAMPLE:
                break
        else:
            if self._whole is None:
                n_rows = n_head
        if n_head == 0 and not any(p.problems for p in head):
            raise DataFileError("the file has a header but no data rows. Add at least one row below the header.")
        self._pending = _chain(head, first)
        sample = pa.concat_tables([p.table for p in head]).slice(0, DECIMAL_SAMPLE).to_pandas()
        decimal = sniff_decimal(sample, delimiter if fmt == "csv" else "")
        self.info = ReadInfo(encoding=encoding, delimiter=delimiter, decimal=decimal, n_rows=n_rows,
                             n_columns=len(self.columns), notes=tuple(notes), format=fmt, sheet=sheet_name,
                             header_row=header_row if fmt == "excel" else 0)

    # -- parts: the file's rows in the order they come, as Arrow -------------------------------------------------

    def _parts(self, select: list[int] | None) -> Iterator[Part]:
        if self._closed:
            raise ValueError("this TableReader is closed; open the file again with open_table()")
        if self._whole is not None:
            yield _select(self._whole, select)
        elif self._format == "parquet":
            yield from self._parquet_parts(select)
        else:
            yield from self._csv_parts(select)

    def _parquet_parts(self, select: list[int] | None) -> Iterator[Part]:
        idx = list(range(len(self.columns))) if select is None else select
        raw_names = self._parquet.schema_arrow.names
        # columns are picked by name when names are unique (then only those are read), else by position
        unique = len(set(raw_names)) == len(raw_names)
        wanted = [raw_names[j] for j in idx] if unique else None
        pos = list(range(len(idx))) if unique else idx
        done = 0
        for batch in self._parquet.iter_batches(batch_size=min(self._chunk_rows, 1 << 20), columns=wanted):
            cols = [parquet_column(pa.chunked_array([batch.column(k)]), self._types[j], raw_names[j])
                    for k, j in zip(pos, idx)]
            table = pa.Table.from_arrays(cols, names=[self.columns[j] for j in idx])
            rows = np.arange(done + 1, done + batch.num_rows + 1, dtype=np.int64)
            done += batch.num_rows
            yield finish(table, table.column_names, rows, tokens=True, nul=True)

    def _csv_parts(self, select: list[int] | None) -> Iterator[Part]:
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
                        raise NeedsExact
                    table = pa.Table.from_batches([batch])
                    rows = np.arange(done + 1, done + batch.num_rows + 1, dtype=np.int64)
                    part = finish(table, self.columns if not project else names, rows, tokens=False, nul=plan.nul)
                    done += batch.num_rows
                    yield _select(part, None if project else select)
                if bad:
                    raise NeedsExact
            finally:
                stream.close()
        except (NeedsExact, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # the rows handed out so far were read cleanly and are numbered as the exact reader numbers them
            whole, *_ = csv_exact_part(self._src, plan)
            keep = whole.rows > done
            yield _select(Part(whole.table.filter(pa.array(keep)), whole.rows[keep],
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

    def iter_columns(self, names: list[str]) -> Iterator[Table]:
        """Only these columns, in the same chunks as iterating the reader (a first pass over a few columns).

        A CSV is parsed for these columns only, a Parquet file reads only them. The chunks have
        the rows, row numbers and problems of the chunks :meth:`__iter__` gives.

        Parameters
        ----------
        names : column names as :attr:`columns` gives them.

        Raises
        ------
        MissingColumnError
            When a name is not a column of the file.
        """
        select = self._selection(names)
        self._pending = None  # the parts kept from opening hold every column; this pass starts over
        for chunk in _rechunk(self._parts(select), self._chunk_rows):
            yield self._table(chunk)

    def _selection(self, names: list[str]) -> list[int]:
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise MissingColumnError(missing, f"the file has no column {', '.join(map(repr, missing))}; its columns "
                                     f"are {', '.join(map(repr, self.columns))}. Choose among them.")
        return [self.columns.index(n) for n in names]

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
        MissingColumnError
            When a name is not a column of the file.
        """
        select = self._selection(names)
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

    def _table(self, part: Part) -> Table:
        return Table(frame=part.table.to_pandas(), rows=part.rows, info=self.info, problems=part.problems)

    def _read_all(self) -> Table:
        """Everything at once (what :func:`read_table` returns)."""
        parts = list(self._pending if self._pending is not None else self._parts(None))
        self._pending = None
        part = _concat(parts, self.columns)
        self.info = replace(self.info, n_rows=part.table.num_rows)
        return self._table(part)


def read_ahead(chunks: Iterable[T]) -> Generator[T, None, None]:
    """``chunks`` in order, the next one read on a background thread while the caller works on this one.

    pyarrow parses and converts outside the interpreter's lock, so reading the next chunk
    of a file overlaps the work on the current one. One chunk is read ahead, no more, so
    memory grows by one chunk. An error while reading is raised where that chunk would
    have come. Closing the iterator (or leaving a ``for`` loop over it by an exception)
    waits for the read in flight, so the file can then be closed.
    """
    it = iter(chunks)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="riskcore-read") as pool:
        pending = pool.submit(next, it, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(next, it, _END)
            yield item


def _chain(head: list[Part], rest: Iterator[Part]) -> Iterator[Part]:
    yield from head
    yield from rest


def _select(part: Part, select: list[int] | None) -> Part:
    if select is None:
        return part
    return Part(part.table.select(select), part.rows, part.problems)


def _concat(parts: list[Part], names: list[str]) -> Part:
    if not parts:
        return Part(pa.table({n: pa.array([], type=pa.large_string()) for n in names}),
                     np.zeros(0, dtype=np.int64), [])
    return Part(pa.concat_tables([p.table for p in parts]),
                 np.concatenate([p.rows for p in parts]), [q for p in parts for q in p.problems])


def _rechunk(parts: Iterator[Part], size: int) -> Iterator[Part]:
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

    def cut(k: int) -> Part:
        nonlocal tables, rows, n
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        allrows = np.concatenate(rows) if len(rows) > 1 else rows[0]
        out = Part(table.slice(0, k), allrows[:k], [])
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
        yield Part(schema.empty_table(), np.zeros(0, dtype=np.int64), problems)


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
    src = open_source(source, max_bytes)
    return TableReader(src, format_of(src), sheet=sheet, chunk_rows=chunk_rows)


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
    src = open_source(source, max_bytes)
    reader = TableReader(src, format_of(src), sheet=sheet, chunk_rows=1 << 62, block_bytes=_WHOLE_BLOCK_BYTES)
    return reader._read_all()
