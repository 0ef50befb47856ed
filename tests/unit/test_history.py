"""riskcore.serving.history: telling whether a file's companies are kept together, chunk by chunk."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
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


def test_a_company_coming_back_any_chunks_later_is_caught_when_it_comes_back():
    seen = ChunkHistory()
    for chunk in (["a", "b"], ["c"]):
        seen.add(_ids(chunk))
    with pytest.raises(ScatteredCompanies):
        seen.add(_ids(["a"]))
    kept = ChunkHistory()
    for chunk in (["a", "b"], ["c"], [None], ["d"]):
        kept.add(_ids(chunk))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 400), min_size=1, max_size=30), min_size=1, max_size=40))
def test_the_first_chunk_that_repeats_an_earlier_company_raises_and_no_other(chunks):
    seen = ChunkHistory()
    before: set[int] = set()
    for chunk in chunks:
        repeats = bool(before & set(chunk))
        if repeats:
            with pytest.raises(ScatteredCompanies):
                seen.add(_ids([f"c{i}" for i in chunk]))
            return
        seen.add(_ids([f"c{i}" for i in chunk]))
        before |= set(chunk)
