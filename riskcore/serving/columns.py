"""The columns of a file being scored: the model matrix going in, the output columns coming out.

:class:`ModelColumns` builds the model matrix of any rows straight from the
prepared frame's NumPy columns; the other helpers build the output's text and
year columns in Arrow and pass the file's own columns through without copying
them where they can.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from riskcore.modelling.bundle import ModelBundle

__all__ = ["ModelColumns", "keep_rows", "outlier_flags", "text_column", "text_labels", "time_values", "true_runs"]


class ModelColumns:
    """The model matrix of any rows of a prepared frame, built from its NumPy columns.

    The same matrix as ``bundle.matrix`` of those rows as a DataFrame (a test
    holds it to that), without slicing a DataFrame per chunk: numbers are taken
    from the typed columns, categories are encoded once per distinct value.
    """

    def __init__(self, bundle: ModelBundle, frame: pd.DataFrame, panel: pd.DataFrame,
                 category_codes: dict[str, np.ndarray] | None = None):
        self.builder = bundle.features
        self.names = list(self.builder.layout_.numeric)
        spec = bundle.spec
        category_codes = category_codes or {}
        layout = self.builder.layout_
        raw_features = set(bundle.spec.feature_names)
        self.numeric: list[tuple[np.ndarray | None, bool, bool]] = []  # (values, from_panel, counts_as_missing)
        for c in layout.numeric:
            if c in panel:
                self.numeric.append((panel[c].to_numpy(dtype=float), True, False))
            elif c in frame:
                self.numeric.append((frame[c].to_numpy(dtype=float), False, c in raw_features))
            else:
                self.numeric.append((None, False, False))
        self.codes: list[np.ndarray | None] = []
        self.cat_missing: list[np.ndarray] = []
        for c in layout.categorical:
            if c in frame:
                uniques: Sequence[Any] | np.ndarray
                if c in category_codes:  # positions in the spec's categories, from prepare_frame
                    codes, uniques = category_codes[c], list(spec.feature(c).categories)
                else:
                    codes, uniques = pd.factorize(frame[c].to_numpy(dtype=object))
                lookup = np.append(self.builder.encode(np.asarray(uniques, dtype=object), c), np.nan)
                self.codes.append(lookup[codes])  # code -1 (missing) takes the last slot: NaN
                if c in raw_features:
                    self.cat_missing.append(codes < 0)
            else:
                self.codes.append(None)

    def replaced(self, values: dict[str, np.ndarray]) -> ModelColumns:
        """The same columns with some raw numeric inputs' values replaced (a scenario's moved macro inputs)."""
        out = copy.copy(self)
        out.numeric = [(values[name], False, counts) if name in values and not from_panel else (v, from_panel, counts)
                       for name, (v, from_panel, counts) in zip(self.names, self.numeric, strict=True)]
        return out

    def matrix(self, rows: np.ndarray, panel_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(model matrix, number of missing raw features) of frame rows ``rows`` (panel rows ``panel_rows``)."""
        m = len(rows)
        numeric = np.full((m, len(self.numeric)), np.nan)
        missing = np.zeros(m, dtype=np.int64)
        for j, (values, from_panel, counts) in enumerate(self.numeric):
            if values is not None:
                numeric[:, j] = values[panel_rows] if from_panel else values[rows]
                if counts:
                    missing += np.isnan(numeric[:, j])
        cats = np.full((m, len(self.codes)), np.nan)
        for j, codes in enumerate(self.codes):
            if codes is not None:
                cats[:, j] = codes[rows]
        for miss in self.cat_missing:
            missing += miss[rows]
        return self.builder.transform_arrays(numeric, cats), missing


def true_runs(mask: np.ndarray) -> np.ndarray:
    """Start and stop of each run of True in ``mask``, as rows of a (runs × 2) array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.column_stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)])


def keep_rows(column: pd.Series, good_idx: np.ndarray, runs: np.ndarray) -> Any:
    """The valid rows of a passed-through column.

    An Arrow text column with few rejected rows is cut into zero-copy slices
    around them instead of being copied: a million-row file's text columns are
    the largest thing in memory, and the output would otherwise hold them twice.
    """
    values = column.array
    if len(runs) == 1 and runs[0, 0] == 0 and runs[0, 1] == len(values):
        return values
    if isinstance(values, pd.arrays.ArrowStringArray) and len(runs) <= max(64, len(values) // 200):
        whole = pa.chunked_array(pa.array(values))
        chunks = [piece for start, stop in runs for piece in whole.slice(start, stop - start).chunks]
        return pa.chunked_array(chunks, type=whole.type).to_pandas().array
    return values.take(good_idx)


def time_values(t: pd.Series) -> Any:
    """The time column as the output shows it: whole years as integers (a missing year stays missing)."""
    if pd.api.types.is_float_dtype(t):
        v = t.to_numpy(dtype=float)
        finite = np.isfinite(v)
        if np.all(np.mod(v[finite], 1) == 0):
            years = pd.array(np.where(finite, v, 0).astype(np.int64), dtype="Int64")
            years[~finite] = pd.NA
            return years
    return t.to_numpy()


def outlier_flags(outliers: pd.DataFrame, valid_rows: np.ndarray) -> np.ndarray:
    """``unusual value: col=value, …`` for each valid row with outliers, else an empty string."""
    flags = np.full(len(valid_rows), "", dtype=object)
    if not len(outliers):
        return flags
    o = outliers[outliers["row"].isin(valid_rows)]
    by_row: dict[int, list[str]] = {}
    for r, c, v in zip(o["row"].tolist(), o["column"].tolist(), o["value"].tolist()):
        by_row.setdefault(r, []).append(f"{c}={v:g}")
    if by_row:
        # rows are in file order, so each valid row's position is found by bisection
        pos = np.searchsorted(valid_rows, np.fromiter(by_row, dtype=np.int64, count=len(by_row)))
        flags[pos] = ["unusual value: " + ", ".join(v) for v in by_row.values()]
    return flags


def text_labels(codes: np.ndarray, labels: Sequence[str]) -> Any:
    """A text column from codes into a short list of labels, built in Arrow (no Python string per row)."""
    dictionary = pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()),
                                                pa.array(list(labels), type=pa.large_string()))
    return pa.chunked_array([dictionary.cast(pa.large_string())]).to_pandas().array


def text_column(values: np.ndarray) -> Any:
    """An object array of text (``None`` where missing) as a pandas string column."""
    return pa.chunked_array([pa.array(values, type=pa.large_string(), from_pandas=True)]).to_pandas().array
