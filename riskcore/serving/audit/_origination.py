"""Each company's origination PD: the PD the audit trail recorded for its first scored fiscal year.

IFRS 9 compares a company's credit risk now with the risk at origination; the trail holds that as the score of
the company's earliest fiscal year (the input ``year_column`` its scores recorded), from any source. A provisions
run asks for a whole portfolio at once, so the lookup is built for many companies:

1. Which chunks to read. When the trail holds more than :data:`INDEX_SHARE` times as many scores as there are
   ids to look for (their salted hashes too, when the log redacts), the chunks that hold them
   (``audit_ids``, asked in IN lists of :data:`ID_BATCH` ids: under PostgreSQL's 65,535 parameters and SQLite's
   32,766) of requests whose head may list ``year_column``; otherwise every chunk of the requests whose head
   lists it, which the index would name anyway, without sending a million ids to the database.
2. Each chunk decoded with only the columns needed (the row, the company id, the PD, the year and a row's own
   request id: :func:`~riskcore.serving.audit._reading.stored_chunk` with ``columns``; the other columns are
   never decompressed), its years read vectorised (:func:`_years`).
3. The rows with a year gathered in groups (as many rows as ids, within :data:`MIN_GROUP` and
   :data:`GROUP_ROWS`), each group matched to the wanted ids with one Arrow hash lookup (``index_in``: an id's
   first position, so a repeated id counts once), then reduced per company with NumPy: the smallest (year,
   trail position) is one int64 key per row, ``year << 49 | seq``, kept by ``np.minimum.at``; the row whose key
   is then the company's best gives its PD, request and model (request ids and model versions kept as small
   integer codes, turned into text once at the end).

Measured (``benchmarks/origination_bench.py``, 2 cores at load 6): 1,000,000 companies against a request of
1,000,000 scores in 2.1 s on SQLite and 3.3 s on PostgreSQL, the process peaking at 416 MB of which 211 MB were
there before the call (the interpreter, its libraries and the caller's list of ids); 10,000 of them in 0.6 s and
1.0 s. Most of the big lookup is hashing text: the caller's Python strings into Arrow (0.6 s; a pandas text
column or an Arrow array is taken as it is) and one ``index_in`` of a million ids against a million rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select

from riskcore.data.parsing import fiscal_years, parse_dates
from riskcore.errors import AuditError
from riskcore.serving.audit._hashing import kind_of
from riskcore.serving.audit._reading import heads_with, newest_chunks, stored_chunk
from riskcore.serving.audit._redaction import HASH_PREFIX, Redaction
from riskcore.serving.audit._store import AuditStore
from riskcore.serving.audit._tables import INPUT_PREFIX, audit_requests

__all__ = ["GROUP_ROWS", "ID_BATCH", "INDEX_SHARE", "MIN_GROUP", "ORIGINATION_COLUMNS", "read_origination"]

ORIGINATION_COLUMNS: Final = ("company_id", "year", "p_default", "seq", "request_id", "model_version")
ID_BATCH = 10_000  # stored ids per IN list (read at call time: tests lower it)
GROUP_ROWS = 1 << 20  # at most this many rows matched to the wanted ids at once (read at call time: tests lower it)
MIN_GROUP = 1 << 16  # and at least this many, or as many as the ids (read at call time: tests lower it)
INDEX_SHARE = 8  # look ids up in audit_ids when the trail holds this many times more rows (read at call time)
_SEQ_BITS: Final = 49  # trail positions below 2**49; years (1..9999) above them in one int64 key
_NONE: Final = np.iinfo(np.int64).max
_MAX_YEAR: Final = 9999


def read_origination(store: AuditStore, company_ids: Any, year_column: Any,
                     redaction: Redaction | None) -> pd.DataFrame:
    """The first scored fiscal year of each of ``company_ids`` and the PD recorded for it (module notes).

    Returns
    -------
    pandas.DataFrame
        :data:`ORIGINATION_COLUMNS`, one row per company found, in the order of ``company_ids``.

    Raises
    ------
    AuditError
        When an argument is invalid or the store cannot be read.
    """
    if not isinstance(year_column, str) or not year_column:
        raise AuditError(f"year_column={year_column!r} must name the input that holds each score's fiscal year, "
                         "as recorded (e.g. 'year')")
    ids = _text_ids(company_ids)
    # a repeated id is matched at its first position only (index_in gives the first), so it counts once; a
    # redacting log stores an id as its salted hash, looked for at the id's position plus len(ids)
    forms = ids if redaction is None or not len(ids) else pa.concat_arrays([ids, redaction.hash_array("text", ids)])
    best, origins = _Best(len(ids)), _Origins()
    group = _Group(forms, best)
    wanted = [INPUT_PREFIX + year_column, "row", "company_id", "p_default", "request_id"]
    with store.reading(snapshot=True) as conn:
        h = audit_requests.c
        tail = conn.execute(select(h.row_offset + h.n_rows).order_by(h.seq.desc()).limit(1)).scalar()
        if not len(ids):
            chunks = []
        elif len(forms) * INDEX_SHARE < int(tail or 0):
            found: dict[tuple[int, int], Any] = {}
            for start in range(0, len(forms), ID_BATCH):
                batch = forms.slice(start, ID_BATCH).to_pylist()
                for head, chunk in newest_chunks(conn, None, batch, column=year_column):
                    found[(int(head.seq), int(chunk))] = head
            chunks = [(found[key], key[1]) for key in sorted(found)]
        else:
            chunks = [(head, chunk) for head in heads_with(conn, year_column, None) for chunk in range(head.n_chunks)]
        for head, chunk in chunks:
            segment = stored_chunk(conn, head, chunk, wanted)
            if segment is not None and wanted[0] in segment.column_names:
                group.add(head, segment, wanted[0], origins)
    group.flush()
    pa.default_memory_pool().release_unused()
    return _frame(ids, np.flatnonzero(best.key != _NONE), best, origins)


def _text_ids(company_ids: Any) -> pa.Array:
    """The ids as an Arrow text array (a pandas text column without a copy); an AuditError for anything else."""
    shown = type(company_ids).__name__
    if isinstance(company_ids, (str, bytes, dict)) or not hasattr(company_ids, "__len__") or \
            getattr(company_ids, "ndim", 1) != 1:
        raise AuditError(f"company_ids must be a sequence or 1-d array of company ids (text), not {shown}; pass "
                         "e.g. a list or the id column's values")
    try:
        ids = company_ids if isinstance(company_ids, (pa.Array, pa.ChunkedArray)) else pa.array(company_ids)
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type) or pa.types.is_null(ids.type)):
            raise TypeError
        ids = ids.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        ids = None
    if ids is None or ids.null_count:
        items = company_ids.to_pylist() if isinstance(company_ids, (pa.Array, pa.ChunkedArray)) else list(company_ids)
        i = next((i for i, v in enumerate(items) if not isinstance(v, str)), 0)
        raise AuditError(f"company_ids[{i}]={items[i]!r} is not a company id; pass every id as text (a missing "
                         "id cannot be looked up: leave it out)")
    return ids


@dataclass
class _Best:
    """Per position of the wanted ids: its best key so far (``_NONE``: none), the PD and origin of that row."""

    n: int
    key: np.ndarray = field(init=False)
    p_default: np.ndarray = field(init=False)
    origin: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.key = np.full(self.n, _NONE, dtype=np.int64)
        self.p_default = np.full(self.n, np.nan)
        self.origin = np.zeros(self.n, dtype=np.int32)


@dataclass
class _Origins:
    """Each score's request id and model version as one small integer: each pair kept once, not once per row."""

    request_ids: list[str] = field(default_factory=list)
    model_versions: list[str] = field(default_factory=list)

    def of_head(self, head: Any, n: int) -> np.ndarray:
        """The code of ``n`` rows of a head that records one request."""
        self.request_ids.append(head.request_id)
        self.model_versions.append(head.model_version)
        return np.full(n, len(self.request_ids) - 1, dtype=np.int32)

    def of_rows(self, head: Any, request_ids: pa.Array) -> np.ndarray:
        """The codes of rows that keep their own request id (a head of several requests answered together)."""
        encoded = pc.dictionary_encode(request_ids.fill_null(""))
        start = len(self.request_ids)
        self.request_ids.extend(encoded.dictionary.to_pylist())
        self.model_versions.extend([head.model_version] * len(encoded.dictionary))
        return (start + encoded.indices.to_numpy(zero_copy_only=False)).astype(np.int32)


