"""A table as read from a user's file, and what the readers and writers share.

:class:`Table` is what :func:`riskcore.data.reading.read_table` returns (the
frame, each row's number as a user finds it, the rows that could not be read)
and :class:`ReadInfo` says how the file was read. :data:`NULL_TOKENS` are the
cells read as missing in every format; :func:`text_array` and
:func:`map_columns` are the two helpers every column-wise step uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, Literal, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa

from riskcore.errors import Problem

__all__ = ["FileFormat", "NULL_TOKENS", "ReadInfo", "Source", "Table", "map_columns", "text_array"]


Source: TypeAlias = "str | os.PathLike[str] | bytes | IO[bytes]"
FileFormat = Literal["csv", "excel", "parquet"]

#: Cells read as missing in every format: empty, or one of these markers as written, in upper or in lower case
#: (cells of only spaces are missing too). ``none``, ``-`` and ``?`` are not here on purpose: in a category column
#: ``none`` is often a real level (no guarantor), and in a number column the number parser decides what they mean.
NULL_TOKENS: tuple[str, ...] = ("", "NA", "na", "N/A", "n/a", "NaN", "NAN", "nan", "NULL", "null", "#N/A", "#n/a")


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


def text_array(values: pd.Series) -> pa.ChunkedArray:
    """A text column as an Arrow string array (no Python object per cell when it is already Arrow-backed).

    Cells that are not strings (numbers in an object column) become their ``str()``.
    """
    arr = values.array
    if isinstance(arr, pd.arrays.ArrowStringArray) or (
            isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        return pa.chunked_array(pa.array(arr))
    missing: Any = None  # pandas takes any missing marker here; its type stubs list only non-None ones
    obj = values.to_numpy(dtype=object, na_value=missing)
    try:
        return pa.chunked_array([pa.array(obj, type=pa.large_string(), from_pandas=True)])
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        fixed = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in obj]
        return pa.chunked_array([pa.array(fixed, type=pa.large_string())])


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
