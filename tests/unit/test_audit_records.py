"""The chunk record() stores: built without pandas for plain inputs, byte for byte what the pandas path stores."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
from hypothesis import given, settings
from hypothesis import strategies as st

from riskcore.errors import AuditError
from riskcore.serving.audit import AuditLog, Redaction
from riskcore.serving.audit._hashing import (
    COMPRESS_FROM_ROWS,
    FEW_ROWS,
    decode,
    few_fingerprints,
    fingerprints,
    vector_fingerprints,
)
from riskcore.serving.audit._records import (
    input_column,
    make_chunk,
    make_small_chunk,
    plain,
    plain_column,
    record_inputs,
)

META = {"source": "api", "caller": "key-1", "model_version": "v1", "bundle_hash": "f" * 64}


def _pandas_inputs(rows: list[dict]) -> pd.DataFrame:
    """The inputs exactly as record() built them before the plain path: a DataFrame of the records, sorted."""
    frame = pd.DataFrame([plain(r, "") for r in rows], index=pd.RangeIndex(len(rows)))
    return frame.reindex(columns=sorted(frame.columns))


def _chunk(inputs, n: int, first_rows: int = 0):
    return make_chunk([f"C{i % 3}" for i in range(n)], inputs, np.linspace(0.0, 1.0, n),
                      ["accept", "refer"] * (n // 2) + ["accept"] * (n % 2), ["A"] * n,
                      ["late_payments; high_leverage" if i % 2 else "" for i in range(n)],
                      index=0, first_row=first_rows + 1, columns=None)


def _outcome(inputs, n: int):
    """The chunk, or the error it raised (kind and message): both paths must refuse the same inputs alike."""
    try:
        return _chunk(inputs, n)
    except Exception as err:  # noqa: BLE001 - the reference path may raise anything; compare it
        return type(err), str(err)


def _same_chunk(rows: list[dict]) -> None:
    expected, got = _outcome(_pandas_inputs(rows), len(rows)), _outcome(record_inputs(rows), len(rows))
    if isinstance(expected, tuple):
        assert got == expected
        return
    assert got.data == expected.data
    assert got.digest == expected.digest
    assert got.company_ids == expected.company_ids


_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
_int64 = st.integers(-(2**63), 2**63 - 1)
_values = {
    "text": st.one_of(st.none(), _text),
    "bool": st.one_of(st.none(), st.booleans()),
    "int": st.one_of(_int64, st.integers(-5, 5)),
    "int_or_none": st.one_of(st.none(), _int64, st.integers(-(2**60), 2**60)),
    "number": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**62), 2**62)),
    "float": st.floats(allow_nan=True, allow_infinity=True, width=64),
    "numpy": st.one_of(st.none(), st.floats(-1e6, 1e6).map(np.float64), st.integers(-99, 99).map(np.int64)),
    "missing": st.none(),
    "mixed": st.one_of(st.none(), st.booleans(), st.integers(-3, 3), _text, st.floats(allow_nan=False)),
    "nested": st.one_of(st.none(), st.lists(st.integers(-3, 3), max_size=2),
                        st.dictionaries(st.sampled_from("xy"), st.integers(-3, 3), max_size=2)),
    "huge": st.one_of(st.none(), st.integers(2**63, 2**64 - 1), st.integers(-5, 5)),
}


@st.composite
def _requests(draw) -> list[dict]:
    """A few records whose columns each draw from one kind; a key may be absent from some records."""
    kinds = draw(st.lists(st.sampled_from(sorted(_values)), min_size=1, max_size=6))
    n = draw(st.integers(1, 7))
    rows: list[dict] = [{} for _ in range(n)]
    for j, kind in enumerate(kinds):
        absent = draw(st.sets(st.integers(0, n - 1), max_size=n - 1)) if draw(st.booleans()) else set()
        for i in range(n):
            if i not in absent:
                rows[i][f"{kind}_{j}"] = draw(_values[kind])
    return rows


@settings(max_examples=300, deadline=None)
@given(_requests())
def test_the_plain_path_stores_the_bytes_of_the_pandas_path(rows):
    _same_chunk(rows)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), _text, st.booleans(), _int64, st.floats()), min_size=1, max_size=6))
def test_a_plain_column_is_stored_as_the_column_pandas_infers_or_is_left_to_pandas(values):
    column = plain_column(values)
    if column is not None:
        kind, stored = input_column(column)
        reference_kind, reference = input_column(pa.array(pd.DataFrame({"x": values})["x"], from_pandas=True))
        assert (kind, stored.type) == (reference_kind, reference.type)
        assert stored.equals(reference)


def test_plain_columns_skip_pandas_and_the_rest_goes_through_it():
    plain = record_inputs([{"b": "x", "a": 1, "c": None}, {"a": 2.5, "b": None, "c": None, "d": True}])
    assert isinstance(plain, pa.Table) and plain.column_names == ["a", "b", "c", "d"]
    assert [f.type for f in plain.schema] == [pa.float64(), pa.string(), pa.null(), pa.bool_()]
    for rows in ([{"a": 1}, {"a": "x"}], [{"a": [1, 2]}], [{"a": 2**63}], [{1: 0.5}], [{}]):
        assert isinstance(record_inputs(rows), pd.DataFrame), rows


def test_a_large_plain_request_stores_the_bytes_of_the_pandas_path():
    rng = np.random.default_rng(7)
    rows = [{"income": float(v) if v > 0.1 else None, "age": int(i), "sector": ["Energy", "Retail", None][i % 3],
             "listed": bool(i % 2)} for i, v in enumerate(rng.random(300))]
    _same_chunk(rows)


# digests of chunks written by the code before the plain path: a stored trail must keep verifying
_GOLDEN_ROWS = [{"income": 1000.5, "age": 41, "sector": "Energy", "listed": True, "note": None},
                {"income": None, "age": 7, "sector": "Retail ü", "listed": False, "note": None},
                {"income": float("inf"), "age": -3, "sector": None, "listed": None, "note": None}]
# the bytes as stored since chunks below COMPRESS_FROM_ROWS rows are written uncompressed (before: LZ4,
# "fad4c50c…"); the digest, which verification checks, is the one stored trails carry
_GOLDEN_DATA = "7c0852263a1e2b2fd994a3823df3e4094cf9a61bafb342e9e6ddba36c46a58e8"
_GOLDEN_DIGEST = "4059955c34016a542d1a670a91e834c23c6b95a04e93e52ffcc3ae6e979810cd"


def test_chunks_keep_the_bytes_and_digests_of_stored_trails():
    for inputs in (_pandas_inputs(_GOLDEN_ROWS), record_inputs(_GOLDEN_ROWS)):
        chunk = _chunk(inputs, len(_GOLDEN_ROWS), first_rows=10)
        assert (hashlib.sha256(chunk.data).hexdigest(), chunk.digest.hex()) == (_GOLDEN_DATA, _GOLDEN_DIGEST)


def test_small_chunks_are_stored_plain_and_compressed_ones_still_read():
    chunk = _chunk(record_inputs(_GOLDEN_ROWS), len(_GOLDEN_ROWS), first_rows=10)
    table = decode(chunk.data, "r", 0)
    assert table.num_rows == len(_GOLDEN_ROWS) < COMPRESS_FROM_ROWS
    sink = pa.BufferOutputStream()  # written as the trail wrote every chunk before: LZ4
    with ipc.new_stream(sink, table.schema, options=ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table)
    compressed = sink.getvalue().to_pybytes()
    assert compressed != chunk.data and decode(compressed, "r", 0).equals(table)
    big = _chunk(record_inputs(_GOLDEN_ROWS * 100), 300, first_rows=1)  # from COMPRESS_FROM_ROWS rows: LZ4
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, decode(big.data, "r", 0).schema) as writer:
        writer.write_table(decode(big.data, "r", 0))
    assert len(big.data) < len(sink.getvalue().to_pybytes())


_kinds = {
    "text": (pa.string(), st.one_of(st.none(), _text)),
    "json": (pa.string(), st.one_of(st.none(), st.just("[1, 2]"), _text)),
    "float": (pa.float64(), st.one_of(st.none(), st.floats(allow_nan=False))),
    "int": (pa.int64(), st.one_of(st.none(), _int64)),
    "uint": (pa.uint64(), st.one_of(st.none(), st.integers(0, 2**64 - 1))),
    "bool": (pa.bool_(), st.one_of(st.none(), st.booleans())),
}


@st.composite
def _fields(draw, max_rows: int):
    n = draw(st.integers(1, max_rows))
    kinds = draw(st.lists(st.sampled_from(sorted(_kinds)), min_size=1, max_size=8))
    return [(f"c{j}", kind, pa.array(draw(st.lists(_kinds[kind][1], min_size=n, max_size=n)), _kinds[kind][0]))
            for j, kind in enumerate(kinds)]


@settings(max_examples=300, deadline=None)
@given(_fields(max_rows=FEW_ROWS))
def test_few_rows_get_the_fingerprints_of_the_vectorised_words(fields):
    expected = vector_fingerprints(fields)
    got = fingerprints(fields)
    assert got.dtype == np.uint64 and got.tolist() == expected.tolist()
    assert few_fingerprints(fields) == expected.tolist()


def test_a_whole_number_beyond_int64_is_refused_with_a_message_not_an_arrow_error(database):
    import pytest

    from riskcore.errors import AuditError
    from riskcore.serving.audit import AuditRecord

    log = AuditLog(database.url)  # on SQLite and on PostgreSQL
    for value in (2**63, 2**64 - 1):
        record = AuditRecord(company_id="c1", inputs={"x": value}, p_default=0.1, decision="accept", grade="A")
        with pytest.raises(AuditError, match=r"input 'x': a whole number larger than 2\*\*63 - 1"):
            log.record([record], source="api", caller="k", model_version="m", bundle_hash="h")
    assert log.count() == 0
    log.close()


_plain_values = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), _text,
                          st.floats(allow_nan=True, allow_infinity=True), st.just([1, "x"]))


_REDACTION = Redaction(b"a test salt of 32 characters...", columns=("b",))


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "email"]), _plain_values, max_size=4),
                     min_size=1, max_size=FEW_ROWS + 1),
       per_row=st.booleans(), redact=st.sampled_from([None, "company_id", "ssn"]), data=st.data())
def test_a_small_chunk_built_in_python_is_the_general_paths_chunk(rows, per_row, redact, data):
    """Also when inputs (``b`` by the setting, ``email`` by its name) and the ids (key ``ssn``) are redacted."""
    n = len(rows)
    ids = data.draw(st.lists(st.one_of(_text, st.just("C\x00")), min_size=n, max_size=n))
    p = data.draw(st.lists(st.one_of(st.floats(0, 1), st.just(1.5)), min_size=n, max_size=n))
    decisions = data.draw(st.lists(st.sampled_from(["accept", "refer", "maybe"]), min_size=n, max_size=n))
    grades, reasons = ["A"] * n, ["" if i % 2 else "late_payments" for i in range(n)]
    requests = ([f"r{i % 2}" for i in range(n)], ["key"] * n) if per_row else None
    hidden = {} if redact is None else {"redaction": _REDACTION, "key": redact}
    small = make_small_chunk(ids, rows, p, decisions, grades, reasons, requests=requests, **hidden)
    try:
        general = make_chunk(ids, record_inputs(rows), np.array(p), decisions, grades, reasons, index=0,
                             first_row=1, columns=None, requests=requests, **hidden)
    except AuditError:
        assert small is None  # the general path words the refusal
        return
    if small is None:  # not plain enough for the small path: allowed, never a different chunk
        return
    assert (small.data, small.digest, small.company_ids, small.columns, small.n_rows) == \
        (general.data, general.digest, general.company_ids, general.columns, general.n_rows)


def test_the_small_path_takes_an_api_requests_values():
    rows = [{"roa": 0.1, "sector": "Retail", "employees": 12, "listed": True, "note": None, "fiscal_year": 2024},
            {"roa": None, "sector": "Energy", "employees": 3, "listed": False, "fiscal_year": 2023}]
    small = make_small_chunk(["C-1", "C-2"], rows, [0.1, 0.9], ["accept", "refer"], ["A", "C"], ["", ""])
    general = make_chunk(["C-1", "C-2"], record_inputs(rows), np.array([0.1, 0.9]), ["accept", "refer"],
                         ["A", "C"], ["", ""], index=0, first_row=1, columns=None)
    assert small is not None and (small.data, small.digest) == (general.data, general.digest)
