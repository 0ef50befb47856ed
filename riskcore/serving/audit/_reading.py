"""Reading the audit trail: the newest scores first, one company's, or those whose input has a value, with inputs."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.engine import Connection

import riskcore.serving.audit._tables as tables  # HEADS_PAGE read at call time
from riskcore.serving.audit._driver import fetch_binary, is_psycopg
from riskcore.serving.audit._hashing import decode, kind_of
from riskcore.serving.audit._redaction import HASH_PREFIX
from riskcore.serving.audit._store import AuditStore
from riskcore.serving.audit._tables import (
    FIND_COLUMNS,
    HEAD_JSON,
    INPUT_PREFIX,
    INPUTS_JSON,
    REASON_SEPARATOR,
    RECENT_COLUMNS,
    audit_ids,
    audit_requests,
    audit_segments,
)

__all__ = ["heads_with", "newest_chunks", "read_matches", "read_rows", "read_scored", "stored_chunk"]

_META = tuple(audit_requests.c[name] for name in ("seq", "ts", "request_id", "batch_id", "caller", "source",
                                                   "model_version", "bundle_hash", "row_offset", "n_chunks"))


def newest_chunks(conn: Connection, source: str | None, company_ids: list[str] | None,
                  column: str | None = None) -> Iterator[tuple[Any, int]]:
    """(head, chunk) pairs of committed requests (holding one of ``company_ids`` when given), newest first.

    ``column``: only requests whose head may list that input (the text matched; the chunk's columns decide).
    """
    h = audit_requests.c
    meta = _META
    if company_ids is not None:
        i = audit_ids.c
        stmt = (select(*meta, i.chunk).join_from(audit_ids, audit_requests, i.batch_id == h.batch_id)
                .where(i.company_id.in_(company_ids)).order_by(h.seq.desc(), i.chunk.desc()))
        if len(company_ids) > 1:  # a key and its hash: a chunk holding both is read once
            stmt = stmt.distinct()
        if source is not None:
            stmt = stmt.where(h.source == source)
        if column is not None:
            stmt = stmt.where(h.columns.contains(HEAD_JSON.encode(column), autoescape=True))
        for found in conn.execute(stmt).all():
            yield found, found.chunk
        return
    before: int | None = None
    while True:
        stmt = select(*meta).order_by(h.seq.desc()).limit(tables.HEADS_PAGE)
        if source is not None:
            stmt = stmt.where(h.source == source)
        if column is not None:
            stmt = stmt.where(h.columns.contains(HEAD_JSON.encode(column), autoescape=True))
        if before is not None:
            stmt = stmt.where(h.seq < before)
        heads = conn.execute(stmt).all()
        if not heads:
            return
        for head in heads:
            for chunk in range(head.n_chunks - 1, -1, -1):
                yield head, chunk
        before = heads[-1].seq


def _rows_of(head: Any, segment: pa.Table, match: np.ndarray | None, limit: float,
             with_inputs: bool) -> list[tuple[Any, ...]]:
    """The rows of one chunk where ``match`` holds (all when None), newest first, as FIND_COLUMNS tuples."""
    positions = np.arange(segment.num_rows)[::-1]
    if match is not None:
        positions = positions[match[::-1]]
    if limit != math.inf:
        positions = positions[: int(limit)]
    picked = segment.take(pa.array(positions, pa.int64()))
    json_inputs = {f.name for f in segment.schema if kind_of(f) == "json"}
    out = []
    for row in picked.to_pylist():
        inputs = {}
        for name, value in row.items():
            if name.startswith(INPUT_PREFIX):
                inputs[name[len(INPUT_PREFIX):]] = json.loads(value) if name in json_inputs and value else value
        reasons = row["reasons"] or ""
        # a head that records several requests answered together keeps each row's request id and caller
        item = (head.row_offset + row["row"], head.ts, row.get("request_id", head.request_id),
                row.get("caller", head.caller), head.source, head.model_version,
                head.bundle_hash, row["company_id"], row["p_default"], row["decision"], row["grade"],
                reasons.split(REASON_SEPARATOR) if reasons else [],
                hashlib.sha256(INPUTS_JSON.encode(inputs).encode()).hexdigest())
        out.append((*item, inputs) if with_inputs else item)
    return out


def stored_chunk(conn: Connection, head: Any, chunk: int, columns: Sequence[str] | None = None) -> pa.Table | None:
    """One stored chunk of a committed request, decoded; None when it is not stored (``verify()`` says why).

    ``columns``: decode only these (see :func:`~riskcore.serving.audit._hashing.decode`).
    """
    query = select(audit_segments.c.data).where(audit_segments.c.batch_id == head.batch_id,
                                                audit_segments.c.chunk == chunk)
    if is_psycopg(conn):
        found = fetch_binary(conn, query)
        data = found[0].data if found else None
    else:
        data = conn.execute(query).scalar()
    return None if data is None else decode(data, head.request_id, chunk, columns)


def _isin(values: pa.ChunkedArray | pa.Array, wanted: list[str]) -> np.ndarray:
    """Per row, whether its value is one of ``wanted`` (text compared exactly; missing values never match)."""
    return pc.fill_null(pc.is_in(values, value_set=pa.array(wanted, pa.string())), False).to_numpy(
        zero_copy_only=False)


def read_rows(store: AuditStore, limit: int | None, source: str | None, company_ids: list[str] | None, *,
              with_inputs: bool) -> pd.DataFrame:
    """The newest committed scores (of one company: stored under one of ``company_ids``), as ``recent`` returns them."""
    wanted = math.inf if limit is None else limit
    out: list[tuple[Any, ...]] = []
    with store.reading() as conn:
        for head, chunk in newest_chunks(conn, source, company_ids):
            if len(out) >= wanted:
                break
            segment = stored_chunk(conn, head, chunk)
            if segment is None:
                continue
            match = None if company_ids is None else _isin(segment.column("company_id"), company_ids)
            out.extend(_rows_of(head, segment, match, wanted - len(out), with_inputs))
    return _frame(out, with_inputs)


def read_matches(store: AuditStore, column: str, values: list[str], limit: int | None, source: str | None,
                 own_prefix: str | None) -> tuple[pd.DataFrame, int, bool]:
    """The newest committed scores whose input ``column`` holds one of ``values`` exactly, with their inputs.

    Only the requests that recorded the column are read (their heads list it), every chunk of each: an input
    has no index, unlike the company id.

    Returns
    -------
    (frame, other_keys, recorded)
        The scores as :meth:`AuditLog.find` returns them; how many values of the column read were hashed with a
        salt whose prefix is not ``own_prefix`` (0 when ``own_prefix`` is None); whether any request recorded
        the column at all.
    """
    wanted = math.inf if limit is None else limit
    name = INPUT_PREFIX + column
    out: list[tuple[Any, ...]] = []
    other_keys = 0
    recorded = False
    with store.reading() as conn:
        for head in heads_with(conn, column, source):
            recorded = True
            for chunk in range(head.n_chunks - 1, -1, -1):
                if len(out) >= wanted:
                    return _frame(out, True), other_keys, recorded
                segment = stored_chunk(conn, head, chunk)
                if segment is None or name not in segment.column_names:
                    continue
                stored = segment.column(name)
                if not pa.types.is_string(stored.type):
                    stored = pc.cast(stored, pa.string())  # a number stored unredacted is found by its text
                elif own_prefix is not None:
                    hashed = pc.fill_null(pc.starts_with(stored, HASH_PREFIX), False)
                    ours = pc.fill_null(pc.starts_with(stored, own_prefix), False)
                    other_keys += int(pc.sum(pc.and_not(hashed, ours)).as_py() or 0)
                out.extend(_rows_of(head, segment, _isin(stored, values), wanted - len(out), True))
    return _frame(out, True), other_keys, recorded


def heads_with(conn: Connection, column: str, source: str | None) -> Iterator[Any]:
    """The heads of committed requests that recorded the input ``column``, newest first, a page at a time."""
    h = audit_requests.c
    before: int | None = None
    while True:
        stmt = (select(*_META, h.columns).where(h.columns.contains(HEAD_JSON.encode(column), autoescape=True))
                .order_by(h.seq.desc()).limit(tables.HEADS_PAGE))
        if source is not None:
            stmt = stmt.where(h.source == source)
        if before is not None:
            stmt = stmt.where(h.seq < before)
        heads = conn.execute(stmt).all()
        if not heads:
            return
        # the text may have matched inside another name's quotes: the list itself decides
        yield from (head for head in heads if column in json.loads(head.columns))
        before = heads[-1].seq


def _frame(out: list[tuple[Any, ...]], with_inputs: bool) -> pd.DataFrame:
    """Rows read as the frame :meth:`AuditLog.recent` (or ``find``) returns."""
    columns = list(FIND_COLUMNS if with_inputs else RECENT_COLUMNS)
    frame = pd.DataFrame(out, columns=columns)
    frame["seq"] = frame["seq"].astype("int64")
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    frame["p_default"] = frame["p_default"].astype(float)
    return frame


def read_scored(store: AuditStore, model_version: str, since: str | None, until: str | None) -> pd.DataFrame:
    """Every score a model version gave in a time window, with its inputs, oldest first.

    Parameters
    ----------
    store : the audit trail's store.
    model_version : the model whose scores are read.
    since, until : ISO 8601 times (or dates) bounding the requests' commit time, ``since <= ts < until``.

    Returns
    -------
    pandas.DataFrame
        ``seq``, ``ts``, ``_company_id``, ``_p_default``, ``_grade`` (the recorded key and score; an input may be
        called ``company_id`` too), ``_source`` (``shadow`` for a score that decided nothing), ``_request_id`` and
        one column per recorded input, under its own name.
    """
    h = audit_requests.c
    stmt = select(h.seq, h.ts, h.request_id, h.batch_id, h.n_chunks, h.source).where(h.model_version == model_version)
    if since:
        stmt = stmt.where(h.ts >= since)
    if until:
        stmt = stmt.where(h.ts < until)
    frames = []
    with store.reading() as conn:
        for head in conn.execute(stmt.order_by(h.seq)).all():
            for chunk in range(head.n_chunks):
                segment = stored_chunk(conn, head, chunk)
                if segment is None:
                    continue
                frame = segment.select([c for c in segment.column_names
                                        if c in ("company_id", "p_default", "grade") or c.startswith(INPUT_PREFIX)])
                # the recorded key and score keep a leading underscore: an input may have the same name (company_id)
                frame = frame.rename_columns([c.removeprefix(INPUT_PREFIX) if c.startswith(INPUT_PREFIX) else f"_{c}"
                                              for c in frame.column_names]).to_pandas()
                # a head that records several requests answered together keeps each row's request id
                request_ids = (segment.column("request_id").to_numpy(zero_copy_only=False)
                               if "request_id" in segment.column_names else head.request_id)
                frames.append(frame.assign(seq=int(head.seq), ts=head.ts, _source=head.source,
                                           _request_id=request_ids))
    if not frames:
        return pd.DataFrame(columns=["seq", "ts", "_company_id", "_p_default", "_grade", "_source", "_request_id"])
    return pd.concat(frames, ignore_index=True)
