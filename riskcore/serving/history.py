"""Company histories of a file scored a chunk at a time.

A company's panel features (year-on-year changes, volatilities) need its earlier
rows. A file sorted by company is scored chunk by chunk with each company's rows
kept together (:class:`ChunkHistory` checks that they really are); when the rows
of a company are scattered over the file (sorted by year, say),
:class:`FileHistory` gathers every company's history and repeated keys in a first
pass, so the second pass scores the chunks as they come and gives the scores of
the whole file read at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskcore.data.quality import match_spec_columns, prepare_frame
from riskcore.data.tabular import Table, TableReader, read_ahead
from riskcore.modelling.features import iter_panel_arrays
from riskcore.serving.panel import MAX_ID_CHARS, history_inputs, period_numbers

if TYPE_CHECKING:
    from riskcore.modelling.bundle import ModelBundle

__all__ = ["ChunkHistory", "FileHistory", "ScatteredCompanies", "company_ids", "interleaved"]


class ScatteredCompanies(Exception):
    """A company's rows are not next to each other across chunks: gather the histories in a first pass."""


def company_ids(frame: pd.DataFrame, id_column: str) -> pa.ChunkedArray:
    """A chunk's company ids as trimmed Arrow text (no Python object per cell when they are Arrow already)."""
    values = frame[id_column]
    if isinstance(values.array, pd.arrays.ArrowStringArray):
        arr = pa.chunked_array(pa.array(values.array))
    elif values.dtype == object:
        arr = pa.chunked_array([pa.array(values.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)])
    else:  # numbers read from a typed file
        arr = pa.chunked_array([pa.array(values.astype(str).to_numpy(dtype=object), type=pa.large_string())])
    return pc.utf8_trim_whitespace(arr.cast(pa.large_string()))


def interleaved(ids: pa.ChunkedArray) -> bool:
    """True when some company's rows are not next to each other."""
    ids = ids.drop_null()
    if len(ids) < 2:
        return False
    arr = ids.combine_chunks()
    runs = 1 + int(pc.sum(pc.not_equal(arr.slice(1), arr.slice(0, len(arr) - 1))).as_py() or 0)
    return runs > len(pc.unique(arr))

class ChunkHistory:
    """Which companies the chunks so far held, to tell at once when a company's rows were split between chunks.

    Ids are kept as 64-bit hashes (8 bytes per company), sorted: the newest chunks in a few small arrays, merged
    into one large array once they hold as many as a quarter of it, so each chunk is checked against every
    earlier one in logarithmic time and the merging costs O(n log n) over the whole file. A file sorted by year
    is caught at the first chunk of its second year, not after a whole pass.
    """

    _RECENT = 8

    def __init__(self) -> None:
        self.merged = np.empty(0, dtype=np.uint64)
        self.recent: list[np.ndarray] = []

    def add(self, ids: pa.ChunkedArray) -> None:
        """Note one chunk's companies; raise :class:`ScatteredCompanies` when an earlier chunk had one of them."""
        ids = ids.drop_null()
        if not len(ids):
            return
        hashed = np.unique(pd.util.hash_array(ids.to_numpy(zero_copy_only=False).astype(object)))
        if len(self.merged):
            at = np.minimum(np.searchsorted(self.merged, hashed), len(self.merged) - 1)
            if (self.merged[at] == hashed).any():
                raise ScatteredCompanies
        if any(np.isin(hashed, part, assume_unique=True).any() for part in self.recent):
            raise ScatteredCompanies
        self.recent.append(hashed)
        if len(self.recent) >= self._RECENT or sum(map(len, self.recent)) * 4 >= len(self.merged):
            self.merged = np.sort(np.concatenate([self.merged, *self.recent]))
            self.recent = []


