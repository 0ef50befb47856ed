"""The folder an export or an archive of the trail is written to: its files, its manifest and the manifest's digest.

Format ``riskcore-audit-export-v1``; the same for an examiner's export and for an archive::

    manifest.json    what the folder holds: the heads it covers (the head before the first, with its hash; the last
                     head, its hash and the rows through it), every file with its SHA-256 and size, the chunk
                     layouts, the columns of the scores, and the manifest's own digest
    heads.parquet    every head of the stretch, events included, with every stored column
    chunks.parquet   one row per stored chunk: head_seq, chunk, first_row, n_rows, layout (an index into the
                     manifest's layouts: the chunk's stored columns with their kinds and types, in stored order) and
                     chunk_hash (its SHA-256, hex)
    scores/part-NNNNN.parquet
                     one row per score in trail order: seq (trail position), head_seq, ts, request_id, caller,
                     source, model_version, bundle_hash, row, company_id, p_default, decision, grade, reasons,
                     fingerprint, then one ``input:<name>`` column per input of the stretch
    README.txt       these lines, for whoever opens the folder

A chunk's columns are the scores' columns of its rows: ``row`` … ``reasons``, ``request_id`` and ``caller`` when
the chunk kept them per row (a group of API requests), its inputs and ``fingerprint``. An input that was stored
with different types by different requests (whole numbers here, decimals there) is one text column in the scores,
written and read back by Arrow's exact casts; the layout keeps each chunk's own type.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from riskcore.serving.audit._tables import FORMAT

__all__ = ["CHUNKS_FILE", "CHUNK_FIELDS", "EXPORT_FORMAT", "HEADS_FILE", "HEAD_FIELDS", "MANIFEST", "README",
           "README_TEXT", "SCORES_DIR", "SCORE_FIELDS", "arrow_type", "file_sha256", "fsync_folder",
           "manifest_digest", "part_name", "type_name"]

EXPORT_FORMAT: Final = "riskcore-audit-export-v1"
MANIFEST: Final = "manifest.json"
HEADS_FILE: Final = "heads.parquet"
CHUNKS_FILE: Final = "chunks.parquet"
SCORES_DIR: Final = "scores"
README: Final = "README.txt"

HEAD_FIELDS: Final = pa.schema([
    ("seq", pa.int64()), ("ts", pa.string()), ("request_id", pa.string()), ("batch_id", pa.string()),
    ("caller", pa.string()), ("source", pa.string()), ("model_version", pa.string()), ("bundle_hash", pa.string()),
    ("row_offset", pa.int64()), ("n_rows", pa.int64()), ("n_chunks", pa.int64()), ("columns", pa.string()),
    ("digest", pa.string()), ("prev_hash", pa.string()), ("row_hash", pa.string()),
])
CHUNK_FIELDS: Final = pa.schema([
    ("head_seq", pa.int64()), ("chunk", pa.int64()), ("first_row", pa.int64()), ("n_rows", pa.int64()),
    ("layout", pa.int32()), ("chunk_hash", pa.string()),
])
# the scores' own columns; the inputs follow, one per name, in sorted order
SCORE_FIELDS: Final = pa.schema([
    ("seq", pa.int64()), ("head_seq", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")),
    ("request_id", pa.string()), ("caller", pa.string()), ("source", pa.string()), ("model_version", pa.string()),
    ("bundle_hash", pa.string()), ("row", pa.int64()), ("company_id", pa.string()), ("p_default", pa.float64()),
    ("decision", pa.string()), ("grade", pa.string()), ("reasons", pa.string()), ("fingerprint", pa.uint64()),
])

_TYPES: Final = {"int64": pa.int64(), "double": pa.float64(), "string": pa.string(), "bool": pa.bool_(),
                 "uint64": pa.uint64(), "null": pa.null()}

README_TEXT: Final = f"""An export of riskcore's audit trail ({EXPORT_FORMAT}).

scores/    every score of the period, one row each, in trail order (Parquet; read the folder as one table,
           e.g. pandas.read_parquet("scores")): who (caller), when (ts, UTC), the model (model_version,
           bundle_hash), the request (request_id), the outputs (p_default, decision, grade, reasons) and the
           inputs (input:<name>).
heads.parquet    the chained heads of the trail that cover the period, events included.
chunks.parquet   how the scores were stored: the chunks whose hashes make each head's digest.
manifest.json    the heads at both ends, every file's SHA-256, and the manifest's own digest.

Check it without the database:  python -m riskcore audit verify --export <this folder>
It recomputes every row's hash and every link of the chain from these files and names any row that was
edited, deleted or added. It proves the folder is what the trail held up to the last head named in the
manifest; compare that head's hash with the live trail (python -m riskcore audit verify --export <this folder>
--against-trail) or with a copy kept apart, to rule out a folder forged whole.
"""


def type_name(t: pa.DataType) -> str:
    """The name a layout gives an Arrow type."""
    if pa.types.is_large_string(t):
        return "string"
    return str(t)


def arrow_type(name: str) -> pa.DataType | None:
    """The Arrow type a layout names, or None for one this format does not hold."""
    return _TYPES.get(name)


def part_name(index: int) -> str:
    """The path of the scores' part ``index`` inside the folder."""
    return f"{SCORES_DIR}/part-{index:05d}.parquet"


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON (sorted keys, no spaces), its ``digest`` entry left out."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(f"{FORMAT}|manifest|{text}".encode()).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_folder(path: Path) -> None:
    """Make a folder's entries (files created or renamed in it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
