"""Hashes and fingerprints of the audit trail's chunks and heads, and the chunks' stored bytes.

Each chunk has a SHA-256 over its canonical columnar bytes; a request head's
digest is a SHA-256 over its chunk hashes; every row carries a 64-bit
fingerprint (splitmix64 over its columns) that lets ``verify`` name an altered
row. See :mod:`riskcore.serving.audit` for the design and the threat model.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from riskcore.errors import AuditError
from riskcore.serving.audit._tables import FORMAT, HEAD_JSON, INPUT_PREFIX

__all__ = ["COMPRESS_FROM_ROWS", "FEW_ROWS", "Unreadable", "chunk_hash", "decode", "digest", "encode",
           "few_fingerprints", "fields_of", "fingerprints", "head_hash", "kind_of", "value_chunk_hash",
           "value_fingerprints", "vector_fingerprints"]

_IPC_OPTIONS = ipc.IpcWriteOptions(compression="lz4")  # measured: 3× faster than zstd, 20% larger
_IPC_PLAIN = ipc.IpcWriteOptions()
COMPRESS_FROM_ROWS = 256
"""Chunks of fewer rows are stored uncompressed: LZ4 costs ~40 µs per column buffer whatever its size, so it took
1.4 ms of an API request's 3.5 ms audit write for a one-company chunk it made larger, not smaller. Readers
do not care: an Arrow IPC stream says per message whether it is compressed."""


def kind_of(field: pa.Field) -> str:
    """The canonical kind of a stored segment column."""
    t = field.type
    if field.name.startswith(INPUT_PREFIX) and field.metadata and field.metadata.get(b"kind") == b"json":
        return "json"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_unsigned_integer(t):
        return "uint"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_boolean(t):
        return "bool"
    return "text"


def encode(segment: pa.Table) -> bytes:
    """The stored bytes of a chunk: an Arrow IPC stream, LZ4-compressed from :data:`COMPRESS_FROM_ROWS` rows."""
    sink = pa.BufferOutputStream()
    options = _IPC_OPTIONS if segment.num_rows >= COMPRESS_FROM_ROWS else _IPC_PLAIN
    with ipc.new_stream(sink, segment.schema, options=options) as writer:
        writer.write_table(segment)
    return sink.getvalue().to_pybytes()


def decode(data: bytes, request_id: str, chunk: int, columns: Sequence[str] | None = None) -> pa.Table:
    """A stored chunk read back; :class:`Unreadable` (an AuditError naming the chunk) when it cannot be.

    ``columns``: only these are decoded (those the chunk lacks are left out), the others' buffers are never
    decompressed: a reader of three columns of a wide request does not pay for its fifty inputs.
    """
    try:
        buffer = pa.py_buffer(data)
        reader = ipc.open_stream(buffer)
        if columns is not None:
            names = reader.schema.names
            keep = [names.index(name) for name in columns if name in names]
            if not keep:  # no field would mean every field to Arrow
                return pa.table({})
            reader = ipc.open_stream(buffer, options=ipc.IpcReadOptions(included_fields=keep))
        return reader.read_all()
    except (pa.ArrowInvalid, OSError, ValueError) as err:
        raise Unreadable(f"request {request_id} chunk {chunk} cannot be read ({err}); "
                          "run verify() to check the audit trail") from None


class Unreadable(AuditError):
    """A stored chunk whose bytes are not an Arrow stream (altered, or truncated)."""


def fields_of(segment: pa.Table) -> list[tuple[str, str, pa.Array]]:
    """The stored columns as (name, kind, array), in stored order."""
    out = []
    for field, column in zip(segment.schema, segment.columns, strict=True):
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        out.append((field.name, kind_of(field), arr))
    return out


def chunk_hash(first_row: int, fields: Sequence[tuple[str, str, pa.Array]]) -> bytes:
    """SHA-256 of a chunk's canonical columnar bytes: a JSON header, then per column validity and values."""
    n = len(fields[0][2]) if fields else 0
    h = hashlib.sha256(f"{FORMAT}|chunk|".encode())
    h.update(HEAD_JSON.encode([first_row, n, [[name, kind] for name, kind, _ in fields]]).encode())
    for _, kind, arr in fields:
        if arr.null_count:
            h.update(b"\x01")
            h.update(pc.is_valid(arr).to_numpy(zero_copy_only=False).view(np.uint8).tobytes())
            arr = arr.fill_null("" if kind in ("text", "json") else False if kind == "bool" else 0)
        else:
            h.update(b"\x00")
        if kind in ("text", "json"):
            lengths, data = _text_buffers(arr)
            h.update(lengths.astype("<i8").tobytes())
            h.update(data)
        elif kind == "bool":
            h.update(arr.to_numpy(zero_copy_only=False).view(np.uint8).tobytes())
        else:
            h.update(np.ascontiguousarray(arr.to_numpy(zero_copy_only=False)).astype(
                "<f8" if kind == "float" else "<u8" if kind == "uint" else "<i8", copy=False).tobytes())
    return h.digest()


