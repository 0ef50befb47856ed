"""Outcomes joined to the scored rows, realised performance, and the grade migration against a double loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import SEED

from riskcore.evaluation.backtest import grade_backtest
from riskcore.evaluation.grading import grade_index, grade_of
from riskcore.evaluation.metrics import roc_auc
from riskcore.evaluation.realised import grade_migration, join_outcomes, realised_performance
from riskcore.evaluation.reference import GRADE_NAMES


def _rows(ids, periods, p):
    return pd.DataFrame({"id": pd.Series(ids, dtype=object), "period": pd.Series(periods, dtype=object),
                         "p_default": np.asarray(p, dtype=float)})


def test_periods_written_as_decimals_match_whole_years():
    rows = _rows(["A", "B", "A"], [2024, 2024, 2025], [0.1, 0.2, 0.3])
    outcomes = pd.DataFrame({"id": ["A", "B", "A"], "period": ["2024.0", " 2024 ", 2025.0], "y": [1, 0, 0]})
    notes: list[str] = []
    matched = join_outcomes(rows, outcomes, notes)
    assert notes == []
    assert matched[["id", "period", "y"]].values.tolist() == [["A", 2024, 1], ["B", 2024, 0], ["A", 2025, 0]]
    assert matched["y"].dtype == np.int64


def test_ids_with_leading_zeros_stay_distinct_companies():
    rows = _rows(["007", "7"], [2024, 2024], [0.1, 0.2])
    outcomes = pd.DataFrame({"id": ["7", "007"], "period": [2024, 2024], "y": [1, 0]})
    notes: list[str] = []
    matched = join_outcomes(rows, outcomes, notes)
    assert dict(zip(matched["id"], matched["y"], strict=True)) == {"007": 0, "7": 1} and notes == []


def test_unmatched_missing_and_repeated_outcomes_are_counted_in_the_notes():
    rows = _rows(["A", "B", "C", "D"], [2024] * 4, [0.1, 0.2, 0.3, 0.4])
    outcomes = pd.DataFrame({"id": ["A", "A", "B", "X", "Y"], "period": [2024, 2024, 2024, 2024, 2023],
                             "y": [1, 0, 0, 1, 1]})
    notes: list[str] = []
    matched = join_outcomes(rows, outcomes, notes)
    assert matched["id"].tolist() == ["A", "B"] and matched["y"].tolist() == [1, 0]  # the first A is used
    assert len(notes) == 3
    assert notes[0].startswith("1 outcome row(s) repeat an id and period")
    assert notes[1].startswith("2 outcome(s) match no scored row (by id and period)")
    assert notes[2].startswith("2 scored row(s) have no outcome yet; the realised figures cover 2 rows")


def test_without_periods_the_join_is_on_the_id_alone():
    rows = _rows(["A", "B"], ["all", "all"], [0.1, 0.2])
    outcomes = pd.DataFrame({"id": ["B", "A"], "period": [None, None], "y": [1, 0]})
    notes: list[str] = []
    matched = join_outcomes(rows, outcomes, notes)
    assert matched["y"].tolist() == [0, 1] and notes == []


def test_realised_performance_measures_the_matched_rows():
    rng = np.random.default_rng(SEED)
    n = 4000
    p = rng.beta(1, 12, n)
    ids = np.array([f"C{i % 2000}" for i in range(n)], dtype=object)
    periods = np.where(np.arange(n) < 2000, 2024, 2025)
    y = (rng.random(n) < p).astype(int)
    outcomes = pd.DataFrame({"id": ids, "period": periods, "y": y}).iloc[100:]
    notes: list[str] = []
    result = realised_performance(_rows(ids, periods, p), outcomes, [2024, 2025], notes)
    p_m, y_m = p[100:], y[100:]
    assert result.summary["n"] == n - 100 and result.summary["defaults"] == y_m.sum()
    assert result.summary["auc"] == pytest.approx(roc_auc(y_m, p_m))
    assert result.summary["gini"] == pytest.approx(2 * roc_auc(y_m, p_m) - 1)
    citl = result.summary["calibration_in_the_large"]
    assert citl["predicted"] == pytest.approx(p_m.mean()) and citl["observed"] == pytest.approx(y_m.mean())
    table = grade_backtest(grade_of(p_m), p_m, y_m)
    assert [g["grade"] for g in result.grades] == sorted(table["grade"], key=GRADE_NAMES.index)
    assert sum(g["defaults"] for g in result.grades) == y_m.sum()
    assert [(v["period"], v["n"]) for v in result.vintages] == [(2024, 1900), (2025, 2000)]
    late = periods[100:] == 2025
    assert result.vintages[1]["defaults"] == y_m[late].sum()
    assert result.vintages[1]["auc"] == pytest.approx(roc_auc(y_m[late], p_m[late]))
    assert any("100 scored row(s) have no outcome yet" in note for note in notes)


def test_no_matching_outcome_gives_empty_figures():
    notes: list[str] = []
    result = realised_performance(_rows(["A"], [2024], [0.1]), pd.DataFrame({"id": ["Z"], "period": [2024],
                                                                             "y": [1]}), [2024], notes)
    assert result.summary["n"] == 0 and result.grades == [] and result.vintages == []


def _brute_migration(rows: pd.DataFrame, periods: list) -> np.ndarray:
    """Double loop over period pairs and companies; a company's last row in a period stands for it."""
    k = len(GRADE_NAMES)
    matrix = np.zeros((k, k), dtype=int)
    last: dict = {}
    for r in rows.itertuples():
        if r.id is not None:
            last[(str(r.id), r.period)] = grade_index(np.array([r.p_default]))[0]
    for before, after in zip(periods[:-1], periods[1:], strict=True):
        for (company, period), g in last.items():
            if period == before and (company, after) in last:
                matrix[g, last[(company, after)]] += 1
    return matrix


