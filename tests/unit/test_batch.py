"""riskcore.serving.batch: the chunks a file is scored in never cut a company's rows apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from riskcore.data.tabular import ReadInfo, Table
from riskcore.serving.batch import FileRequest, _company_chunks, _expected_rows, _format_of


def _table(ids: list[str | None], first_row: int) -> Table:
    frame = pd.DataFrame({"id": pd.Series(ids, dtype=object), "x": np.arange(len(ids), dtype=float)})
    info = ReadInfo(encoding="utf-8", delimiter=",", decimal=".", n_rows=0, n_columns=2)
    return Table(frame=frame, rows=np.arange(first_row, first_row + len(ids), dtype=np.int64), info=info)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(1, 4)), max_size=12), st.integers(1, 7))
def test_chunks_keep_each_company_whole_and_every_row_once(runs, chunk_rows):
    ids = [k for k, n in runs for _ in range(n)]
    parts = [_table(ids[i:i + chunk_rows], i + 1) for i in range(0, len(ids), chunk_rows)]
    timings = {"read": 0.0}
    chunks = list(_company_chunks(iter(parts), "id", timings))
    rows = np.concatenate([c.rows for c in chunks]) if chunks else np.zeros(0)
    assert rows.tolist() == list(range(1, len(ids) + 1))
    for before, after in zip(chunks, chunks[1:]):
        assert before.frame["id"].iloc[-1] != after.frame["id"].iloc[0]


def test_without_an_id_column_the_chunks_pass_as_they_are():
    parts = [_table(["a", "a"], 1), _table(["a"], 3)]
    chunks = list(_company_chunks(iter(parts), None, {"read": 0.0}))
    assert [len(c.frame) for c in chunks] == [2, 1]


def test_the_output_format_follows_the_suffix(tmp_path):
    assert _format_of(tmp_path / "s.parquet") == "parquet" and _format_of(tmp_path / "s.PQ") == "parquet"
    assert _format_of(tmp_path / "s.csv") == "csv" and _format_of(None) == "csv"


def test_expected_rows_of_a_csv_is_estimated_from_its_first_lines():
    data = b"id,x\n" + b"".join(f"c{i:04d},{i}\n".encode() for i in range(1000))
    assert abs(_expected_rows(data, _FakeReader(), None) - 1000) <= 2
    assert _expected_rows(pd.DataFrame({"a": [1, 2, 3]}), None, None) == 3


class _FakeReader:
    info = ReadInfo(encoding="utf-8", delimiter=",", decimal=".", n_rows=0, n_columns=2)


def test_a_request_defaults_to_csv_chunks_of_fifty_thousand_rows():
    request = FileRequest(face="cli", caller="cli:someone")
    assert request.chunk_rows == 50_000 and request.output is None and not request.keep