class FileHistory:
    """The whole file's company histories and repeated keys, for a file scored a chunk at a time.

    Built in one pass that reads only what a history needs (ids, periods and the
    panel recipes' inputs, typed as scoring types them; a CSV is parsed for those
    columns only). Rows go to temporary files
    by a hash of their company id, so each part holds whole companies and about a
    million rows; each part's panel features and repeated keys are then computed as
    :func:`riskcore.serving.scoring.score_frame` computes them for a whole file, and written
    back to disk. A chunk reads its own slice of every part. What stays in memory is
    one position per row (8 bytes) and the repeated keys, so memory stays flat
    whatever the file's size.
    """

    _PART_ROWS = 1_000_000

    def __init__(self, bundle: ModelBundle, reader: TableReader, folder: Path, expected_rows: int = 0):
        spec = bundle.spec
        self.spec = spec
        self.names = [pf.name for pf in spec.panel_features]
        self.folder = folder
        self.inputs = list(dict.fromkeys(pf.recipe.inputs[0] for pf in spec.panel_features if pf.recipe))
        wanted = [c for c in (spec.id, spec.time, *self.inputs) if c]
        mapping, _ = match_spec_columns(list(reader.columns), wanted, spec)
        raw = list(dict.fromkeys(mapping.values()))
        self.n_parts = max(1, -(-expected_rows // self._PART_ROWS))  # parts of about _PART_ROWS rows
        self.dtype = np.dtype([("h1", "<u8"), ("h2", "<u8"), ("period", "<f8"), ("row", "<i8"), ("pos", "<i8"),
                               ("flags", "u1")] + [(f"x{j}", "<f8") for j in range(len(self.inputs))])
        files = [open(self._records(p), "wb") for p in range(self.n_parts)]  # noqa: SIM115 - closed below
        chunk_first: list[int] = []
        chunk_len: list[int] = []
        n = 0
        chunks = read_ahead(reader.iter_columns(raw))  # the next chunk is read while this one is hashed
        try:
            for chunk in chunks:
                typed = prepare_frame(Table(frame=chunk.frame, rows=chunk.rows, info=chunk.info), spec).frame
                m = len(typed)
                rec = np.zeros(m, dtype=self.dtype)
                ids = typed[spec.id] if spec.id in typed else pd.Series([None] * m, dtype=object)
                text = ids.to_numpy(dtype=object)
                present = pd.notna(ids).to_numpy()
                filled = np.where(present, text, "").astype(object)
                rec["h1"] = pd.util.hash_array(filled, hash_key="riskcore-hist-01")
                rec["h2"] = pd.util.hash_array(filled, hash_key="riskcore-hist-02")
                lengths = pc.fill_null(pc.utf8_length(pa.array(filled, type=pa.large_string())), 0) \
                    .to_numpy(zero_copy_only=False)
                rec["flags"] = np.where(present, 0, 1) | np.where(lengths > MAX_ID_CHARS, 2, 0)
                rec["period"] = period_numbers(typed[spec.time]) if spec.time in typed else np.nan
                got = history_inputs(typed, spec)
                for j, c in enumerate(self.inputs):
                    rec[f"x{j}"] = got[c] if c in got else np.nan
                rec["row"] = np.asarray(chunk.rows, dtype=np.int64)
                rec["pos"] = np.arange(n, n + m, dtype=np.int64)
                if m:
                    chunk_first.append(int(rec["row"][0]))
                    chunk_len.append(m)
                part = (rec["h1"] % np.uint64(self.n_parts)).astype(np.int64)
                for p in range(self.n_parts):
                    rec[part == p].tofile(files[p])
                n += m
        finally:
            chunks.close()  # waits for the chunk being read
            for fh in files:
                fh.close()
        self.n = n
        self.chunk_first = np.asarray(chunk_first, dtype=np.int64)
        self.chunk_start = np.concatenate([[0], np.cumsum(chunk_len)])[:-1].astype(np.int64) if chunk_len \
            else np.zeros(0, dtype=np.int64)
        self.chunk_len = np.asarray(chunk_len, dtype=np.int64)
        self.part_pos: list[np.ndarray] = []
        dup_rows, dup_first = [], []
        for p in range(self.n_parts):
            pos, rows, first = self._solve(p)
            self.part_pos.append(pos)
            dup_rows.append(rows)
            dup_first.append(first)
        rows_all = np.concatenate(dup_rows)
        order = np.argsort(rows_all, kind="stable")
        self.dup_rows = rows_all[order]
        self.dup_first = np.concatenate(dup_first)[order]

    def _records(self, p: int) -> Path:
        return self.folder / f"rows{p}.bin"

    def _values(self, p: int) -> Path:
        return self.folder / f"panel{p}.f64"

    def _solve(self, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One part: its panel features (to disk, in position order) and its repeated keys."""
        rec = np.fromfile(self._records(p), dtype=self.dtype)
        self._records(p).unlink()
        rec = rec[np.argsort(rec["pos"], kind="stable")]
        m = len(rec)
        empty = (rec["flags"] & 1).astype(bool)
        too_long = (rec["flags"] & 2).astype(bool)
        # a dense company number within the part (the same id text gives the same pair of hashes)
        by_company = np.lexsort((rec["h2"], rec["h1"]))
        h1, h2 = rec["h1"][by_company], rec["h2"][by_company]
        new = np.r_[True, (h1[1:] != h1[:-1]) | (h2[1:] != h2[:-1])] if m else np.zeros(0, dtype=bool)
        company = np.empty(m, dtype=np.int64)
        company[by_company] = np.cumsum(new) - 1
        del h1, h2, by_company, new
        # repeated company and period: every row after the first, in file order (a missing period is one period)
        period = rec["period"]
        period_key = np.where(np.isnan(period), -np.inf, period)
        by_key = np.lexsort((rec["pos"], period_key, company))
        ck, pk = company[by_key], period_key[by_key]
        same = np.r_[False, (ck[1:] == ck[:-1]) & (pk[1:] == pk[:-1])] if m else np.zeros(0, dtype=bool)
        group_start = np.maximum.accumulate(np.where(~same, np.arange(m), 0)) if m else np.zeros(0, dtype=np.int64)
        dup = np.zeros(m, dtype=bool)
        dup[by_key] = same
        first = np.empty(m, dtype=np.int64)
        first[by_key] = rec["row"][by_key][group_start]
        dup &= ~empty
        del ck, pk, same, group_start, by_key
        codes = np.where(empty | too_long | dup, -1, company)
        inputs = {c: rec[f"x{j}"] for j, c in enumerate(self.inputs)}
        with open(self._values(p), "wb") as fh:
            for _, values in iter_panel_arrays(codes, period, inputs, self.spec):
                np.ascontiguousarray(values, dtype=np.float64).tofile(fh)
        return rec["pos"].copy(), rec["row"][dup].copy(), first[dup].copy()

    def _positions(self, rows: np.ndarray) -> tuple[int, int]:
        """The positions of one chunk's rows (a chunk of the same reading, as the first pass saw it)."""
        k = int(np.searchsorted(self.chunk_first, rows[0]))
        if k >= len(self.chunk_first) or self.chunk_first[k] != rows[0] or self.chunk_len[k] != len(rows):
            raise RuntimeError("the file changed between the two passes over it; score it again")
        lo = int(self.chunk_start[k])
        return lo, lo + len(rows)

    def panel(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The panel features of the rows numbered ``rows`` (one chunk, in file order)."""
        out = {name: np.full(len(rows), np.nan) for name in self.names}
        if not len(rows):
            return out
        lo, hi = self._positions(rows)
        for p, pos in enumerate(self.part_pos):
            i0, i1 = np.searchsorted(pos, [lo, hi])
            if i1 <= i0:
                continue
            with open(self._values(p), "rb") as fh:
                for j, name in enumerate(self.names):
                    fh.seek((j * len(pos) + int(i0)) * 8)
                    out[name][pos[i0:i1] - lo] = np.fromfile(fh, dtype=np.float64, count=int(i1 - i0))
        return out

    def duplicates(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which of ``rows`` repeat an earlier row's company and period, and that earlier row's number."""
        dup = np.isin(rows, self.dup_rows)
        first = np.zeros(len(rows), dtype=np.int64)
        if dup.any():
            first[dup] = self.dup_first[np.searchsorted(self.dup_rows, rows[dup])]
        return dup, first
