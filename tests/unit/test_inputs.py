"""The input checks every evaluation function shares: one message per problem, naming rows and arguments."""

from __future__ import annotations

import numpy as np
import pytest

from riskcore.errors import SchemaError
from riskcore.evaluation.inputs import (
    check_1d,
    check_confidence,
    check_inputs,
    check_labels,
    check_n_bins,
    check_numbers,
    check_resamples,
    check_threshold,
)


def test_check_numbers_names_the_rows_below_the_minimum():
    with pytest.raises(SchemaError, match=r"column 'exposure': 1 value is below the minimum 0.0 \(row 2: -3.0\)"):
        check_numbers(np.array([10.0, -3.0]), "exposure", low=0.0)


def test_check_numbers_gathers_missing_and_out_of_range_values():
    with pytest.raises(SchemaError) as err:
        check_numbers(np.array([1.5, np.inf, 0.2, np.nan]), "p_default", low=0.0, high=1.0)
    rules = [p.problem for p in err.value.problems]
    assert rules[0].startswith("2 values are missing or infinite (row 2: inf, row 4: nan)")
    assert rules[1] == "1 value is outside [0.0, 1.0] (row 1: 1.5)"


def test_check_numbers_checks_the_length_and_the_dtype():
    with pytest.raises(SchemaError, match="has 1 values but y_true has 2"):
        check_numbers(np.array([10.0]), "exposure", n=2)
    with pytest.raises(SchemaError, match="must be numbers"):
        check_numbers(np.array(["a", "b"], dtype=object), "exposure")
    out = check_numbers([1, 2], "x")
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0]


def test_check_1d_accepts_a_column_and_refuses_a_matrix():
    assert check_1d(np.ones((3, 1)), "x").shape == (3,)
    with pytest.raises(SchemaError, match=r"expected a 1-D array, got shape \(2, 2\)"):
        check_1d(np.ones((2, 2)), "x")


def test_check_labels_accepts_bools_and_refuses_other_values():
    assert check_labels(np.array([True, False])).tolist() == [1.0, 0.0]
    with pytest.raises(SchemaError, match=r"1 value is not 0 or 1 \(row 3: 2\)"):
        check_labels(np.array([0, 1, 2]))
    with pytest.raises(SchemaError, match="is empty"):
        check_labels(np.array([]))
    assert len(check_labels(np.array([]), allow_empty=True)) == 0


def test_check_inputs_returns_float_arrays_of_one_length():
    y, p, w = check_inputs([0, 1], [0.2, 0.7], [1, 2])
    assert y.tolist() == [0.0, 1.0] and p.tolist() == [0.2, 0.7] and w is not None and w.tolist() == [1.0, 2.0]
    assert check_inputs([0, 1], [-3.0, 5.0], probability=False)[1].tolist() == [-3.0, 5.0]
    with pytest.raises(SchemaError, match="outside"):
        check_inputs([0, 1], [-3.0, 5.0])
    with pytest.raises(SchemaError, match="sample_weight"):
        check_inputs([0, 1], [0.2, 0.7], [1.0, -1.0])


@pytest.mark.parametrize(("check", "bad", "message"), [
    (check_n_bins, 0, "n_bins=0"),
    (check_n_bins, True, "n_bins=True"),
    (check_resamples, 2.5, "n_resamples=2.5"),
    (check_confidence, 1.0, "confidence=1.0"),
    (check_threshold, "high", "threshold='high'"),
    (check_threshold, float("nan"), "threshold is NaN"),
])
def test_settings_are_checked_with_a_plain_value_error(check, bad, message):
    with pytest.raises(ValueError, match=message):
        check(bad)


def test_good_settings_come_back_as_plain_numbers():
    assert check_n_bins(np.int64(5)) == 5 and type(check_n_bins(np.int64(5))) is int
    assert check_resamples(10) == 10
    assert check_confidence(0.9) == 0.9
    assert check_threshold(np.float32(0.5)) == 0.5