@given(
    n=st.integers(1, 120), n_companies=st.integers(1, 30), n_periods=st.integers(2, 4),
    seed=st.integers(0, 2**31 - 1),
)
@settings(max_examples=60, deadline=None)
def test_grade_migration_matches_a_double_loop(n, n_companies, n_periods, seed):
    rng = np.random.default_rng(seed)
    ids = [f"C{i}" if i % 7 else None for i in rng.integers(0, n_companies, n)]
    periods = rng.integers(2020, 2020 + n_periods, n).tolist()
    rows = _rows(ids, periods, rng.beta(0.5, 5, n))
    labels = list(range(2020, 2020 + n_periods))
    expected = _brute_migration(rows, labels)
    found = grade_migration(rows, labels)
    if expected.sum() == 0:
        assert found is None
        return
    assert np.array_equal(found["matrix"], expected)
    assert found["companies"] == expected.sum() == sum(p["companies"] for p in found["pairs"])
    assert found["unchanged"] + found["upgrades"] + found["downgrades"] == found["companies"]


def test_a_higher_grade_number_is_a_downgrade():
    rows = _rows(["A", "B", "C", "A", "B", "C"], [2024, 2024, 2024, 2025, 2025, 2025],
                 [0.0005, 0.2, 0.01, 0.2, 0.0005, 0.012])
    m = grade_migration(rows, [2024, 2025])
    assert (m["downgrades"], m["upgrades"], m["unchanged"]) == (1, 1, 1)
    first, last = GRADE_NAMES.index("1"), GRADE_NAMES.index("9")
    assert m["matrix"][first][last] == 1 and m["matrix"][last][first] == 1
    assert m["grades"] == list(GRADE_NAMES)


def test_no_migration_without_two_periods_or_ids():
    assert grade_migration(_rows(["A"], [2024], [0.1]), [2024]) is None
    assert grade_migration(_rows([None, None], [2024, 2025], [0.1, 0.2]), [2024, 2025]) is None
    assert grade_migration(_rows(["A", "B"], [2024, 2025], [0.1, 0.2]), [2024, 2025]) is None
