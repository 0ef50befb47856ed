"""Each rule of a feature's spec, checked and worded once."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskcore.data import rules
from riskcore.data.schema import DEMO_SPEC, FeatureSpec

DEBT = DEMO_SPEC.feature("debt_to_assets")  # 0 to 5, ×
ROA = DEMO_SPEC.feature("roa")  # -3 to 2, %
SECTOR = DEMO_SPEC.feature("sector")


def test_outside_range_is_strict_and_never_flags_missing_values():
    values = np.array([-0.01, 0.0, 2.5, 5.0, 5.01, np.nan])
    assert rules.outside_range(DEBT, values).tolist() == [True, False, False, False, True, False]
    assert bool(rules.outside_range(DEBT, 7.0)) and not bool(rules.outside_range(DEBT, 1.0))


@given(value=st.floats(allow_nan=False, allow_infinity=False),
       lo=st.none() | st.floats(-1e6, 1e6), hi=st.none() | st.floats(-1e6, 1e6))
def test_the_one_number_check_agrees_with_the_array_check(value, lo, hi):
    feature = FeatureSpec("x", min=lo, max=hi)
    assert rules.is_outside_range(feature, value) == bool(rules.outside_range(feature, np.array([value]))[0])


def test_an_open_bound_is_no_bound():
    upper_only = FeatureSpec("x", max=1.0)
    assert rules.outside_range(upper_only, np.array([-1e9, 2.0])).tolist() == [False, True]
    assert rules.range_text(None, 1.0) == "at most 1" and rules.range_text(0.0, None) == "at least 0"


def test_range_message_names_value_range_and_unit():
    assert rules.range_message(DEBT, 7.0) == ("value 7 is outside the valid range 0 to 5 (×); "
                                              "correct the value or leave it empty")
    assert "(a fraction: 0.25 means 25%)" in rules.range_message(ROA, 2.5)
    assert "0 to 100,000" in rules.range_message(DEMO_SPEC.feature("total_assets"), 2e5)


def test_category_lookup_ignores_case_and_gives_positions():
    lookup = rules.category_lookup(SECTOR.categories)
    assert lookup["energy"] == SECTOR.categories.index("Energy")
    assert len(lookup) == len(SECTOR.categories)


def test_unknown_category_lists_at_most_twelve_allowed_values():
    many = FeatureSpec("code", "categorical", categories=tuple(f"c{i}" for i in range(20)))
    text = rules.unknown_category_message(many, "zz")
    assert text.startswith("'zz' is not a known code; allowed: c0, c1")
    assert text.endswith("c11 …")


@pytest.mark.parametrize("message", [rules.not_a_number_message, rules.non_finite_message,
                                     rules.not_a_finite_number_message, rules.exposure_unusable_message,
                                     lambda v: rules.unknown_category_message(SECTOR, v)])
def test_a_long_value_is_cut_short_in_every_message(message):
    text = message("x" * 5000)
    assert "x" * 58 in text and "x" * 60 not in text and "…" in text


def test_show_value_writes_numbers_plainly_and_quotes_text():
    assert [rules.show_value(v) for v in (7.0, np.float64(0.5), np.int64(3), "abc", True)] == \
        ["7", "0.5", "3", "'abc'", "True"]
