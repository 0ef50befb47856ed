"""Writing a stretch of the trail into a folder an examiner verifies without the database: an export or an archive.

The folder's format is :mod:`riskcore.serving.audit._folder`'s. The writer reads one snapshot of the database, pages
through the heads of the stretch and fetches their chunks in groups of bounded size, and writes the scores with
pyarrow in columnar batches (never a Python object per score). As it goes it checks the stretch as ``verify()``
does: each head's hash and link, its row offset, its chunks and their digest, so a folder is only ever written
from a trail that verifies; the first problem stops it and nothing is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from sqlalchemy import LargeBinary, func, select
from sqlalchemy.engine import Connection

from riskcore.errors import AuditError, ConfigError
from riskcore.serving.audit._anchor import Anchor, latest_anchor
from riskcore.serving.audit._custody import CustodyEvent
from riskcore.serving.audit._driver import fetch_binary, is_psycopg
from riskcore.serving.audit._events import chain_event
from riskcore.serving.audit._folder import (
    CHUNK_FIELDS,
    CHUNKS_FILE,
    EXPORT_FORMAT,
    HEAD_FIELDS,
    HEADS_FILE,
    MANIFEST,
    README,
    README_TEXT,
    SCORE_FIELDS,
    file_sha256,
    fsync_folder,
    manifest_digest,
    part_name,
    type_name,
)
from riskcore.serving.audit._hashing import Unreadable, chunk_hash, decode, digest, fields_of, head_hash, kind_of
from riskcore.serving.audit._store import AuditStore
from riskcore.serving.audit._tables import (
    GENESIS_HASH,
    HEAD_COLUMNS,
    INPUT_PREFIX,
    ROW_REQUEST_COLUMNS,
    audit_requests,
    audit_segments,
    utc_now,
)

__all__ = ["AuditExport", "FolderKind", "Layouts", "export_trail", "head_at", "new_folder", "remove_folder",
           "utc_bound", "write_stretch"]

FolderKind = Literal["export", "archive"]
PART_ROWS = 1_000_000  # scores per part file (read at call time: tests lower it)
ROW_GROUP_ROWS = 131_072  # scores buffered before they are written as one row group
FETCH_BYTES = 32 << 20  # stored chunk bytes fetched per query
HEADS_PER_PAGE = 1024
COMPRESSION: Final = "zstd"
_PREFIX = 1 << 16  # the bytes of a stored chunk read to learn its columns (an Arrow stream starts with its schema)
# the chunk columns that are not inputs, with the scores' type each must have
_OWN = {name: SCORE_FIELDS.field(name).type for name in
        ("row", "company_id", "p_default", "decision", "grade", "reasons", "fingerprint", *ROW_REQUEST_COLUMNS)}
_HEAD_SELECT = select(*(audit_requests.c[name] for name in (*HEAD_COLUMNS, "row_hash")))

Layout = tuple[tuple[str, str, str], ...]  # a chunk's stored columns: (name, kind, type), in stored order


@dataclass(frozen=True)
class AuditExport:
    """A folder written from the trail: what it holds and the chain heads that cover it.

    Attributes
    ----------
    folder : where it is.
    kind : ``export`` (an examiner's period) or ``archive`` (heads moved out of the live database).
    first_seq, last_seq : the heads it holds (events included).
    heads, requests, rows : how many heads, heads with scores, and scores.
    before_hash : the hash of the head before ``first_seq`` (64 zeros for the first head of the trail).
    last_hash : the hash of head ``last_seq``.
    last_rows : the scores recorded in the trail through head ``last_seq``.
    digest : the manifest's digest.
    bytes : the folder's size.
    window : the period asked for, in words.
    custody_seq : where the trail recorded this export or archive (its custody record's head; 0 before).
    """

    folder: Path
    kind: FolderKind
    first_seq: int
    last_seq: int
    heads: int
    requests: int
    rows: int
    before_hash: str
    last_hash: str
    last_rows: int
    digest: str
    bytes: int
    window: str
    custody_seq: int = 0

    def summary(self) -> str:
        """A few lines for a person: what was written, and the heads to compare with the live trail."""
        return (f"Wrote {self.folder} ({self.kind}, {self.window}): {self.rows:,} scores of {self.requests:,} "
                f"requests, heads {self.first_seq:,}–{self.last_seq:,} ({self.heads:,} heads, events included), "
                f"{self.bytes / 2**20:,.1f} MB\n"
                f"  chained from head {self.first_seq - 1:,} (hash {self.before_hash})\n"
                f"  to head {self.last_seq:,} (hash {self.last_hash}, {self.last_rows:,} rows through it)\n"
                f"  manifest digest {self.digest}"
                + (f"; recorded in the trail at head {self.custody_seq:,}" if self.custody_seq else ""))


def utc_bound(name: str, value: object) -> str:
    """An ISO 8601 date or time as the trail writes its times (UTC, to the microsecond); a ConfigError otherwise."""
    try:
        stamp = pd.Timestamp(value if isinstance(value, datetime) else str(value))
    except ValueError:
        stamp = None
    if stamp is None or pd.isna(stamp):
        raise ConfigError(f"{name}={value!r} is not a date or time; write it as 2026-01-31 or 2026-01-31T12:00 (UTC)")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return str(stamp.isoformat(timespec="microseconds"))


def new_folder(out: Path) -> Path:
    """Refuse an ``out`` that holds anything; return the hidden folder beside it that the writer fills first."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{str(out)!r} already exists and is not an empty folder; name a new folder to write to")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the folder {str(out.parent)!r}: {err.strerror or err}; name a writable "
                          "place") from None
    return out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"


