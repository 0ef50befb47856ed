"""Numeric columns that identify a row or count time: caught by their shape, never a ratio or an amount."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskcore.data.identifiers import (
    MIN_VALUES,
    even_spread,
    identifier_reason,
    period_order,
    time_order,
)

RNG = np.random.default_rng(7)
N = 2000
YEARS = np.sort(RNG.integers(2015, 2022, N)).astype(float)  # rows in time order, as an export lists them


def _gamma_by_pairs(x, t) -> float:
    """Goodman and Kruskal's γ by its definition: over the pairs untied in both, (concordant − discordant) / both."""
    signs = [np.sign(x[i] - x[j]) * np.sign(t[i] - t[j]) for i, j in itertools.combinations(range(len(x)), 2)]
    concordant, discordant = sum(s > 0 for s in signs), sum(s < 0 for s in signs)
    return (concordant - discordant) / (concordant + discordant) if concordant + discordant else float("nan")


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 4)), min_size=2, max_size=40))
def test_gamma_is_its_definition(pairs):
    x, t = (np.array(v, dtype=float) for v in zip(*pairs))
    expected = _gamma_by_pairs(x, t)
    got = time_order(x, t)
    assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected, abs=1e-9)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 5)), min_size=3, max_size=60))
def test_gamma_turns_with_the_column(pairs):
    x, t = (np.array(v, dtype=float) for v in zip(*pairs))
    got, turned = time_order(x, t), time_order(-x, t)
    assert (np.isnan(got) and np.isnan(turned)) or turned == pytest.approx(-got, abs=1e-9)


def test_numbers_handed_out_in_turn_spread_evenly_and_amounts_do_not():
    assert even_spread(1_000_014_003 + 10 * np.arange(N)) < 0.01
    assert even_spread(RNG.permutation(np.arange(N))) < 0.01
    assert even_spread(np.round(np.exp(RNG.normal(13, 1, N)))) > 0.5  # a turnover in whole euros


def test_a_sequential_loan_number_is_an_identifier_that_rises_with_time():
    numbers = 1_000_014_003 + 10 * np.arange(N, dtype=float)
    reason = identifier_reason(numbers, integer=True, periods=YEARS, time_name="ApprovalFY")
    assert "2,000 distinct whole numbers in 2,000 rows (100%)" in reason
    assert "rises with the time column 'ApprovalFY' (Goodman–Kruskal γ +1.00" in reason


def test_numbers_drawn_at_random_are_an_identifier_unrelated_to_time():
    reason = identifier_reason(RNG.permutation(np.arange(10**6, 10**6 + N)).astype(float), integer=True,
                               periods=YEARS)
    assert "an identifier" in reason and "time column" not in reason


def test_a_count_down_falls_with_time_even_as_a_float():
    stamp = -np.sort(RNG.uniform(0, 1000, N))  # days until a date, one value per row
    reason = identifier_reason(stamp, integer=False, periods=YEARS, time_name="year")
    assert reason.startswith("it falls with the time column 'year' (Goodman–Kruskal γ -1.00")


@pytest.mark.parametrize(("name", "values", "options"), [
    ("a ratio unique per row", RNG.normal(0.4, 0.2, N), {"integer": False}),
    ("a ratio that drifts a little with time", RNG.normal(0, 1, N) + 0.1 * (YEARS - 2015), {"integer": False}),
    ("a turnover in whole euros, unique per row", np.round(np.exp(RNG.normal(13, 1, N))), {"integer": True}),
    ("money written with a currency sign", RNG.permutation(np.arange(N)) * 100.0 + 5_000, {"integer": True,
                                                                                            "amount": True}),
    ("a count of employees", RNG.poisson(12, N).astype(float), {"integer": True}),
    ("a policy rate, one value per year", 0.5 * (YEARS - 2014), {"integer": False}),
    ("a short column", np.arange(MIN_VALUES - 1, dtype=float), {"integer": True}),
])
def test_features_are_not_identifiers(name, values, options):
    periods = YEARS[:len(values)]
    assert identifier_reason(values, periods=periods, **options) is None, name


def test_two_periods_never_make_a_column_rise_with_time():
    two = np.repeat([2020.0, 2021.0], N // 2)
    assert identifier_reason(np.arange(N, dtype=float) + 0.5, integer=False, periods=two) is None


def test_missing_values_are_left_out_of_both_rules():
    numbers = 1_000_014_003 + 10 * np.arange(N, dtype=float)
    numbers[::3] = np.nan
    periods = YEARS.copy()
    periods[1::5] = np.nan
    reason = identifier_reason(numbers, integer=True, periods=periods)
    assert f"in {N - len(numbers[::3]):,} rows" in reason and "rises with the time column" in reason


@given(st.permutations(range(120)), st.integers(0, 2**31))
def test_the_reason_does_not_depend_on_row_order(order, seed):
    values = np.r_[1_000 + 10 * np.arange(100, dtype=float), np.random.default_rng(seed).normal(size=20)]
    periods = np.r_[np.repeat(np.arange(2016.0, 2021.0), 20), np.full(20, 2020.0)]
    idx = np.array(order)
    assert identifier_reason(values[idx], integer=False, periods=periods[idx]) == \
        identifier_reason(values, integer=False, periods=periods)


def test_the_period_of_a_row_is_its_year_or_its_date():
    np.testing.assert_array_equal(period_order(pd.Series(["2020", "2021", "", "2019"])),
                                  [2020.0, 2021.0, np.nan, 2019.0])
    dates = period_order(pd.Series(["2020-03-31", "2019-12-31", None]))
    assert dates[0] > dates[1] and np.isnan(dates[2])
    assert period_order(pd.Series(["north", "south", "east"])) is None
