"""What the audit trail accepts: records and chunks of scores, checked before anything is written.

Every value is checked up front (vectorised for a chunk), so a request either
stores every score or raises :class:`~riskcore.errors.AuditError` naming the
row and the field, with nothing written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskcore.errors import AuditError
from riskcore.serving.audit._hashing import (
    FEW_ROWS,
    chunk_hash,
    encode,
    fingerprints,
    value_chunk_hash,
    value_fingerprints,
)
from riskcore.serving.audit._redaction import Redaction
from riskcore.serving.audit._tables import (
    DECISIONS,
    INPUT_PREFIX,
    INPUTS_JSON,
    MAX_TEXT,
    REASON_SEPARATOR,
    ROW_REQUEST_COLUMNS,
    SOURCES,
)

__all__ = ["AuditRecord", "Chunk", "check_records", "check_request", "input_column", "make_chunk",
           "make_small_chunk", "plain", "plain_column", "record_inputs"]


@dataclass(frozen=True)
class AuditRecord:
    """One score to record.

    Parameters
    ----------
    company_id : the scored company's key.
    inputs : the model inputs as sent, JSON-able values (numbers, strings,
        booleans, ``None``, lists, dicts; NumPy scalars are accepted). NaN and
        infinite floats are stored as missing; lists and dicts as JSON text.
    p_default : the probability of default, a finite number in [0, 1].
    decision : ``"accept"`` or ``"refer"``.
    grade : the risk grade shown to the user.
    reasons : reason codes, most important first.
    """

    company_id: str
    inputs: dict[str, Any]
    p_default: float
    decision: str
    grade: str
    reasons: tuple[str, ...] = ()


@dataclass
class Chunk:
    """One validated chunk: its segment bytes, its hash, its distinct company ids and its input names (sorted)."""

    index: int
    first_row: int
    n_rows: int
    data: bytes
    digest: bytes
    company_ids: list[str]
    columns: list[str]


def make_chunk(company_ids: Any, inputs: Any, p_default: Any, decision: Any, grade: Any, reasons: Any, *,
               index: int, first_row: int, columns: list[str] | None,
               requests: tuple[Any, Any] | None = None, redaction: Redaction | None = None,
               key: str = "company_id") -> Chunk | None:
    """Validate one chunk (vectorised), encode it and hash it; None for an empty chunk.

    ``index`` and ``first_row`` place the chunk in its request (0-based chunk, 1-based row); ``columns`` are
    the input names of the request's first chunk, which every chunk must repeat (None for the first).
    ``requests``: ``(request_ids, callers)`` per row, stored as the columns ``request_id`` and ``caller``, for a
    head that records the scores of several requests answered together (see :data:`ROW_REQUEST_COLUMNS`).
    ``redaction``: the inputs it covers are stored as salted hashes, and the company ids too when it covers
    ``key``, the name of the column they come from; values are checked before they are hashed, and the chunk's
    hashes cover what is stored.
    """
    ids = _strings(company_ids, "company_ids")
    n = len(ids)
    first = first_row
    where = _Where(ids, first)
    sizes = {"company_ids": n}
    p = _floats(p_default, "p_default")
    dec = _strings(decision, "decision")
    grades = _strings(grade, "grade")
    why = pa.repeat(pa.scalar("", pa.string()), n) if reasons is None else _strings(reasons, "reasons")
    table = _input_columns(inputs)
    per_row = [] if requests is None else [(name, _strings(values, name))
                                           for name, values in zip(ROW_REQUEST_COLUMNS, requests, strict=True)]
    sizes.update(p_default=len(p), decision=len(dec), grade=len(grades), reasons=len(why),
                 inputs=len(inputs) if isinstance(inputs, pd.DataFrame) else getattr(inputs, "num_rows", 0),
                 **{name: len(arr) for name, arr in per_row})
    if len(set(sizes.values())) > 1:
        raise AuditError("cannot record the scores, nothing was written: the arguments have different lengths ("
                         + ", ".join(f"{k}={v}" for k, v in sizes.items()) + "); pass one entry per scored row")
    if n == 0:
        return None
    names = sorted(table)
    if columns is not None and names != columns:
        raise AuditError(f"cannot record the scores, nothing was written: this chunk's inputs have the columns "
                         f"{names!r} but the request's first chunk had {columns!r}; pass the same "
                         "columns in every chunk")
    problems: list[str] = []
    for name, arr in (("company_id", ids), ("grade", grades), *per_row):
        bad = np.flatnonzero(pc.fill_null(pc.or_(pc.is_null(arr), pc.greater(pc.utf8_length(arr), MAX_TEXT)),
                                          True).to_numpy(zero_copy_only=False))
        problems += [f"{where(i)}: {name}={arr[i].as_py()!r} must be a string of at most {MAX_TEXT} characters"
                     for i in bad[:5]]
    # PostgreSQL's text cannot hold NUL: refused up front, so every backend behaves alike
    for name, arr in (("company_id", ids), *per_row):
        bad = np.flatnonzero(pc.fill_null(pc.match_substring(arr, "\x00"), False).to_numpy(zero_copy_only=False))
        problems += [f"{where(i)}: {name}={arr[i].as_py()!r} contains a NUL character; remove it from the key"
                     for i in bad[:5]]
    bad = np.flatnonzero(~((p >= 0.0) & (p <= 1.0)))  # also true for NaN
    problems += [f"{where(i)}: p_default={float(p[i])!r} must be a number in [0, 1]" for i in bad[:5]]
    bad = np.flatnonzero(~pc.fill_null(pc.is_in(dec, pa.array(DECISIONS)), False).to_numpy(zero_copy_only=False))
    problems += [f"{where(i)}: decision={dec[i].as_py()!r} is unknown; use one of {', '.join(map(repr, DECISIONS))}"
                 for i in bad[:5]]
    input_fields: list[tuple[str, str, pa.Array]] = []
    for name in names:
        try:
            kind, arr = input_column(table[name])
        except _BadValue as err:
            problems.append(f"{where(err.row)}: input {name!r}: {err}")
            continue
        input_fields.append((INPUT_PREFIX + name, kind, arr))
    if problems:
        head = "; ".join(problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise _refused(f"{head}{more}")
    if redaction is not None:
        input_fields = [(name, "text", redaction.hash_array(kind, arr))
                        if redaction.covers(name.removeprefix(INPUT_PREFIX)) else (name, kind, arr)
                        for name, kind, arr in input_fields]
        if redaction.covers(key):
            ids = redaction.hash_array("text", ids)
    rows = pa.array(np.arange(first, first + n, dtype=np.int64))
    outputs = [("row", "int", rows), ("company_id", "text", ids), ("p_default", "float", pa.array(p)),
               ("decision", "text", dec), ("grade", "text", grades), ("reasons", "text", why.fill_null("")),
               *((name, "text", arr) for name, arr in per_row)]
    fields = [*outputs, *input_fields]
    fields.append(("fingerprint", "uint", pa.array(fingerprints(fields), pa.uint64())))
    schema = pa.schema([pa.field(name, arr.type, metadata={b"kind": b"json"} if kind == "json" else None)
                        for name, kind, arr in fields])
    segment = pa.Table.from_arrays([a for _, _, a in fields], schema=schema)
    unique = pc.unique(ids)
    return Chunk(index=index, first_row=first, n_rows=n, data=encode(segment), digest=chunk_hash(first, fields),
                 company_ids=pc.take(unique, pc.array_sort_indices(unique)).to_pylist(), columns=names)


def make_small_chunk(company_ids: Sequence[Any], rows: Sequence[Mapping[str, Any]], p_default: Sequence[Any],
                     decision: Sequence[Any], grade: Sequence[Any], reasons: Sequence[Any], *,
                     requests: tuple[Sequence[Any], Sequence[Any]] | None = None,
                     redaction: Redaction | None = None, key: str = "company_id") -> Chunk | None:
    """``make_chunk(..., record_inputs(rows), ...)`` of a request's first chunk of a few rows, built in Python.

    An API request records one company, or a few: there the general path's pyarrow calls per column (a
    few microseconds each, times fifty columns, times five steps) cost more than the values. This builds
    the same chunk (bytes, digest, fingerprints; a test holds it to that) from the Python values directly.
    It returns None, and the caller takes :func:`make_chunk`, for anything but plain values that check out:
    more than ``FEW_ROWS`` rows, a value of another kind, a value :func:`make_chunk` would refuse (so its
    message is the one users see). ``redaction`` and ``key`` as for :func:`make_chunk`.
    """
    n = len(company_ids)
    per_row = [] if requests is None else [list(v) for v in requests]
    if not 0 < n <= FEW_ROWS or any(len(c) != n for c in (rows, p_default, decision, grade, reasons, *per_row)):
        return None
    texts = [list(company_ids), list(grade), list(reasons), *per_row]
    if not all(type(v) is str for column in (*texts, decision) for v in column):
        return None
    if any(len(v) > MAX_TEXT for column in (texts[0], texts[1], *per_row) for v in column) or \
            any("\x00" in v for column in (texts[0], *per_row) for v in column) or \
            any(d not in DECISIONS for d in decision) or \
            not all(type(p) in (float, int) and 0.0 <= p <= 1.0 for p in p_default):
        return None
    try:
        values = [plain(row, "") for row in rows]
        for column in texts:
            for v in column:
                v.encode()  # a lone surrogate cannot be stored: the general path says so
    except (TypeError, UnicodeEncodeError):
        return None
    names = sorted({key for row in values for key in row})
    if not all(type(name) is str for name in names) or not names:
        return None
    inputs: list[tuple[str, str, list[Any], pa.Array]] = []
    for name in names:
        column = [row.get(name) for row in values]
        made = _small_input(column, any(name not in row for row in values))
        if made is None:
            return None
        if redaction is not None and redaction.covers(name):
            hashed = redaction.hash_array(made[0], made[2])
            made = ("text", hashed.to_pylist(), hashed)
        inputs.append((INPUT_PREFIX + name, *made))
    if redaction is not None and redaction.covers(key):
        texts[0] = [redaction.hash_text(v) for v in texts[0]]
    outputs: list[tuple[str, str, list[Any], pa.Array]] = [
        ("row", "int", list(range(1, n + 1)), pa.array(np.arange(1, n + 1, dtype=np.int64))),
        ("company_id", "text", texts[0], pa.array(texts[0], pa.string())),
        ("p_default", "float", [float(p) for p in p_default], pa.array(np.array(p_default, dtype=np.float64))),
        ("decision", "text", list(decision), pa.array(list(decision), pa.string())),
        ("grade", "text", texts[1], pa.array(texts[1], pa.string())),
        ("reasons", "text", texts[2], pa.array(texts[2], pa.string())),
        *((name, "text", v, pa.array(v, pa.string())) for name, v in zip(ROW_REQUEST_COLUMNS, per_row)),
    ]
    fields = [*outputs, *inputs]
    prints = value_fingerprints([(kind, v) for _, kind, v, _ in fields])
    fields.append(("fingerprint", "uint", prints, pa.array(prints, pa.uint64())))
    segment = pa.Table.from_arrays([a for *_, a in fields], schema=pa.schema([pa.field(f[0], f[3].type)
                                                                            for f in fields]))
    return Chunk(index=0, first_row=1, n_rows=n, data=encode(segment),
                 digest=value_chunk_hash(1, [(name, kind, v) for name, kind, v, _ in fields]),
                 company_ids=sorted(set(texts[0])), columns=names)


def _small_input(column: list[Any], absent: bool) -> tuple[str, list[Any], pa.Array] | None:
    """One input column of plain values as :func:`plain_column` then :func:`input_column` store it, or None."""
    n = len(column)
    kinds = {type(v) for v in column}
    kinds.discard(type(None))
    if not kinds:  # nothing but missing values: stored as missing decimals
        if absent:  # pandas' NaN, checked as not finite: NaN values under a mask
            return "float", [None] * n, pa.array(np.full(n, np.nan), pa.float64(), mask=np.ones(n, dtype=bool))
        return "float", [None] * n, pa.nulls(n, pa.float64())
    if kinds == {str}:
        return "text", column, pa.array(column, pa.string())
    if kinds == {bool}:
        return "bool", column, pa.array(column, pa.bool_())
    if not kinds <= {int, float} or any(type(v) is int and v not in _INT64_RANGE for v in column):
        return None
    if kinds == {int} and None not in column:
        return "int", column, pa.array(column, pa.int64())
    floats = [None if v is None else float(v) for v in column]
    if None in floats:  # as input_column stores a decimal column with gaps: NaN values under a mask
        arr = pa.array(np.array([np.nan if v is None else v for v in floats]), pa.float64(),
                       mask=np.array([v is None for v in floats]))
    else:
        arr = pa.array(floats, pa.float64())
    return "float", floats, arr


def _refused(problems: str) -> AuditError:
    """The error of values that cannot be stored: its message quotes them, its log message does not."""
    err = AuditError(f"cannot record the scores, nothing was written: {problems}")
    err.log_message = ("cannot record the scores, nothing was written: a value cannot be stored as given (the "
                       "error shown to the caller names it)")
    return err


class _Where:
    """Name a row of a chunk in messages: its row in the chunk, in the request and its company."""

    def __init__(self, ids: pa.Array, first: int):
        self.ids, self.first = ids, first

    def __call__(self, i: int) -> str:
        company = self.ids[int(i)].as_py() if int(i) < len(self.ids) else None
        return f"row {int(i)} of the chunk (request row {self.first + int(i)}, company {company!r})"


class _BadValue(ValueError):
    def __init__(self, row: int, message: str):
        super().__init__(message)
        self.row = row


def _strings(values: Any, name: str) -> pa.Array:
    """A 1-d pyarrow string array, or an AuditError naming the first value that is not text."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if pa.types.is_dictionary(values.type):
            values = values.cast(values.type.value_type)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type) or pa.types.is_null(values.type):
            return values.cast(pa.string())
        values = values.to_pylist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise AuditError(f"cannot record the scores, nothing was written: {name} must be a sequence with one "
                         f"string per row, not {type(values).__name__}")
    try:
        return pa.array(values, pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        items = list(values)
        i = next(i for i, v in enumerate(items) if not isinstance(v, str) and v is not None)
        raise _refused(f"{name}[{i}]={items[i]!r} must be a string") from None


def _floats(values: Any, name: str) -> np.ndarray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = values.to_numpy(zero_copy_only=False)
    try:
        arr = np.asarray(values)
        if arr.dtype.kind not in "fiu":
            raise TypeError
        return arr.astype(np.float64, copy=False).reshape(-1)
    except (TypeError, ValueError):
        items = list(values) if hasattr(values, "__iter__") else [values]
        i = next((i for i, v in enumerate(items) if not isinstance(v, (int, float, np.number))
                  or isinstance(v, bool)), 0)
        shown = items[i] if items else values
        raise _refused(f"{name}[{i}]={shown!r} must be a number in [0, 1]") from None


def _input_columns(inputs: Any) -> dict[str, Any]:
    """Name to pyarrow array (or a list of Python values when Arrow cannot hold them) per input column."""
    if isinstance(inputs, pa.Table):
        return {name: inputs.column(name) for name in inputs.column_names} if len(
            set(inputs.column_names)) == inputs.num_columns else _refuse_names(list(inputs.column_names))
    if not isinstance(inputs, pd.DataFrame):
        raise AuditError(f"cannot record the scores, nothing was written: inputs must be a pandas DataFrame or a "
                         f"pyarrow Table, not {type(inputs).__name__}")
    if inputs.columns.duplicated().any() or not all(isinstance(c, str) for c in inputs.columns):
        _refuse_names(list(inputs.columns))
    out: dict[str, Any] = {}
    for name in inputs.columns:
        series = inputs[name]
        try:
            out[name] = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError,
                OverflowError):  # OverflowError: whole numbers of both signs beyond int64 (2**63 and -1)
            out[name] = series.tolist()  # mixed types: stored as JSON text, cell by cell
    return out