def head_at(conn: Connection, seq: int, anchor: Anchor | None) -> tuple[str, int] | None:
    """The hash of head ``seq`` and the rows through it, from the live chain, the anchor, or the genesis."""
    if seq == 0:
        return GENESIS_HASH, 0
    if anchor is not None and seq == anchor.seq:
        return anchor.row_hash, anchor.rows
    h = audit_requests.c
    found = conn.execute(select(h.row_hash, h.row_offset + h.n_rows).where(h.seq == seq)).first()
    return None if found is None else (str(found[0]), int(found[1]))


class Layouts:
    """The chunk layouts of a stretch and the type each input gets in the scores (read before writing them)."""

    def __init__(self) -> None:
        self.index: dict[Layout, int] = {}
        self.types: dict[str, set[str]] = {}

    def add(self, schema: pa.Schema) -> int:
        """The layout's index of a chunk with ``schema``; an AuditError for a column this format cannot hold."""
        layout = tuple((f.name, kind_of(f), type_name(f.type)) for f in schema)
        found = self.index.get(layout)
        if found is not None:
            return found
        for name, _, tname in layout:
            if name.startswith(INPUT_PREFIX):
                self.types.setdefault(name, set()).add(tname)
            elif name not in _OWN or type_name(_OWN[name]) != tname:
                raise AuditError(f"a stored chunk has the column {name!r} of type {tname}, which an export cannot "
                                 "hold; run python -m riskcore audit verify")
        self.index[layout] = len(self.index)
        return self.index[layout]

    def input_type(self, name: str) -> pa.DataType:
        """The scores' type of an input: its stored type when every request stored it alike, else text."""
        kinds = self.types[name] - {"null"}
        if not kinds:
            return pa.float64()
        if len(kinds) == 1:
            only = next(iter(kinds))
            return pa.string() if only == "string" else pa.type_for_alias(only)
        return pa.string()  # Arrow's casts to text and back are exact for numbers and booleans

    def schema(self) -> pa.Schema:
        """The scores' schema: their own columns, then the inputs in sorted order."""
        return pa.schema([*SCORE_FIELDS, *((name, self.input_type(name)) for name in sorted(self.types))])

    def listed(self) -> list[list[list[str]]]:
        """The layouts as the manifest lists them."""
        return [[list(column) for column in layout] for layout in self.index]


@dataclass
class _Head:
    """One head of the stretch, as the writer needs it."""

    seq: int
    ts: str
    request_id: str
    batch_id: str
    caller: str
    source: str
    model_version: str
    bundle_hash: str
    row_offset: int
    n_rows: int
    n_chunks: int
    digest: str
    row_hash: str


