"""Company keys and panel features of a file being scored.

A company's panel features (year-on-year changes, volatilities) come from its
history: its rows with a usable key (an id, not a repeat of an earlier row's
company and period), whatever else is wrong with them. This module finds the
rows whose key is unusable, computes the features from each company's history
(or takes them from a :class:`PanelSource`, the whole file's history, for a file
scored in chunks: :class:`riskcore.serving.history.FileHistory`, which builds on
this module) and reads the panel-feature columns a file brings itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskcore.data.rules import not_a_finite_number_message
from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import normalise_name, parse_numbers
from riskcore.modelling.features import panel_arrays

__all__ = ["MAX_ID_CHARS", "PanelSource", "RowKeys", "duplicate_rejects", "history_inputs", "id_problems",
           "panel_values", "period_numbers", "provided_panel_features"]

MAX_ID_CHARS = 100
RowKeys = Callable[[np.ndarray], pd.Series]  # positions in the frame -> the rows' keys, as the reject report names them


class PanelSource(Protocol):
    """Panel features computed over a whole file, handed out a chunk at a time (a file scored in chunks)."""

    def panel(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The panel features of the rows numbered ``rows`` (one chunk, in file order), one array per feature."""
        ...


def id_problems(frame: pd.DataFrame, spec: DatasetSpec, rows: np.ndarray, keys: RowKeys, id_codes: np.ndarray, *,
                 duplicates: bool = True) -> tuple[list[pd.DataFrame], np.ndarray]:
    """Empty ids, ids too long to be an id, and repeated keys (the first occurrence is kept).

    ``id_codes`` numbers the distinct ids (-1 when empty), so keys are compared as integers.
    Returns the problems and which rows have a usable key (the rows a company's history
    is made of). With ``duplicates=False`` repeated keys are left to the caller (a file
    scored in chunks finds them over the whole file).
    """
    id_col = spec.id
    parts = []
    idv = frame[id_col]
    empty = idv.isna().to_numpy()
    if empty.any():
        idx = np.flatnonzero(empty)
        parts.append(pd.DataFrame({"row": rows[idx], "id": None, "column": id_col, "value": None,
                                   "check": "id", "problem": "the company id is empty; give every row an id"}))
    text = pa.array(idv.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    lengths = pc.fill_null(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False)
    long = lengths > MAX_ID_CHARS
    if long.any():
        idx = np.flatnonzero(long)
        parts.append(pd.DataFrame({"row": rows[idx], "id": None, "column": id_col,
                                   "value": [f"{str(v)[:30]}… ({int(lengths[i]):,} characters)"
                                             for i, v in zip(idx, idv.iloc[idx])],
                                   "check": "id",
                                   "problem": f"the id is longer than {MAX_ID_CHARS} characters; "
                                              "use the company's short identifier"}))
    key_ok = ~empty & ~long
    if duplicates:
        key = id_codes.astype(np.int64)
        if spec.time and spec.time in frame:
            periods = pd.factorize(frame[spec.time].to_numpy())[0]  # a missing period is -1, like any other
            key = key * (int(periods.max(initial=0)) + 2) + periods + 1
        dup = pd.Series(key).duplicated(keep="first").to_numpy() & ~empty
        if dup.any():
            _, first_of_key, which = np.unique(key, return_index=True, return_inverse=True)
            parts.append(duplicate_rejects(spec, frame, rows, keys, dup, rows[first_of_key[which]]))
        key_ok &= ~dup
    return parts, key_ok


def duplicate_rejects(spec: DatasetSpec, frame: pd.DataFrame, rows: np.ndarray, keys: RowKeys, dup: np.ndarray,
                      first: np.ndarray) -> pd.DataFrame:
    """Reject cells for the rows in ``dup`` that repeat the key of the row numbered ``first`` (same length)."""
    idx = np.flatnonzero(dup)
    key_cols = [c for c in spec.key_columns if c in frame]
    what = " and ".join(key_cols)
    return pd.DataFrame({"row": rows[idx], "id": keys(idx).to_numpy(), "column": spec.id,
                         "value": frame[spec.id].iloc[idx].to_numpy(dtype=object), "check": "duplicate",
                         "problem": [f"the same {what} as row {first[i]}; each company"
                                     + (" and period" if len(key_cols) > 1 else "")
                                     + " must appear once — remove or correct the copy"
                                     for i in idx]})


def provided_panel_features(frame: pd.DataFrame, spec: DatasetSpec, rows: np.ndarray, decimal: str,
                             keys: RowKeys) -> tuple[dict[str, np.ndarray], list[pd.DataFrame]]:
    """Panel-feature columns the data brings itself (matched ignoring case and spaces), as numbers."""
    by_key = {normalise_name(str(c)): c for c in frame.columns}
    provided: dict[str, np.ndarray] = {}
    parts: list[pd.DataFrame] = []
    for pf in spec.panel_features:
        col = by_key.get(normalise_name(pf.name))
        if col is None:
            continue
        raw = frame[col]
        values, bad = parse_numbers(raw, decimal)
        bad |= np.isinf(values)
        if bad.any():
            idx = np.flatnonzero(bad)
            parts.append(pd.DataFrame({"row": rows[idx], "id": keys(idx).to_numpy(), "column": pf.name,
                                       "value": raw.iloc[idx].to_numpy(dtype=object), "check": "type",
                                       "problem": [not_a_finite_number_message(v) for v in raw.iloc[idx]]}))
        provided[pf.name] = np.where(bad, np.nan, values)
    return provided, parts


def history_inputs(frame: pd.DataFrame, spec: DatasetSpec) -> dict[str, np.ndarray]:
    """The panel recipes' inputs as they enter a company's history: numbers, NaN where unusable.

    A value outside its valid range is unknown for the history, as a cell that is
    not a number is (``prepare_frame`` already made those NaN).
    """
    out: dict[str, np.ndarray] = {}
    for pf in spec.panel_features:
        col = pf.recipe.inputs[0] if pf.recipe is not None else None
        if col is None or col in out or col not in frame:
            continue
        x = frame[col].to_numpy(dtype=float).copy()
        f = spec.feature(col) if spec.has_feature(col) else None
        if f is not None and f.min is not None:
            x[x < f.min] = np.nan
        if f is not None and f.max is not None:
            x[x > f.max] = np.nan
        out[col] = x
    return out


def period_numbers(values: pd.Series | np.ndarray) -> np.ndarray:
    """Periods as numbers for ordering a history: years as they are, dates as their year."""
    t = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(t):
        return t.dt.year.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(t, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def panel_values(frame: pd.DataFrame, good_idx: np.ndarray, key_ok: np.ndarray, spec: DatasetSpec,
                  provided: dict[str, np.ndarray], id_codes: np.ndarray,
                  history: PanelSource | None = None, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Panel features of the valid rows: from each company's history, else as the data gives them.

    A company's history is its rows with a usable key (an id, not a repeat of an
    earlier row's company and period), whatever else is wrong with them: a year
    rejected for an unknown sector still says what the company's ratios were. With
    ``history`` (a file scored in chunks) the values come from the whole file's
    history instead, which gives the same numbers.
    """
    names = [pf.name for pf in spec.panel_features]
    n = len(good_idx)
    if history is not None and rows is not None:
        values = {name: v[good_idx] for name, v in history.panel(rows).items()}
    else:
        values = {name: np.full(n, np.nan) for name in names}
        if names and spec.id and spec.id in frame and spec.time and spec.time in frame and n:
            codes = np.where(key_ok, id_codes, -1)
            computed = panel_arrays(codes, period_numbers(frame[spec.time]), history_inputs(frame, spec), spec)
            values = {name: computed[name][good_idx] for name in names}
    for name in names:
        if name in provided:
            values[name] = np.where(np.isnan(values[name]), provided[name][good_idx], values[name])
    return pd.DataFrame(values, index=pd.RangeIndex(n))
