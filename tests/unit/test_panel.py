"""riskcore.serving.panel: the inputs of a company's history, and unusable keys."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskcore.data.schema import DEMO_SPEC
from riskcore.serving.panel import MAX_ID_CHARS, history_inputs, id_problems, period_numbers


def test_period_numbers_are_years_for_years_and_dates():
    np.testing.assert_array_equal(period_numbers(pd.Series([2021, None, 2023.0])), [2021, np.nan, 2023])
    dates = pd.Series(pd.to_datetime(["2020-12-31", None]))
    np.testing.assert_array_equal(period_numbers(dates), [2020, np.nan])


def test_history_inputs_treat_values_outside_the_valid_range_as_unknown():
    recipe_inputs = {pf.recipe.inputs[0] for pf in DEMO_SPEC.panel_features if pf.recipe is not None}
    col = next(c for c in sorted(recipe_inputs) if DEMO_SPEC.feature(c).min is not None)
    low = DEMO_SPEC.feature(col).min
    got = history_inputs(pd.DataFrame({col: [low, low - 1.0, np.nan]}), DEMO_SPEC)
    assert set(got) == {col}
    np.testing.assert_array_equal(got[col], [low, np.nan, np.nan])


def test_empty_long_and_repeated_ids_are_rejected_and_have_no_history():
    spec = DEMO_SPEC
    frame = pd.DataFrame({spec.id: ["C1", None, "x" * (MAX_ID_CHARS + 1), "C1", "C2"],
                          spec.time: [2020, 2020, 2020, 2020, 2020]})
    rows = np.arange(1, 6)
    codes = pd.factorize(frame[spec.id].to_numpy(dtype=object))[0]
    parts, key_ok = id_problems(frame, spec, rows, lambda idx: pd.Series(rows[idx].astype(str)), codes)
    rejected = pd.concat(parts)
    assert sorted(rejected["row"]) == [2, 3, 4]
    assert "as row 1" in rejected.loc[rejected["row"] == 4, "problem"].item()
    assert key_ok.tolist() == [True, False, False, False, True]