class _Scores:
    """The scores' part files: conformed batches buffered into row groups, a new part every ``PART_ROWS``."""

    def __init__(self, folder: Path, schema: pa.Schema):
        self.folder, self.schema = folder, schema
        self.parts: list[tuple[str, int]] = []
        self._writer: pq.ParquetWriter | None = None
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._in_part = 0
        (folder / part_name(0)).parent.mkdir(parents=True, exist_ok=True)

    def add(self, table: pa.Table) -> None:
        self._buffer.append(table)
        self._buffered += table.num_rows
        if self._buffered >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._writer is None or self._in_part >= PART_ROWS:
            self._next_part()
        assert self._writer is not None
        if self._buffer:
            table = pa.concat_tables(self._buffer)
            self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            self._in_part += table.num_rows
            self.parts[-1] = (self.parts[-1][0], self._in_part)
        self._buffer, self._buffered = [], 0

    def _next_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
        name = part_name(len(self.parts))
        self._writer = pq.ParquetWriter(self.folder / name, self.schema, compression=COMPRESSION)
        self.parts.append((name, 0))
        self._in_part = 0

    def close(self) -> None:
        self._flush()
        if self._writer is not None:
            self._writer.close()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()


class _Rows:
    """Parquet rows written from Python values a page at a time (the heads, the chunks: one per request at most)."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.schema = schema
        self.rows = 0
        self._writer = pq.ParquetWriter(path, schema, compression=COMPRESSION)

    def add(self, columns: Sequence[list[Any]]) -> None:
        if columns and columns[0]:
            self._writer.write_table(pa.Table.from_arrays([pa.array(c, f.type) for c, f in
                                                           zip(columns, self.schema, strict=True)], schema=self.schema))
            self.rows += len(columns[0])

    def close(self) -> None:
        self._writer.close()


def _refuse(head: Any, why: str) -> AuditError:
    return AuditError(f"request {head.request_id} (head {head.seq}) {why}, so the trail fails verification and "
                      "nothing was written; run python -m riskcore audit verify")


def _read_layouts(conn: Connection, first: int, last: int) -> Layouts:
    """Every chunk layout of heads ``first``–``last``, from the start of each stored chunk."""
    s, h = audit_segments.c, audit_requests.c
    query = (select(s.batch_id, s.chunk, func.substr(s.data, 1, _PREFIX, type_=LargeBinary))
             .join_from(audit_segments, audit_requests, s.batch_id == h.batch_id)
             .where(h.seq.between(first, last)))
    layouts = Layouts()
    for batch_id, chunk, prefix in conn.execution_options(yield_per=4096).execute(query):
        try:
            schema = ipc.open_stream(pa.py_buffer(bytes(prefix))).schema
        except (pa.ArrowInvalid, OSError, ValueError):  # the schema is longer than the prefix, or the chunk unreadable
            data = conn.execute(select(s.data).where(s.batch_id == batch_id, s.chunk == chunk)).scalar_one()
            try:
                schema = decode(bytes(data), batch_id, int(chunk)).schema
            except Unreadable as err:
                raise AuditError(f"{err}; nothing was written") from None
        layouts.add(schema)
    return layouts


def _pages(conn: Connection, first: int, last: int) -> Iterator[tuple[Sequence[Any], list[_Head]]]:
    """The heads ``first``–``last``, a page at a time: as stored (for their hashes) and as the writer uses them."""
    h = audit_requests.c
    after = first - 1
    while after < last:
        found = conn.execute(_HEAD_SELECT.where(h.seq > after, h.seq <= last).order_by(h.seq)
                             .limit(HEADS_PER_PAGE)).all()
        if not found:
            return
        yield found, [_Head(int(r.seq), str(r.ts), str(r.request_id), str(r.batch_id), str(r.caller), str(r.source),
                            str(r.model_version), str(r.bundle_hash), int(r.row_offset), int(r.n_rows),
                            int(r.n_chunks), str(r.digest), str(r.row_hash)) for r in found]
        after = int(found[-1].seq)


def _check_chain(page: Sequence[Any], heads: list[_Head], state: dict[str, Any]) -> None:
    """Check each head's hash, link and offset as ``verify()`` does; raise on the first problem."""
    for raw, head in zip(page, heads, strict=True):
        values = tuple(raw)
        if head.seq != state["seq"] + 1:
            raise _refuse(head, f"follows head {state['seq']}: head {state['seq'] + 1} is missing")
        if head_hash(values[:-1]) != head.row_hash:
            raise _refuse(head, "was altered: its hash does not match its contents")
        if values[-2] != state["hash"]:
            raise _refuse(head, f"is not linked to head {head.seq - 1}")
        if head.row_offset != state["rows"]:
            raise _refuse(head, f"starts after trail row {head.row_offset} but the requests before it hold "
                                f"{state['rows']} rows")
        state.update(seq=head.seq, hash=head.row_hash, rows=head.row_offset + head.n_rows)


