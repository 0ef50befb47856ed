"""Feeding monitoring: the sink that counts scored chunks, and messy outcome files read row by row."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import SEED

from riskcore.data.schema import DEMO_SPEC, DatasetSpec, FeatureSpec
from riskcore.errors import MissingColumnError, RiskcoreError, SchemaError
from riskcore.evaluation.reference import build_reference
from riskcore.serving.monitor import MonitorSink, read_outcomes
from riskcore.serving.results import ScoreResult

TRUE, FALSE = ("1", "yes", "true", "TRUE", "Yes"), ("0", "no", "false", "False", "NO")
BAD = ("x", "maybe", "2", "-1")

row = st.tuples(
    st.sampled_from(["C1", "C2", "0042", "Zeta AG", ""]),  # "" is a missing id
    st.sampled_from(["2024", "2024.0", "2025", ""]),
    st.sampled_from([*TRUE, *FALSE, *BAD, ""]),
)


def _csv(header: list[str], rows: list[tuple[str, str, str]], order: list[int], broken_at: int | None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([header[k] for k in order])
    for i, r in enumerate(rows):
        if i == broken_at:
            out.write("C9,2024,1,extra,fields\n")  # one row the reader cannot split
        writer.writerow([r[k] for k in order])
    return out.getvalue().encode()


@given(
    rows=st.lists(row, min_size=1, max_size=40),
    id_name=st.sampled_from(["Company ID", "company_id", "COMPANY-ID", "companyId", "Customer ID"]),
    year_name=st.sampled_from(["Fiscal Year", "fiscal_year", "FISCAL YEAR"]),
    outcome_name=st.sampled_from(["Default", "default_12m", "Outcome", "y", "Defaulted"]),
    order=st.permutations([0, 1, 2]),
    broken=st.booleans(),
    data=st.data(),
)
@settings(max_examples=80, deadline=None)
def test_messy_outcome_files_keep_every_valid_row_and_name_every_bad_one(rows, id_name, year_name, outcome_name,
                                                                          order, broken, data):
    broken_at = data.draw(st.integers(0, len(rows) - 1)) if broken else None
    content = _csv([id_name, year_name, outcome_name], rows, list(order), broken_at)
    numbered = [(i + 1 + (broken_at is not None and i >= broken_at), r) for i, r in enumerate(rows)]
    if all(r[2] in BAD for r in rows):
        with pytest.raises(SchemaError, match=f"column '{outcome_name}': the outcome column cannot be read"):
            read_outcomes(content, DEMO_SPEC)
        return
    try:
        found = read_outcomes(content, DEMO_SPEC)
    except RiskcoreError as err:  # anything else is a bug
        raise AssertionError(f"a valid file was refused: {err}") from None
    valid = [(r[0], r[1], int(r[2] in TRUE)) for _, r in numbered if r[0] and r[2] in (*TRUE, *FALSE)]
    frame = found.frame
    assert list(zip(frame["id"], [p if p == p and p is not None else "" for p in frame["period"]], frame["y"],
                    strict=True)) == valid
    expected = {(n, outcome_name) for n, r in numbered if r[2] in BAD}
    expected |= {(n, id_name) for n, r in numbered if not r[0] and r[2] not in BAD}
    expected |= {(n, outcome_name) for n, r in numbered if r[0] and r[2] == ""}  # an id without its outcome
    if broken_at is not None:
        expected.add((broken_at + 1, None))
    assert {(p.row, p.column) for p in found.problems} == expected
    assert found.n_rows == len(rows) + broken
    if expected:
        assert found.notes()[0].startswith(f"{len(expected):,} of {found.n_rows:,} outcome row(s) could not be used")
    else:
        assert found.notes() == []


def test_an_outcomes_file_without_an_id_or_outcome_column_says_what_it_needs():
    with pytest.raises(MissingColumnError, match="no company id and no outcome column; it needs the company id "
                                                 r"\(company_id\), the period \(fiscal_year\)"):
        read_outcomes(b"name,year,score\nA,2024,3\n", DEMO_SPEC)


def test_two_other_labels_need_the_positive_one_named():
    content = b"company_id,fiscal_year,status\nA,2024,bad\nB,2024,good\n"
    with pytest.raises(SchemaError, match="the outcome column cannot be read"):
        read_outcomes(content.replace(b"status", b"default"), DEMO_SPEC)
    found = read_outcomes(content.replace(b"status", b"default"), DEMO_SPEC, positive="bad")
    assert found.frame["y"].tolist() == [1, 0] and found.problems == []


def test_the_period_column_can_be_named():
    found = read_outcomes(b"id,quarter,outcome\nA,2024Q1,1\nB,2024Q2,0\n", DEMO_SPEC, period="Quarter")
    assert found.frame.values.tolist() == [["A", "2024Q1", 1], ["B", "2024Q2", 0]]
    without = read_outcomes(b"id,outcome\nA,1\n", DEMO_SPEC)
    assert without.frame["period"].isna().all()


def _spec() -> DatasetSpec:
    return DatasetSpec(name="t", target="y", id="company_id", time="fiscal_year", segment="sector", features=(
        FeatureSpec("x"), FeatureSpec("sector", kind="categorical", categories=("A", "B"))))


def _result(n: int, rng: np.random.Generator, *, with_year: bool = True) -> ScoreResult:
    inputs = pd.DataFrame({"company_id": [f"C{i}" for i in range(n)], "x": rng.normal(size=n),
                           "sector": rng.choice(["A", "B"], n)})
    if with_year:
        inputs.insert(1, "Fiscal Year", np.where(np.arange(n) % 2, 2025, 2026))
    scores = pd.DataFrame({"company_id": inputs["company_id"], "p_default": rng.uniform(0.001, 0.3, n)})
    return ScoreResult(scores=scores, rejects=pd.DataFrame(), id_column="company_id", _inputs=inputs)


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(SEED)
    frame = pd.DataFrame({"x": rng.normal(size=1000), "sector": rng.choice(["A", "B"], 1000)})
    p = rng.uniform(0.001, 0.3, 1000)
    return build_reference(_spec(), frame, p, p, (rng.random(1000) < p).astype(int))


def test_the_sink_adds_each_chunk_with_its_ids_periods_and_segments(reference):
    rng = np.random.default_rng(SEED)
    sink = MonitorSink(reference, _spec())
    chunks = [_result(300, rng), _result(200, rng), _result(0, rng)]
    for chunk in chunks:
        sink.add(chunk)
    assert sink.period == "fiscal_year" and sink.period_found
    assert sink.counts.n == 500 and set(sink.counts.periods) == {2025, 2026}
    rows = sink.counts.rows()
    assert rows["id"].tolist() == [*chunks[0].scores["company_id"], *chunks[1].scores["company_id"]]
    np.testing.assert_array_equal(rows["p_default"], np.concatenate([c.scores["p_default"] for c in chunks[:2]]))
    sector = sum(c.features["sector"] for c in sink.counts.periods.values())
    counted = pd.concat([c.inputs["sector"] for c in chunks[:2]]).value_counts()
    assert sector[0, 0] == counted["A"] and sector[1, 1] == counted["B"]  # segment A holds only level A
    sink.reset()
    assert sink.counts.n == 0 and not sink.period_found


def test_without_the_period_column_the_sink_says_so(reference):
    sink = MonitorSink(reference, _spec(), period="quarter")
    sink.add(_result(50, np.random.default_rng(SEED), with_year=False))
    assert not sink.period_found and list(sink.counts.periods) == ["all"]