class _Group:
    """Rows with a year, gathered from chunks, matched to the wanted ids and reduced once enough are held.

    Matching builds a hash table of the wanted ids (and hashes) each time, so a group holds at least as many rows
    as there are ids (from :data:`MIN_GROUP` rows, up to :data:`GROUP_ROWS`): the table costs no more than the
    lookups, and few ids matched against large chunks keep little in memory.
    """

    def __init__(self, forms: pa.Array, best: _Best):
        self.forms, self.best = forms, best
        self.limit = min(max(len(forms), MIN_GROUP), GROUP_ROWS)
        self.ids: list[pa.Array] = []
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.rows = 0

    def add(self, head: Any, segment: pa.Table, year_name: str, origins: _Origins) -> None:
        """Keep the rows of one chunk whose year is readable: their ids, keys, PDs and origins."""
        years = _years(segment.column(year_name), kind_of(segment.schema.field(year_name)))
        keep = np.flatnonzero(years > 0)
        if len(keep) == 0:
            return
        every = len(keep) == segment.num_rows
        take = None if every else pa.array(keep)
        ids = segment.column("company_id").combine_chunks()
        self.ids.append(ids if take is None else ids.take(take))
        rows = segment.column("row").to_numpy()
        key = (years[keep].astype(np.int64) << _SEQ_BITS) | (head.row_offset + (rows if every else rows[keep]))
        p = segment.column("p_default").to_numpy()
        if "request_id" in segment.column_names:
            per_row = segment.column("request_id").combine_chunks()
            origin = origins.of_rows(head, per_row if take is None else per_row.take(take))
        else:
            origin = origins.of_head(head, len(keep))
        self.parts.append((key, p if every else p[keep], origin))
        self.rows += len(keep)
        if self.rows >= self.limit:
            self.flush()

    def flush(self) -> None:
        """Match the rows held to the wanted ids and keep each company's smallest key."""
        if not self.rows:
            return
        found = pc.index_in(pa.chunked_array(self.ids, pa.string()), value_set=self.forms)
        self.ids = []
        position = found.fill_null(-1).to_numpy()
        del found
        hit = position >= 0
        key, p, origin = (np.concatenate(column)[hit] for column in zip(*self.parts, strict=True))
        self.parts, self.rows = [], 0
        best = self.best
        owner = position[hit]
        owner[owner >= best.n] -= best.n  # a salted hash: its id's position
        np.minimum.at(best.key, owner, key)
        # keys are unique per score (its trail position), so this picks the one row that holds the best key
        won = key == best.key[owner]
        who = owner[won]
        best.p_default[who], best.origin[who] = p[won], origin[won]