Span = tuple[str, int, int, bool]  # a request's chunks fetched together: batch_id, first and last chunk, its last span


def _fetch_plan(conn: Connection, heads: list[_Head]) -> Iterator[list[Span]]:
    """Groups of spans whose stored bytes stay near ``FETCH_BYTES`` (a large request split), in trail order."""
    s = audit_segments.c
    stored = [head for head in heads if head.n_chunks]
    sizes: dict[str, list[tuple[int, int]]] = {}
    for start in range(0, len(stored), 512):
        ids = [head.batch_id for head in stored[start:start + 512]]
        for batch_id, chunk, size in conn.execute(select(s.batch_id, s.chunk, func.length(s.data))
                                                  .where(s.batch_id.in_(ids))):
            sizes.setdefault(str(batch_id), []).append((int(chunk), int(size)))
    group: list[Span] = []
    total = 0
    for head in stored:
        chunks = sorted(sizes.get(head.batch_id, []))
        lo = 0
        for i, (chunk, size) in enumerate(chunks):
            total += size
            if total >= FETCH_BYTES and i < len(chunks) - 1:
                group.append((head.batch_id, lo, chunk, False))
                yield group
                group, total, lo = [], 0, chunk + 1
        group.append((head.batch_id, lo, max(head.n_chunks, chunks[-1][0] + 1 if chunks else 0), True))
        if total >= FETCH_BYTES or len(group) >= 512:
            yield group
            group, total = [], 0
    if group:
        yield group


def _fetch(conn: Connection, group: list[Span]) -> dict[str, list[Any]]:
    """The stored chunks of a group (``chunk``, ``first_row``, ``n_rows``, ``data``), by request, in chunk order."""
    s = audit_segments.c
    query = select(s.batch_id, s.chunk, s.first_row, s.n_rows, s.data)
    whole = [b for b, lo, _, last in group if lo == 0 and last]
    queries = [query.where(s.batch_id.in_(whole))] if whole else []
    queries += [query.where(s.batch_id == b, s.chunk.between(lo, hi)) for b, lo, hi, last in group
                if not (lo == 0 and last)]
    found: dict[str, list[Any]] = {}
    for q in queries:
        for row in (fetch_binary(conn, q) if is_psycopg(conn) else conn.execute(q).all()):
            found.setdefault(str(row.batch_id), []).append(row)
    for rows in found.values():
        rows.sort(key=lambda r: int(r.chunk))
    return found


