"""Verifying an export or an archive of the trail offline: from its files alone, without the database.

:func:`examine_export` reads a folder written by :mod:`riskcore.serving.audit._export` and recomputes everything
the trail's hashes cover: the manifest's digest and every file's SHA-256; every head's hash, its link to the one
before and its row offset, from the head before the folder's first (the manifest's ``before``) to its last; every
chunk's SHA-256 from the scores' own columns, cast back to the chunk's stored types, and each request's digest
over them, compared with its head's. Each score's columns that no hash covers (its trail position, time, source,
model, and request and caller where its head holds them) are compared with its head. A row deleted from the
scores, added to them or edited is named with its request, row and company; an edit is located by the row's
64-bit fingerprint (detection rests on the SHA-256 digests, as in ``verify()``).

What it proves: the folder is exactly what the trail held from the head after ``before`` to the ``last`` head
its manifest names. What it cannot: that those heads are the trail's. Someone who rewrote a whole folder and
recomputed every hash and the manifest's digest makes a folder that verifies; comparing the last head's hash
(printed) with the live trail, or with a copy kept apart, rules that out (``--against-trail``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskcore.errors import DataFileError
from riskcore.serving.audit._folder import (
    CHUNK_FIELDS,
    CHUNKS_FILE,
    EXPORT_FORMAT,
    HEAD_FIELDS,
    HEADS_FILE,
    MANIFEST,
    SCORES_DIR,
    arrow_type,
    file_sha256,
    manifest_digest,
)
from riskcore.serving.audit._hashing import chunk_hash, digest, fingerprints, head_hash
from riskcore.serving.audit._tables import GENESIS_HASH, ROW_REQUEST_COLUMNS

__all__ = ["ExportCheck", "Finding", "FindingKind", "examine_export"]

FindingKind = Literal["manifest", "file", "head", "chunk", "altered", "missing", "added"]
_STREAM_BATCH = 65_536


@dataclass(frozen=True)
class Finding:
    """One thing wrong with an export, as precisely as it can be named.

    ``kind``: ``manifest`` (its digest or content), ``file`` (a file altered, missing or added), ``head`` (a
    head's hash, link or offset), ``chunk`` (how the scores were stored), or for one score ``altered``,
    ``missing`` (deleted from the export) or ``added``. ``head_seq``, ``row``, ``request_id`` and ``company_id``
    name the score when there is one.
    """

    kind: FindingKind
    message: str
    head_seq: int | None = None
    row: int | None = None
    request_id: str | None = None
    company_id: str | None = None


@dataclass(frozen=True)
class ExportCheck:
    """The outcome of verifying an export or archive folder offline.

    ``ok`` when nothing was found. ``first_seq``–``last_seq`` are the heads the manifest says it holds,
    ``before_hash`` the hash of the head before them, ``last_hash`` and ``last_rows`` the last head's hash and
    the scores through it: compare those with the live trail. ``digest`` is the manifest's digest as recomputed.
    ``findings`` lists at most ``limit`` problems; ``more`` counts the others. ``trail`` says what a comparison
    with the live trail found (empty when none was made).
    """

    ok: bool
    message: str
    folder: Path
    kind: str = ""
    window: str = ""
    first_seq: int = 0
    last_seq: int = 0
    heads: int = 0
    rows: int = 0
    before_hash: str = ""
    last_hash: str = ""
    last_rows: int = 0
    digest: str = ""
    findings: tuple[Finding, ...] = ()
    more: int = 0
    trail: str = ""

    def summary(self, shown: int = 20) -> str:
        """The message, then the first ``shown`` findings, one a line."""
        lines = [self.message, *(f"  {f.message}" for f in self.findings[:shown])]
        hidden = len(self.findings) - shown + self.more
        if hidden > 0:
            lines.append(f"  … and {hidden:,} more")
        if self.trail:
            lines.append(self.trail)
        return "\n".join(lines)


@dataclass
class _Findings:
    limit: int
    found: list[Finding] = field(default_factory=list)
    more: int = 0

    def add(self, kind: FindingKind, message: str, **where: Any) -> None:
        if len(self.found) < self.limit:
            self.found.append(Finding(kind, message, **where))
        else:
            self.more += 1


@dataclass
class _Head:
    seq: int
    ts_us: int
    values: dict[str, Any]
    chunks: list[int] = field(default_factory=list)  # indexes into the chunk table
    start: int = 0  # the position of its first score among all the export's scores
    hashes: list[bytes | None] = field(default_factory=list)
    described: bool = True  # chunks.parquet covers its rows chunk by chunk
    complete: bool = True  # every score present and readable
    recorded_match: bool = True  # every recomputed chunk hash equals the one chunks.parquet records
    named: int = 0  # rows named altered


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise DataFileError(f"{str(folder)!r} is not a folder; name the folder an audit export or archive was "
                            "written to")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFileError(f"{str(folder)!r} holds no {MANIFEST}, so it is not an audit export; name the folder "
                            "python -m riskcore audit export or archive wrote") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataFileError(f"the {MANIFEST} of {str(folder)!r} cannot be read ({err}); the export is damaged: "
                            "ask for it again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise DataFileError(f"the {MANIFEST} of {str(folder)!r} is not an audit export's (format "
                            f"{EXPORT_FORMAT!r} expected)")
    return manifest


def _check_files(folder: Path, manifest: dict[str, Any], found: _Findings) -> None:
    """Every listed file with its SHA-256 and size; no other file."""
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        found.add("manifest", "the manifest lists no files")
        return
    for name, entry in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            found.add("file", f"{name} is missing from the export (the manifest lists it)")
        elif not isinstance(entry, dict) or file_sha256(path) != entry.get("sha256"):
            found.add("file", f"{name} was altered: its SHA-256 is not the one in the manifest")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    for name in sorted(present - set(listed) - {MANIFEST}):
        found.add("file", f"{name} was added to the export: the manifest does not list it")


def _table(folder: Path, name: str, found: _Findings, columns: list[str] | None = None) -> pa.Table | None:
    try:
        return pq.read_table(folder / name, columns=columns)
    except (OSError, pa.ArrowInvalid, ValueError) as err:
        found.add("file", f"{name} cannot be read ({err})")
        return None


def _ts_us(ts: str) -> int:
    return int(pd.Timestamp(datetime.fromisoformat(ts)).value // 1000)


def _walk_heads(heads: pa.Table, chain: dict[str, Any], found: _Findings) -> list[_Head]:
    """Recompute every head's hash and link, from the manifest's ``before`` to its ``last``."""
    before, last = chain["before"], chain["last"]
    expected, prev, total = int(before["seq"]) + 1, str(before["row_hash"]), int(before["rows"])
    out: list[_Head] = []
    names = HEAD_FIELDS.names
    for raw in heads.select(names).to_pylist():
        values = tuple(raw[n] for n in names)
        seq, rid = raw["seq"], raw["request_id"]
        where = {"head_seq": seq, "request_id": rid}
        if seq != expected:
            found.add("head", f"head {expected} is missing: head {expected - 1} is followed by head {seq}"
                      if seq > expected else f"head {seq} (request {rid}) is out of place: head {expected} was "
                      "expected", **where)
        try:
            recomputed = head_hash(values[:-1])
        except (TypeError, ValueError):
            recomputed = ""
        if recomputed != raw["row_hash"]:
            found.add("head", f"request {rid} (head {seq}) was altered: its hash does not match its contents",
                      **where)
        elif raw["prev_hash"] != prev:
            found.add("head", f"request {rid} (head {seq}) is not linked to head {seq - 1}: its prev_hash is not "
                      f"that head's hash", **where)
        if raw["row_offset"] != total:
            found.add("head", f"request {rid} (head {seq}) starts after trail row {raw['row_offset']} but the "
                      f"heads before it hold {total} rows, so rows were deleted or added", **where)
        try:
            ts_us = _ts_us(raw["ts"])
        except (TypeError, ValueError):
            found.add("head", f"request {rid} (head {seq}) has an unreadable time {raw['ts']!r}", **where)
            ts_us = 0
        out.append(_Head(seq, ts_us, raw))
        expected, prev, total = int(seq) + 1, str(raw["row_hash"]), int(raw["row_offset"]) + int(raw["n_rows"])
    if not out:
        found.add("head", "heads.parquet holds no head")
    elif (out[-1].seq, prev, total) != (last["seq"], last["row_hash"], last["rows"]):
        found.add("manifest", f"the manifest's last head ({last['seq']}, hash {last['row_hash']}, {last['rows']} "
                  f"rows) is not heads.parquet's ({out[-1].seq}, hash {prev}, {total} rows)")
    return out


def _place_chunks(heads: list[_Head], chunks: pa.Table, n_layouts: int, found: _Findings) -> dict[str, np.ndarray]:
    """Attach each chunk to its head; a chunk table that does not cover its heads' rows is named."""
    cols = {name: chunks.column(name).to_numpy(zero_copy_only=False) for name in CHUNK_FIELDS.names}
    by_seq = {h.seq: h for h in heads}
    for i, seq in enumerate(cols["head_seq"].tolist()):
        head = by_seq.get(seq)
        if head is None:
            found.add("chunk", f"chunks.parquet names head {seq}, which is not in the export")
        else:
            head.chunks.append(i)
    for head in heads:
        rid, n_rows, n_chunks = head.values["request_id"], head.values["n_rows"], head.values["n_chunks"]
        ks = [int(cols["chunk"][i]) for i in head.chunks]
        next_row, ok = 1, ks == list(range(n_chunks))
        for i in head.chunks:
            ok = ok and int(cols["first_row"][i]) == next_row and 0 <= int(cols["layout"][i]) < n_layouts
            next_row += int(cols["n_rows"][i])
        if not ok or next_row - 1 != n_rows:
            found.add("chunk", f"request {rid} (head {head.seq}): chunks.parquet does not describe its {n_chunks} "
                      f"chunks of {n_rows} rows", head_seq=head.seq, request_id=rid)
            head.described = head.complete = False
    return cols


class _Stream:
    """The scores of every part, in order, handed out a contiguous slice at a time."""

    def __init__(self, paths: list[Path]):
        self._batches = (b for p in paths for b in pq.ParquetFile(p).iter_batches(batch_size=_STREAM_BATCH))
        self._held: list[pa.RecordBatch] = []
        self._start = 0  # position of the first held row
        self._end = 0

    def take(self, start: int, n: int) -> pa.Table:
        while self._end < start + n:
            batch = next(self._batches)
            self._held.append(batch)
            self._end += batch.num_rows
        while self._held and self._start + self._held[0].num_rows <= start:
            self._start += self._held.pop(0).num_rows
        return pa.Table.from_batches(self._held).slice(start - self._start, n)


def _fields(rows: pa.Table, layout: list[list[str]], where: str, found: _Findings) -> list[tuple[str, str, pa.Array]]:
    """A chunk's stored columns rebuilt from its scores, in stored order, with their stored types."""
    out = []
    for name, kind, tname in layout:
        if name not in rows.column_names:
            found.add("file", f"the scores lack the column {name!r} that {where} stored")
            return []
        arr = rows.column(name).combine_chunks()
        want = arrow_type(tname)
        if want is None:
            found.add("manifest", f"the manifest gives {where}'s column {name!r} the unknown type {tname!r}")
            return []
        if arr.type != want:
            try:
                arr = pa.nulls(len(arr), want) if pa.types.is_null(want) and arr.null_count == len(arr) \
                    else arr.cast(want)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                found.add("altered", f"{where}: the values of {name!r} cannot be read back as {tname}, as they "
                          "were stored, so they were altered")
                return []
        out.append((name, kind, arr))
    return out


def _check_chunk(head: _Head, i: int, rows: pa.Table, positions: np.ndarray | None, cols: dict[str, np.ndarray],
                 layouts: list[list[list[str]]], found: _Findings) -> None:
    """Check one chunk's scores against its head and recompute its hash; name what differs."""
    rid = head.values["request_id"]
    k, first_row, n = int(cols["chunk"][i]), int(cols["first_row"][i]), int(cols["n_rows"][i])
    layout = layouts[int(cols["layout"][i])]
    where = f"request {rid} chunk {k}"
    complete = positions is None or bool((positions >= 0).all())
    if positions is not None:
        rows = rows.take(pa.array(positions[positions >= 0]))
        row_numbers = first_row + np.flatnonzero(positions >= 0)
    else:
        row_numbers = first_row + np.arange(n)
    head.complete = head.complete and complete
    if rows.num_rows == 0:
        head.hashes.append(None)
        return
    ids = rows.column("company_id") if "company_id" in rows.column_names else pa.nulls(rows.num_rows, pa.string())

    def name(j: int, what: str) -> None:
        row = int(row_numbers[j])
        company = ids[j].as_py()
        found.add("altered", f"request {rid} row {row} (trail position {head.values['row_offset'] + row}, company "
                  f"{company!r}) was altered: {what}", head_seq=head.seq, row=row, request_id=rid,
                  company_id=company)

    _check_denormalised(head, rows, layout, name, found)
    fields = _fields(rows, layout, where, found)
    if not fields:
        head.complete = False
        head.hashes.append(None)
        return
    recomputed = chunk_hash(first_row, fields) if complete else None
    head.hashes.append(recomputed)
    if recomputed is not None and recomputed.hex() == cols["chunk_hash"][i]:
        return
    if recomputed is not None:
        head.recorded_match = False
    stored = dict((f[0], f[2]) for f in fields).get("fingerprint")
    if stored is None:
        return
    again = fingerprints([f for f in fields if f[0] != "fingerprint"])
    for j in np.flatnonzero(stored.to_numpy(zero_copy_only=False) != again):
        head.named += 1
        name(int(j), "its values do not match its fingerprint")


def _check_denormalised(head: _Head, rows: pa.Table, layout: list[list[str]], name: Any, found: _Findings) -> None:
    """The columns no chunk hash covers must be their head's: position, time, source, model, request and caller."""
    values = head.values
    stored = {column for column, _, _ in layout}
    expected: dict[str, Any] = {"head_seq": pa.scalar(head.seq, pa.int64()),
                                "ts": pa.scalar(head.ts_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                                "source": values["source"], "model_version": values["model_version"],
                                "bundle_hash": values["bundle_hash"]}
    for column in ROW_REQUEST_COLUMNS:
        if column not in stored:
            expected[column] = values[column]
    checks: list[tuple[str, Any]] = []
    if "seq" in rows.column_names and "row" in rows.column_names:
        checks.append(("seq", pc.add(rows.column("row"), pa.scalar(values["row_offset"], pa.int64()))))
    checks += list(expected.items())
    for column, want in checks:
        if column not in rows.column_names:
            found.add("file", f"the scores lack the column {column!r}")
            continue
        try:
            same = pc.fill_null(pc.equal(rows.column(column), want), False).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            same = np.zeros(rows.num_rows, dtype=bool)
        for j in np.flatnonzero(~same):
            head.named += 1
            name(int(j), f"its {column} is not its head's")


def _score_keys(paths: list[Path], found: _Findings) -> tuple[np.ndarray, np.ndarray] | None:
    heads, rows = [], []
    for path in paths:
        try:
            table = pq.read_table(path, columns=["head_seq", "row"])
        except (OSError, pa.ArrowInvalid, ValueError, KeyError) as err:
            found.add("file", f"{path.parent.name}/{path.name} cannot be read as scores ({err})")
            return None
        heads.append(table.column("head_seq").to_numpy())
        rows.append(table.column("row").to_numpy())
    if not heads:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(heads).astype(np.int64), np.concatenate(rows).astype(np.int64)


def _expected_keys(heads: list[_Head]) -> tuple[np.ndarray, np.ndarray]:
    counts = np.array([h.values["n_rows"] for h in heads], dtype=np.int64)
    start = 0
    for h, c in zip(heads, counts.tolist(), strict=True):
        h.start = start
        start += c
    head_seq = np.repeat(np.array([h.seq for h in heads], dtype=np.int64), counts)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return head_seq, np.arange(len(head_seq), dtype=np.int64) - offsets + 1


def _positions(heads: list[_Head], expected: tuple[np.ndarray, np.ndarray], actual: tuple[np.ndarray, np.ndarray],
               companies: pa.Array, found: _Findings) -> np.ndarray:
    """For each expected score its position among the export's scores (-1: missing); names missing and added rows."""
    by_seq = {h.seq: h for h in heads}
    file = pd.DataFrame({"h": actual[0], "r": actual[1], "pos": np.arange(len(actual[0]))})
    twice = file.duplicated(["h", "r"], keep="first").to_numpy()
    want = pd.DataFrame({"h": expected[0], "r": expected[1]})
    merged = want.merge(file[~twice], on=["h", "r"], how="left")
    positions = merged["pos"].fillna(-1).to_numpy().astype(np.int64)
    known = pd.MultiIndex.from_frame(want).isin(pd.MultiIndex.from_frame(file[["h", "r"]][~twice]))
    for j in np.flatnonzero(~known):
        seq, row = int(expected[0][j]), int(expected[1][j])
        head = by_seq[seq]
        rid = head.values["request_id"]
        found.add("missing", f"request {rid} row {row} (trail position {head.values['row_offset'] + row}) is "
                  "missing: it was deleted from the export", head_seq=seq, row=row, request_id=rid)
    used = np.zeros(len(file), dtype=bool)
    used[positions[positions >= 0]] = True
    for p in np.flatnonzero(~used):
        seq, row = int(actual[0][p]), int(actual[1][p])
        company = companies[int(p)].as_py()
        owner = by_seq.get(seq)
        if owner is None:
            what = f"a score of head {seq}, which is not in the export"
            rid = None
        else:
            rid = owner.values["request_id"]
            what = (f"a second request {rid} row {row}" if twice[p] else
                    f"request {rid} row {row}, which its head does not hold ({owner.values['n_rows']} rows)")
        found.add("added", f"a row was added to the export: {what} (company {company!r})", head_seq=seq, row=row,
                  request_id=rid, company_id=company)
    return positions


def _score_paths(folder: Path, manifest: dict[str, Any]) -> list[Path]:
    listed = manifest["files"] if isinstance(manifest.get("files"), dict) else {}
    names = sorted(n for n in listed if n.startswith(f"{SCORES_DIR}/"))
    return [folder / n for n in names if (folder / n).is_file()]


def _each_chunk(heads: list[_Head], cols: dict[str, np.ndarray]) -> Iterator[tuple[_Head, int, int]]:
    """(head, chunk index, position of its first score) of every chunk that chunks.parquet describes."""
    for head in heads:
        if not head.described:
            continue
        for i in head.chunks:
            yield head, i, head.start + int(cols["first_row"][i]) - 1


def examine_export(folder: str | os.PathLike[str], *, limit: int = 200) -> ExportCheck:
    """Verify an export or archive folder from its files alone (see the module docstring).

    Parameters
    ----------
    folder : the folder ``audit export`` or ``audit archive`` wrote.
    limit : at most this many findings are kept (the others are counted).

    Returns
    -------
    ExportCheck

    Raises
    ------
    DataFileError
        When ``folder`` is not an audit export (no readable manifest of this format).
    """
    folder = Path(folder)
    manifest = _read_manifest(folder)
    found = _Findings(limit)
    stated = str(manifest.get("digest", ""))
    recomputed = manifest_digest(manifest)
    if stated != recomputed:
        found.add("manifest", "the manifest was altered: its digest does not match its contents")
    _check_files(folder, manifest, found)
    try:
        chain = manifest["chain"]
        first, last = int(chain["first"]["seq"]), int(chain["last"]["seq"])
        before_hash = str(chain["before"]["row_hash"])
        layouts = list(manifest["layouts"])
        int(chain["before"]["seq"]), int(chain["before"]["rows"]), int(chain["last"]["rows"])
    except (KeyError, TypeError, ValueError):
        found.add("manifest", "the manifest lacks the chain heads or layouts it must name")
        return _result(folder, manifest, found, recomputed)
    heads_table = _table(folder, HEADS_FILE, found)
    chunks = _table(folder, CHUNKS_FILE, found)
    paths = _score_paths(folder, manifest)
    if heads_table is None or chunks is None or not set(HEAD_FIELDS.names) <= set(heads_table.column_names) \
            or not set(CHUNK_FIELDS.names) <= set(chunks.column_names):
        found.add("file", "heads.parquet or chunks.parquet lacks its columns; nothing more can be checked")
        return _result(folder, manifest, found, recomputed)
    heads = _walk_heads(heads_table, chain, found)
    cols = _place_chunks(heads, chunks, len(layouts), found)
    cols["chunk_hash"] = np.array(chunks.column("chunk_hash").to_pylist(), dtype=object)
    expected = _expected_keys(heads)
    actual = _score_keys(paths, found)
    if actual is None:
        return _result(folder, manifest, found, recomputed)
    if len(actual[0]) == len(expected[0]) and np.array_equal(actual[0], expected[0]) \
            and np.array_equal(actual[1], expected[1]) and all(h.described for h in heads):
        stream = _Stream(paths)
        for head, i, start in _each_chunk(heads, cols):
            _check_chunk(head, i, stream.take(start, int(cols["n_rows"][i])), None, cols, layouts, found)
    else:
        everything = pa.concat_tables([pq.read_table(p) for p in paths], promote_options="permissive") \
            if paths else pa.table({"company_id": pa.array([], pa.string())})
        positions = _positions(heads, expected, actual, everything.column("company_id").combine_chunks(), found)
        for head, i, start in _each_chunk(heads, cols):
            n = int(cols["n_rows"][i])
            _check_chunk(head, i, everything, positions[start:start + n], cols, layouts, found)
    for head in heads:
        _check_digest(head, found)
    return _result(folder, manifest, found, recomputed, first=first, last=last, heads=len(heads),
                   rows=len(expected[0]), before_hash=before_hash)


def _check_digest(head: _Head, found: _Findings) -> None:
    """A request's digest over its recomputed chunk hashes must be its head's."""
    values = head.values
    if not values["n_chunks"] or not head.complete or any(h is None for h in head.hashes):
        return
    hashes = [h for h in head.hashes if h is not None]
    rid = values["request_id"]
    if digest(hashes, values["n_rows"]) == values["digest"]:
        if not head.recorded_match:
            found.add("chunk", f"chunks.parquet was altered: it records hashes for request {rid} (head {head.seq}) "
                      "that are not those of its scores, which match its head", head_seq=head.seq, request_id=rid)
        return
    if not head.named:
        found.add("altered", f"request {rid} (head {head.seq}) was altered: its scores (trail rows "
                  f"{values['row_offset'] + 1}–{values['row_offset'] + values['n_rows']}) do not match the digest "
                  "in its head, and no single row could be named (their fingerprints were rewritten too)",
                  head_seq=head.seq, request_id=rid)


def _result(folder: Path, manifest: dict[str, Any], found: _Findings, recomputed: str, *, first: int = 0,
            last: int = 0, heads: int = 0, rows: int = 0, before_hash: str = "") -> ExportCheck:
    chain = manifest["chain"] if isinstance(manifest.get("chain"), dict) else {}
    last_head = chain["last"] if isinstance(chain.get("last"), dict) else {}
    last_hash, last_rows = str(last_head.get("row_hash", "")), int(last_head.get("rows", 0) or 0)
    kind, window = str(manifest.get("kind", "")), str(manifest.get("window", ""))
    if not found.found:
        start = "the first head of the trail" if before_hash == GENESIS_HASH else \
            f"head {first - 1:,} (hash {before_hash})"
        message = (f"{kind} intact: {rows:,} scores, heads {first:,}–{last:,} ({heads:,} heads), chained from "
                   f"{start} to head {last:,} (hash {last_hash}, {last_rows:,} rows through it); manifest digest "
                   f"{recomputed}. Compare head {last:,}'s hash with the live trail to rule out a forged folder "
                   "(--against-trail)")
    else:
        total = len(found.found) + found.more
        named = next((f for f in found.found if f.kind not in ("file", "manifest")), found.found[0])
        message = f"{kind or 'export'} altered: {total:,} problem(s) found, e.g. {named.message}"
    return ExportCheck(ok=not found.found, message=message, folder=folder, kind=kind, window=window,
                       first_seq=first, last_seq=last, heads=heads, rows=rows, before_hash=before_hash,
                       last_hash=last_hash, last_rows=last_rows, digest=recomputed, findings=tuple(found.found),
                       more=found.more)
