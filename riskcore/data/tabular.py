"""The table layer's public names in one place, for code that reads and writes files.

Each lives in the module of its concept: :mod:`riskcore.data.table` (the
:class:`Table` a file is read as, :data:`NULL_TOKENS`), :mod:`riskcore.data.reading`
(:func:`read_table`, :func:`open_table`, :class:`TableReader`, :func:`read_ahead`),
:mod:`riskcore.data.writing` (:func:`write_csv`, :func:`write_parquet`,
:func:`write_table`, :class:`TableWriter`), :mod:`riskcore.data.columns`
(:func:`normalise_name`, :func:`match_columns`) and :mod:`riskcore.data.parsing`
(:func:`parse_numbers`). Import from here or from those modules; both stay valid.
"""

from __future__ import annotations

from riskcore.data.columns import match_columns, normalise_name
from riskcore.data.parsing import parse_numbers
from riskcore.data.reading import TableReader, open_table, read_ahead, read_table
from riskcore.data.table import NULL_TOKENS, FileFormat, ReadInfo, Source, Table, map_columns, text_array
from riskcore.data.writing import TableWriter, neutralise_formulas, write_csv, write_parquet, write_table

__all__ = [
    "NULL_TOKENS",
    "FileFormat",
    "ReadInfo",
    "Source",
    "Table",
    "TableReader",
    "TableWriter",
    "map_columns",
    "match_columns",
    "neutralise_formulas",
    "normalise_name",
    "open_table",
    "parse_numbers",
    "read_ahead",
    "read_table",
    "text_array",
    "write_csv",
    "write_parquet",
    "write_table",
]