def _years(column: pa.ChunkedArray, kind: str) -> np.ndarray:
    """Each row's fiscal year as a float: a whole number from 1 to 9999, or a date's year; NaN when neither.

    Numbers stored as numbers or as text (``2021``, ``2021.0``) count as they are; a date written as text
    (``2021-12-31``, ``31/12/2021``: :func:`~riskcore.data.parsing.parse_dates`) as its calendar year. Text is
    read once per distinct value; values the log stored as salted hashes are not read.
    """
    arr = column.combine_chunks()
    if kind in ("int", "uint", "float"):
        values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    elif kind in ("text", "json"):
        encoded = pc.dictionary_encode(arr)
        text = pd.Series(encoded.dictionary.to_pylist(), dtype=object).str.strip()
        if kind == "json":  # a text cell of a column of mixed kinds is a JSON string: its quotes go
            text = text.str.strip('"')
        distinct = np.array(pd.to_numeric(text, errors="coerce"), dtype=np.float64)  # writable: dates go in
        dated = np.isnan(distinct) & ~text.str.startswith(HASH_PREFIX).to_numpy(dtype=bool)
        if dated.any():
            dates, _, _ = parse_dates(text[dated].reset_index(drop=True))
            distinct[dated] = fiscal_years(dates)
        values = pc.take(pa.array(distinct, pa.float64()), encoded.indices).to_numpy(zero_copy_only=False)
    else:
        return np.full(len(arr), np.nan)
    with np.errstate(invalid="ignore"):
        ok = (values >= 1) & (values <= _MAX_YEAR) & (values == np.floor(values))
    return np.where(ok, values, np.nan)


def _frame(ids: pa.Array, found: np.ndarray, best: _Best, origins: _Origins) -> pd.DataFrame:
    """The found companies as the documented frame."""
    key, origin = best.key[found], pa.array(best.origin[found], pa.int32())
    return pd.DataFrame({
        "company_id": ids.take(pa.array(found, pa.int64())).cast(pa.large_string()).to_pandas(),
        "year": key >> _SEQ_BITS,
        "p_default": best.p_default[found],
        "seq": key & ((1 << _SEQ_BITS) - 1),
        # each text converted once, then taken per row by Arrow
        "request_id": pc.take(pa.array(origins.request_ids, pa.large_string()), origin).to_pandas(),
        "model_version": pc.take(pa.array(origins.model_versions, pa.large_string()), origin).to_pandas(),
    }, columns=list(ORIGINATION_COLUMNS), copy=False)