def digest(chunk_hashes: Sequence[bytes], n_rows: int) -> str:
    """A request head's digest: SHA-256 over its row count, its chunk count and its chunks' hashes in order."""
    h = hashlib.sha256(f"{FORMAT}|request|{n_rows}|{len(chunk_hashes)}|".encode())
    for one in chunk_hashes:
        h.update(one)
    return h.hexdigest()


def _text_buffers(arr: pa.Array) -> tuple[np.ndarray, memoryview]:
    """Lengths (int64) and the contiguous UTF-8 bytes of a string array without nulls."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=arr.offset + len(arr) + 1)[arr.offset:]
    data = arr.buffers()[2]
    raw = memoryview(data)[int(offsets[0]):int(offsets[-1])] if data is not None else memoryview(b"")
    return np.diff(offsets).astype(np.int64), raw


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_NULL_WORD = np.uint64(0x9E3779B97F4A7C15)
_POW_BASE = np.uint64(0x100000001B3)
_powers = np.ones(1, dtype=np.uint64)  # _POW_BASE ** k for k < len(_powers); grown by _powers_upto only
_powers_lock = threading.Lock()


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place."""
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def _powers_upto(size: int) -> np.ndarray:
    """``_POW_BASE ** k`` (mod 2**64) for k below at least ``size``: the shared table, grown under a lock.

    The API fingerprints chunks in several threads at once. A thread keeps the table it read, and the
    global only ever grows, so a thread that checked the length of the table never indexes a shorter one.
    """
    global _powers
    powers = _powers
    if len(powers) < size:
        with _powers_lock:
            powers = _powers
            if len(powers) < size:
                powers = np.cumprod(np.concatenate([[np.uint64(1)], np.full(size - 1, _POW_BASE)]), dtype=np.uint64)
                _powers = powers
    return powers


def _words(kind: str, arr: pa.Array) -> np.ndarray:
    """One 64-bit word per row that changes when the row's value changes (missing values get their own word)."""
    n = len(arr)
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False) if arr.null_count else None
    if kind in ("text", "json"):
        filled = arr.fill_null("") if arr.null_count else arr
        lengths, data = _text_buffers(filled)
        powers = _powers_upto(int(lengths.max(initial=0)) + 1)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        pos = np.arange(len(data), dtype=np.int64) - np.repeat(starts, lengths)
        weighted = np.frombuffer(data, dtype=np.uint8).astype(np.uint64) * powers[pos]
        sums = np.concatenate([[np.uint64(0)], np.cumsum(weighted, dtype=np.uint64)])
        words = sums[starts + lengths] - sums[starts]
        words += lengths.astype(np.uint64) * _M1
    elif kind == "bool":
        words = arr.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint64)
    else:
        values = (arr.fill_null(0) if arr.null_count else arr).to_numpy(zero_copy_only=False)
        words = np.ascontiguousarray(values).astype(
            np.float64 if kind == "float" else np.uint64 if kind == "uint" else np.int64, copy=False).view(np.uint64)
        if valid is not None:
            words = words.copy()
    if valid is not None:
        words[~valid] = _NULL_WORD
    return words[:n]


def fingerprints(fields: Sequence[tuple[str, str, pa.Array]]) -> np.ndarray:
    """A 64-bit fingerprint per row over all the given columns (order matters), computed for the whole chunk.

    A chunk of a few rows (one API request) is fingerprinted with Python
    integers: NumPy's per-call overhead, times eight calls per column, costs
    more than the arithmetic. Both ways give the same words.
    """
    if fields and len(fields[0][2]) <= FEW_ROWS:
        return np.array(few_fingerprints(fields), dtype=np.uint64)
    return vector_fingerprints(fields)