def record_inputs(rows: Sequence[Mapping[str, Any]]) -> pa.Table | pd.DataFrame:
    """The inputs of :meth:`AuditLog.record`'s records as one table, one column per key in sorted order.

    A request of one company would spend most of its audit time building a
    one-row DataFrame, so columns are built straight from the values when each
    holds one plain kind: text, booleans, whole numbers, or numbers (whole
    numbers mixed with decimals or missing values become decimals). These are
    the Arrow types pandas' own inference yields for such columns, so the
    stored bytes do not depend on the path taken. Anything else (mixed kinds,
    lists, dicts, huge whole numbers, non-text keys, no keys at all) goes
    through pandas as it always did.
    """
    values = [plain(row, "") for row in rows]
    keys = {key for row in values for key in row}
    if keys and all(type(key) is str for key in keys):
        names = sorted(keys)
        arrays = [plain_column([row.get(name) for row in values], any(name not in row for row in values))
                  for name in names]
        if all(arr is not None for arr in arrays):
            return pa.Table.from_arrays(arrays, names=names)
    frame = pd.DataFrame(values, index=pd.RangeIndex(len(values)))
    return frame.reindex(columns=sorted(frame.columns))


_INT64_RANGE = range(-(2**63), 2**63)


def plain_column(values: list[Any], absent: bool = False) -> pa.Array | None:
    """The Arrow array pandas would infer for one column of plain values, or None when it is not that simple.

    ``absent``: some record lacks the key. pandas then fills in NaN, which
    turns a column of nothing but missing values into decimals.
    """
    kinds = {type(v) for v in values}
    kinds.discard(type(None))
    if not kinds:
        return pa.nulls(len(values), pa.float64() if absent else pa.null())
    if kinds == {str}:
        return pa.array(values, pa.string())
    if kinds == {bool}:
        return pa.array(values, pa.bool_())
    if not kinds <= {int, float} or any(type(v) is int and v not in _INT64_RANGE for v in values):
        return None
    if kinds == {int} and None not in values:
        return pa.array(values, pa.int64())
    return pa.array([None if v is None else float(v) for v in values], pa.float64())


