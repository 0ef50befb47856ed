"""riskcore.serving.history: telling whether a file's companies are kept together, chunk by chunk."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskcore.serving.history import ChunkHistory, ScatteredCompanies, company_ids, interleaved


def _ids(values):
    return pa.chunked_array([pa.array(values, type=pa.large_string())])


def test_company_ids_are_trimmed_text_whatever_the_column_type():
    assert company_ids(pd.DataFrame({"id": [" C1", "C2 ", None]}), "id").to_pylist() == ["C1", "C2", None]
    assert company_ids(pd.DataFrame({"id": [7, 8]}), "id").to_pylist() == ["7", "8"]
    arrow = pd.DataFrame({"id": pd.array(["a ", "b"], dtype="string[pyarrow]")})
    assert company_ids(arrow, "id").to_pylist() == ["a", "b"]


@given(st.lists(st.sampled_from("abcde"), max_size=30))
def test_interleaved_means_some_company_has_two_runs(ids):
    runs = [k for i, k in enumerate(ids) if i == 0 or ids[i - 1] != k]
    assert interleaved(_ids(ids)) == (len(runs) > len(set(runs)))


def test_missing_ids_do_not_count_as_a_company():
    assert not interleaved(_ids(["a", None, "a", None]))


def test_a_company_in_the_next_chunk_again_is_caught_at_once():
    seen = ChunkHistory()
    seen.add(_ids(["a", "b"]))
    with pytest.raises(ScatteredCompanies):
        seen.add(_ids(["b", "c"]))


def test_a_company_coming_back_later_is_found_at_the_end():
    seen = ChunkHistory()
    for chunk in (["a", "b"], ["c"], ["a"]):
        seen.add(_ids(chunk))
    assert seen.scattered()
    kept = ChunkHistory()
    for chunk in (["a", "b"], ["c"], [None], ["d"]):
        kept.add(_ids(chunk))
    assert not kept.scattered()