def vector_fingerprints(fields: Sequence[tuple[str, str, pa.Array]]) -> np.ndarray:
    """:func:`fingerprints` with NumPy, one column at a time over every row."""
    with np.errstate(over="ignore"):
        acc = np.full(len(fields[0][2]), _NULL_WORD, dtype=np.uint64)
        for j, (_, kind, arr) in enumerate(fields):
            acc ^= _words(kind, arr)
            acc += np.uint64(j + 1) * _M2
            _mix(acc)
    return acc


def head_hash(values: tuple[Any, ...]) -> str:
    """sha256(prev_hash + "|" + compact JSON of every head column but row_hash)."""
    return hashlib.sha256(f"{values[-1]}|{HEAD_JSON.encode(list(values))}".encode()).hexdigest()


FEW_ROWS = 8  # measured on 51 columns: Python integers are 7× faster for 1 row, even at about 12 rows
_MASK = (1 << 64) - 1
_M1_INT, _M2_INT, _NULL_INT, _POW_INT = int(_M1), int(_M2), int(_NULL_WORD), int(_POW_BASE)


def few_fingerprints(fields: Sequence[tuple[str, str, pa.Array]]) -> list[int]:
    """:func:`fingerprints` of a chunk of a few rows, with Python integers (same splitmix64 chain)."""
    return _chain([_few_words(kind, arr) for _, kind, arr in fields], len(fields[0][2]))


def _chain(columns: list[list[int]], n: int) -> list[int]:
    """The splitmix64 chain of each row over its columns' words."""
    out = []
    for i in range(n):
        acc = _NULL_INT
        for j, words in enumerate(columns, start=1):
            z = ((acc ^ words[i]) + j * _M2_INT) & _MASK
            z ^= z >> 30
            z = (z * _M1_INT) & _MASK
            z ^= z >> 27
            z = (z * _M2_INT) & _MASK
            acc = z ^ (z >> 31)
        out.append(acc)
    return out


def _few_words(kind: str, arr: pa.Array) -> list[int]:
    """:func:`_words` with Python integers: the same word per value, ``_NULL_WORD`` for a missing one."""
    return _value_words(kind, arr.to_pylist())


def _value_words(kind: str, values: list[Any]) -> list[int]:
    """:func:`_few_words` of a column's Python values (``None`` missing)."""
    if kind in ("text", "json"):
        return [_NULL_INT if v is None else _text_word(v.encode()) for v in values]
    if kind == "float":
        packed = struct.pack(f"<{len(values)}d", *(0.0 if v is None else v for v in values))
        bits = struct.unpack(f"<{len(values)}Q", packed)
        return [_NULL_INT if v is None else b for v, b in zip(values, bits, strict=True)]
    return [_NULL_INT if v is None else int(v) & _MASK for v in values]


def value_fingerprints(columns: Sequence[tuple[str, list[Any]]]) -> list[int]:
    """:func:`fingerprints` of a few rows given as ``(kind, Python values)`` per column (``None`` missing)."""
    return _chain([_value_words(kind, values) for kind, values in columns], len(columns[0][1]) if columns else 0)


def value_chunk_hash(first_row: int, columns: Sequence[tuple[str, str, list[Any]]]) -> bytes:
    """:func:`chunk_hash` of a few rows given as ``(name, kind, Python values)`` per column: the same bytes hashed."""
    n = len(columns[0][2]) if columns else 0
    h = hashlib.sha256(f"{FORMAT}|chunk|".encode())
    h.update(HEAD_JSON.encode([first_row, n, [[name, kind] for name, kind, _ in columns]]).encode())
    for _, kind, values in columns:
        if any(v is None for v in values):
            h.update(b"\x01")
            h.update(bytes(0 if v is None else 1 for v in values))
            empty: Any = "" if kind in ("text", "json") else False if kind == "bool" else 0
            values = [empty if v is None else v for v in values]
        else:
            h.update(b"\x00")
        if kind in ("text", "json"):
            encoded = [v.encode() for v in values]
            h.update(struct.pack(f"<{n}q", *map(len, encoded)))
            h.update(b"".join(encoded))
        elif kind == "bool":
            h.update(bytes(1 if v else 0 for v in values))
        else:
            h.update(struct.pack(f"<{n}{'d' if kind == 'float' else 'Q' if kind == 'uint' else 'q'}", *values))
    return h.digest()


def _text_word(data: bytes) -> int:
    """Sum of byte * base**position (mod 2**64) plus the length times ``_M1``, as :func:`_words` computes it."""
    word = 0
    for byte in reversed(data):
        word = (word * _POW_INT + byte) & _MASK
    return (word + len(data) * _M1_INT) & _MASK