def _refuse_names(names: list[Any]) -> dict[str, Any]:
    bad = next(n for i, n in enumerate(names) if not isinstance(n, str) or n in names[:i])
    raise AuditError(f"cannot record the scores, nothing was written: input names must be distinct strings; "
                     f"{bad!r} is not; rename the column")


def _json_cell(value: Any, row: int) -> str | None:
    try:
        json_ready = plain(value, "")
    except TypeError as err:
        raise _BadValue(row, str(err).replace("input '': ", "")) from None
    return None if json_ready is None else INPUTS_JSON.encode(json_ready)


def input_column(column: pa.ChunkedArray | pa.Array | list[Any]) -> tuple[str, pa.Array]:
    """One input column in canonical form: (kind, array); floats that are not finite become missing."""
    if isinstance(column, list):
        return "json", pa.array([_json_cell(v, i) for i, v in enumerate(column)], pa.string())
    if isinstance(column, pa.ChunkedArray):
        arr = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    else:
        arr = column
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_null(t):
        return "float", pa.nulls(len(arr), pa.float64())
    if pa.types.is_floating(t):
        arr = _as_type(arr, pa.float64())
        values = arr.to_numpy(zero_copy_only=False)
        missing = ~np.isfinite(values)
        return "float", pa.array(values, pa.float64(), mask=missing) if missing.any() else arr
    if pa.types.is_integer(t):
        try:
            return "int", _as_type(arr, pa.int64())
        except pa.ArrowInvalid:
            big = np.flatnonzero(pc.fill_null(pc.greater(arr, pa.scalar(np.iinfo(np.int64).max, t)), False)
                                 .to_numpy(zero_copy_only=False))
            raise _BadValue(int(big[0]) if len(big) else 0, "a whole number larger than 2**63 - 1 cannot be "
                            "stored; pass it as text") from None
    if pa.types.is_boolean(t):
        return "bool", arr
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text", _as_type(arr, pa.string())
    values = arr.to_pylist()
    return "json", pa.array([_json_cell(v, i) for i, v in enumerate(values)], pa.string())


