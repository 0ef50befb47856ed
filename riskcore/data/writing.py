"""Writing tables safely: CSV without spreadsheet formulas, Parquet, and outputs that appear whole or not at all.

:func:`write_csv` neutralises spreadsheet formula injection in text cells;
:func:`write_parquet` writes plainly (Parquet is not opened as formulas).
:func:`write_table` writes chunk by chunk to a temporary file that takes the
final name only when the writer is committed, so a partial output never
appears under that name.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from riskcore.data.table import map_columns, text_array
from riskcore.data.transaction import CommitOrAbort

__all__ = ["TableWriter", "neutralise_formulas", "write_csv", "write_parquet", "write_table"]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")


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


class TableWriter(CommitOrAbort):
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