def _ts_micros(ts: str) -> int:
    stamp = datetime.fromisoformat(ts)
    return int(pd.Timestamp(stamp).value // 1000)


def _conform(tables: list[pa.Table], heads: list[_Head], layout: Layout, schema: pa.Schema) -> pa.Table:
    """Chunks of one layout as rows of the scores: the head's columns repeated, absent inputs missing."""
    ns = np.array([t.num_rows for t in tables], dtype=np.int64)
    n = int(ns.sum())
    which = pa.array(np.repeat(np.arange(len(tables)), ns))
    names = {name for name, _, _ in layout}

    def stored(name: str) -> pa.ChunkedArray:
        return pa.chunked_array([c for t in tables for c in t.column(name).chunks], tables[0].schema.field(name).type)

    def per_head(values: list[Any], t: pa.DataType) -> pa.Array:
        return pa.array(values, t).take(which)

    rows = stored("row")
    offsets = np.repeat(np.array([h.row_offset for h in heads], dtype=np.int64), ns)
    columns: dict[str, Any] = {
        "seq": pa.array(rows.to_numpy() + offsets, pa.int64()),
        "head_seq": pa.array(np.repeat(np.array([h.seq for h in heads], dtype=np.int64), ns)),
        "ts": pa.array(np.repeat(np.array([_ts_micros(h.ts) for h in heads], dtype=np.int64), ns))
        .cast(pa.timestamp("us", tz="UTC")),
        "source": per_head([h.source for h in heads], pa.string()),
        "model_version": per_head([h.model_version for h in heads], pa.string()),
        "bundle_hash": per_head([h.bundle_hash for h in heads], pa.string()),
        "row": rows,
    }
    for name in ROW_REQUEST_COLUMNS:
        columns[name] = stored(name) if name in names else per_head([getattr(h, name) for h in heads], pa.string())
    for name in ("company_id", "p_default", "decision", "grade", "reasons", "fingerprint"):
        columns[name] = stored(name)
    arrays = []
    for field in schema:
        if field.name in columns:
            arrays.append(columns[field.name])
        elif field.name in names:
            arr = stored(field.name)
            arrays.append(arr if arr.type == field.type else arr.cast(field.type))
        else:
            arrays.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_stretch(conn: Connection, folder: Path, first: int, last: int, *, anchor: Anchor | None, kind: FolderKind,
                  window: str, actor: str, trail: str) -> AuditExport:
    """Write heads ``first``–``last`` (whole requests, events included) into ``folder``, checking them on the way.

    ``conn`` reads one snapshot; ``anchor`` is where the live chain starts. Raises an AuditError naming the
    request when the stretch fails verification; the caller then removes ``folder``.
    """
    before = head_at(conn, first - 1, anchor)
    if before is None:
        raise AuditError(f"head {first - 1}, which head {first} links to, is not in the trail; run python -m "
                         "riskcore audit verify")
    layouts = _read_layouts(conn, first, last)
    schema = layouts.schema()
    folder.mkdir(parents=True)
    writer = _Writer(folder, layouts, schema)
    state: dict[str, Any] = {"seq": first - 1, "hash": before[0], "rows": before[1]}
    first_ts = last_ts = ""
    try:
        for page, heads in _pages(conn, first, last):
            _check_chain(page, heads, state)
            writer.heads.add([[tuple(r)[i] for r in page] for i in range(len(HEAD_FIELDS))])
            first_ts, last_ts = first_ts or heads[0].ts, heads[-1].ts
            writer.count(heads)
            for group in _fetch_plan(conn, heads):
                writer.write(group, _fetch(conn, group), {h.batch_id: h for h in heads})
            writer.end_page()
        if state["seq"] != last:
            raise AuditError(f"head {state['seq'] + 1} is missing from the trail; run python -m riskcore audit verify")
    except BaseException:
        writer.abort()
        raise
    writer.close()
    (folder / README).write_text(README_TEXT, encoding="utf-8")
    files: dict[str, dict[str, Any]] = {}
    for name, rows in [(HEADS_FILE, writer.heads.rows), (CHUNKS_FILE, writer.chunks.rows), *writer.scores.parts,
                       (README, None)]:
        path = folder / name
        files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size,
                       **({"rows": rows} if rows is not None else {})}
    h = audit_requests.c
    live = conn.execute(select(h.seq, h.row_hash, h.row_offset + h.n_rows).order_by(h.seq.desc()).limit(1)).first()
    manifest: dict[str, Any] = {
        "format": EXPORT_FORMAT, "kind": kind, "window": window, "written": utc_now(), "written_by": actor,
        "trail": trail,
        "chain": {"before": {"seq": first - 1, "row_hash": before[0], "rows": before[1]},
                  "first": {"seq": first, "ts": first_ts},
                  "last": {"seq": last, "row_hash": state["hash"], "rows": state["rows"], "ts": last_ts}},
        "live_end": None if live is None else {"seq": int(live[0]), "row_hash": str(live[1]), "rows": int(live[2])},
        "counts": writer.counts, "layouts": layouts.listed(),
        "columns": [[f.name, type_name(f.type)] for f in schema], "files": files,
    }
    manifest["digest"] = manifest_digest(manifest)
    _write_durably(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for name in files:
        _fsync_file(folder / name)
    fsync_folder((folder / part_name(0)).parent)
    fsync_folder(folder)
    size = sum(f["bytes"] for f in files.values()) + (folder / MANIFEST).stat().st_size
    return AuditExport(folder=folder, kind=kind, first_seq=first, last_seq=last, heads=writer.counts["heads"],
                       requests=writer.counts["requests"], rows=writer.counts["rows"], before_hash=before[0],
                       last_hash=state["hash"], last_rows=state["rows"], digest=manifest["digest"], bytes=size,
                       window=window)


class _Writer:
    """The three tables of a folder being written; checks each request's chunks against its digest."""

    def __init__(self, folder: Path, layouts: Layouts, schema: pa.Schema):
        self.layouts, self.schema = layouts, schema
        self.known = len(layouts.index)
        self.layout_of = {index: layout for layout, index in layouts.index.items()}
        self.heads = _Rows(folder / HEADS_FILE, HEAD_FIELDS)
        self.chunks = _Rows(folder / CHUNKS_FILE, CHUNK_FIELDS)
        self.scores = _Scores(folder, schema)
        self.counts = {"heads": 0, "requests": 0, "events": 0, "chunks": 0, "rows": 0}
        self._progress: dict[str, tuple[int, int, list[bytes]]] = {}  # batch_id: next chunk, next row, chunk hashes
        self._pending: list[tuple[pa.Table, _Head]] = []
        self._pending_rows = 0
        self._layout: Layout | None = None
        self._chunk_rows: list[list[Any]] = [[] for _ in CHUNK_FIELDS]

    def count(self, heads: list[_Head]) -> None:
        self.counts["heads"] += len(heads)
        self.counts["requests"] += sum(1 for h in heads if h.n_rows)
        self.counts["events"] += sum(1 for h in heads if not h.n_chunks)

    def write(self, group: list[Span], found: dict[str, list[Any]], by_batch: dict[str, _Head]) -> None:
        """Check and buffer the chunks of one fetched group."""
        for batch_id, _, _, last in group:
            head = by_batch[batch_id]
            k, next_row, hashes = self._progress.pop(batch_id, (0, 1, []))
            for seg in found.get(batch_id, []):
                if int(seg.chunk) != k or int(seg.first_row) != next_row:
                    raise _refuse(head, f"lacks its chunk {k} (rows from {next_row})")
                try:
                    table = decode(bytes(seg.data), head.request_id, k)
                except Unreadable as err:
                    raise AuditError(f"{err}; nothing was written") from None
                if table.num_rows != int(seg.n_rows):
                    raise _refuse(head, f"has a chunk {k} of {table.num_rows} rows stored as {seg.n_rows}")
                hashes.append(chunk_hash(next_row, fields_of(table)))
                self._add(table, head, k, next_row, hashes[-1])
                k, next_row = k + 1, next_row + table.num_rows
            if not last:
                self._progress[batch_id] = (k, next_row, hashes)
                continue
            if k != head.n_chunks or next_row - 1 != head.n_rows:
                raise _refuse(head, f"has {k} chunks of {next_row - 1} rows stored, not the {head.n_chunks} "
                                    f"chunks of {head.n_rows} rows its head records")
            if digest(hashes, head.n_rows) != head.digest:
                raise _refuse(head, "has stored scores that do not match the digest in its head")

    def _add(self, table: pa.Table, head: _Head, k: int, first_row: int, chunk_digest: bytes) -> None:
        index = self.layouts.add(table.schema)
        if index >= self.known:
            raise AuditError(f"request {head.request_id} chunk {k} changed while it was read; export again")
        layout = self.layout_of[index]
        if layout != self._layout or self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()
            self._layout = layout
        self._pending.append((table, head))
        self._pending_rows += table.num_rows
        for column, value in zip(self._chunk_rows, (head.seq, k, first_row, table.num_rows, index,
                                                    chunk_digest.hex()), strict=True):
            column.append(value)
        self.counts["chunks"] += 1
        self.counts["rows"] += table.num_rows

    def _flush(self) -> None:
        if self._pending and self._layout is not None:
            self.scores.add(_conform([t for t, _ in self._pending], [h for _, h in self._pending], self._layout,
                                     self.schema))
        self._pending, self._pending_rows, self._layout = [], 0, None

    def end_page(self) -> None:
        """Write the chunk rows of a page of heads (the scores stay buffered up to a row group)."""
        self.chunks.add(self._chunk_rows)
        self._chunk_rows = [[] for _ in CHUNK_FIELDS]

    def close(self) -> None:
        """Write what is buffered and close the files."""
        self._flush()
        self.end_page()
        self.heads.close()
        self.chunks.close()
        self.scores.close()

    def abort(self) -> None:
        """Close the files without writing what is buffered (the folder is removed next)."""
        self.heads.close()
        self.chunks.close()
        self.scores.abort()


def _write_durably(path: Path, text: str) -> None:
    """Write a small file and make it durable before returning."""
    with path.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_folder(folder: Path) -> None:
    """Remove a folder the writer left (an interrupted or refused write); missing is fine."""
    shutil.rmtree(folder, ignore_errors=True)


def _window(conn: Connection, since: str, until: str, anchor: Anchor | None, asked: str) -> tuple[int, int]:
    """The heads of a period: from the first recorded at or after ``since`` to the last recorded before ``until``."""
    h = audit_requests.c
    live_from = anchor.seq + 1 if anchor is not None else 1
    if anchor is not None and since <= anchor.ts:
        raise ConfigError(f"the period {asked} begins before {anchor.ts}: the trail's requests up to then were "
                          f"archived (the newest into {anchor.archive!r}), and an archive is itself an export an "
                          "examiner verifies (python -m riskcore audit verify --export FOLDER); export the live trail "
                          f"from after {anchor.ts[:10]} on")
    first = conn.execute(select(func.min(h.seq)).where(h.seq >= live_from, h.ts >= since)).scalar()
    last = conn.execute(select(func.max(h.seq)).where(h.seq >= live_from, h.ts < until)).scalar()
    if first is None or last is None or int(first) > int(last):
        span = conn.execute(select(func.min(h.ts), func.max(h.ts)).where(h.seq >= live_from)).one()
        held = f"the live trail holds requests from {span[0]} to {span[1]}" if span[0] else "the live trail is empty"
        raise ConfigError(f"no request was recorded in the period {asked}; {held}")
    return int(first), int(last)


def export_trail(store: AuditStore, out: Path, *, since: str, until: str, actor: str) -> AuditExport:
    """Write every head recorded in a period into the folder ``out``, then record the export in the trail.

    The folder is filled under a hidden name beside ``out`` and renamed onto it once written and recorded, so
    ``out`` never holds half an export. Raises ConfigError for a bad period or folder, AuditError when the trail
    cannot be read or written or the period fails verification.
    """
    lo, hi = utc_bound("since", since), utc_bound("until", until)
    asked = f"{since} to {until}"
    if lo >= hi:
        raise ConfigError(f"the period {asked} is empty: until must come after since")
    partial = new_folder(out)
    try:
        with store.reading(snapshot=True) as conn:
            anchor = latest_anchor(conn)
            first, last = _window(conn, lo, hi, anchor, asked)
            written = write_stretch(conn, partial, first, last, anchor=anchor, kind="export", window=asked,
                                    actor=actor, trail=store.url)
        recorded = chain_event(store, CustodyEvent(
            event="exported", actor=actor, first_seq=first, last_seq=last, rows=written.rows,
            last_hash=written.last_hash, digest=written.digest, folder=out.name, window=asked))
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(partial, out)
        fsync_folder(out.parent)
    except BaseException:
        remove_folder(partial)
        raise
    return replace(written, folder=out, custody_seq=recorded.seq)