def _as_type(arr: pa.Array, to: pa.DataType) -> pa.Array:
    """``arr`` cast to ``to``; as it is when it already has that type (a cast per column adds up in a request)."""
    return arr if arr.type == to else arr.cast(to)


def check_request(**fields: Any) -> None:
    """Refuse a request whose source is unknown or whose caller, model or ids cannot be stored as given."""
    problems = []
    if fields["source"] not in SOURCES:
        problems.append(f"source={fields['source']!r} is unknown; use one of {', '.join(map(repr, SOURCES))}")
    for name in ("caller", "model_version", "bundle_hash", "request_id"):
        value = fields[name]
        if not isinstance(value, str):
            problems.append(f"{name}={value!r} must be a string")
        elif len(value) > MAX_TEXT:
            problems.append(f"{name} has {len(value)} characters; at most {MAX_TEXT} are stored")
        elif "\x00" in value:
            problems.append(f"{name}={value!r} contains a NUL character, which a database text field cannot hold")
    if isinstance(fields["request_id"], str) and not fields["request_id"]:
        problems.append("request_id must not be empty; pass None to get a new one")
    if problems:
        raise _refused("; ".join(problems))


def check_records(records: Sequence[AuditRecord]) -> None:
    """Check every record; raise one AuditError naming every bad record."""
    problems: list[str] = []
    stopped = False
    for i, rec in enumerate(records):
        if len(problems) >= 20:
            stopped = True  # enough to act on; checking 100,000 bad rows would only delay the message
            break
        if not isinstance(rec, AuditRecord):
            problems.append(f"record {i}: {type(rec).__name__} is not an AuditRecord")
            continue
        where = f"record {i} (company {rec.company_id!r})"
        try:
            p_default = math.nan if isinstance(rec.p_default, (str, bytes, bool)) else float(rec.p_default)
        except (TypeError, ValueError):
            p_default = math.nan
        if not 0.0 <= p_default <= 1.0:  # also false for NaN
            problems.append(f"{where}: p_default={rec.p_default!r} must be a number in [0, 1]")
        if rec.decision not in DECISIONS:
            problems.append(f"{where}: decision={rec.decision!r} is unknown; use one of "
                            f"{', '.join(map(repr, DECISIONS))}")
        for name in ("company_id", "grade"):
            value = getattr(rec, name)
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                problems.append(f"{where}: {name}={value!r} must be a string of at most {MAX_TEXT} characters")
            elif name == "company_id" and "\x00" in value:
                problems.append(f"{where}: company_id={value!r} contains a NUL character; remove it from the key")
        if isinstance(rec.reasons, str) or not all(isinstance(r, str) for r in rec.reasons):
            problems.append(f"{where}: reasons={rec.reasons!r} must be a tuple of strings")
        elif any(REASON_SEPARATOR in r or not r for r in rec.reasons):
            problems.append(f"{where}: reasons={rec.reasons!r}: a reason code must be non-empty and must not "
                            f"contain {REASON_SEPARATOR!r}, which separates codes in the trail")
        if not isinstance(rec.inputs, Mapping):
            problems.append(f"{where}: inputs must be a dict of input names to values, not "
                            f"{type(rec.inputs).__name__}")
            continue
        try:
            plain(rec.inputs, "")
        except TypeError as err:
            problems.append(f"{where}: {err}")
    if problems:
        head = "; ".join(problems[:5])
        more = f" (+{len(problems) - 5} more{', checking stopped' if stopped else ''})" if len(problems) > 5 else ""
        raise _refused(f"{head}{more}")


def plain(value: Any, where: str) -> Any:
    """JSON-able Python values: NumPy scalars unwrapped, NaN, infinity and pandas' missing markers as None."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():  # the common values inline: a request's inputs are mostly plain numbers
            kind = type(v)
            if v is None or kind is str or kind is int or kind is bool:
                out[k] = v
            elif kind is float:
                out[k] = v if math.isfinite(v) else None
            else:
                out[k] = plain(v, f"{where}.{k}" if where else str(k))
        return out
    if isinstance(value, (list, tuple)):
        return [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return plain(value.item(), where)
    if value is pd.NA or value is pd.NaT:
        return None
    raise TypeError(f"input {where!r}: {value!r} of type {type(value).__name__} cannot be stored; "
                    "pass numbers, strings, booleans, None, lists or dicts")
