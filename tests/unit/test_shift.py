"""Distribution shift between two samples: PSI with quantile bins and a missing bin, KS, the per-column table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskcore.evaluation.shift import population_stability, shift_table


def test_psi_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    e = pd.Series(rng.normal(size=5000))
    a = pd.Series(rng.normal(0.5, 1, size=5000))
    psi, ks = population_stability(e, a)
    edges = np.quantile(e, np.linspace(0, 1, 11)[1:-1])
    pe = np.bincount(np.searchsorted(edges, e, side="right"), minlength=10) / 5000
    pa = np.bincount(np.searchsorted(edges, a, side="right"), minlength=10) / 5000
    expected = np.sum((pa - pe) * np.log(pa / pe))
    assert psi == pytest.approx(expected, rel=1e-6)
    assert 0.15 < ks < 0.25
    assert population_stability(e, e)[0] == pytest.approx(0.0)


def test_missing_values_have_their_own_bin_and_text_has_no_ks():
    e = pd.Series([1.0, 2.0, 3.0, 4.0] * 50)
    a = e.where(np.arange(200) < 100)  # the same values, half of them missing
    psi, ks = population_stability(e, a)
    assert psi > 1.0 and ks == pytest.approx(0.0)
    psi, ks = population_stability(pd.Series(list("aabb") * 50), pd.Series(list("abbb") * 50))
    assert psi > 0 and np.isnan(ks)
    assert np.isnan(population_stability(pd.Series([np.nan, np.nan]), pd.Series([1.0]))[0])


def test_shift_table_flags_columns_above_the_warning_level():
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"stable": rng.normal(size=2000), "moved": rng.normal(size=2000)})
    test = pd.DataFrame({"stable": rng.normal(size=2000), "moved": rng.normal(2.0, 1, size=2000)})
    table = shift_table(train, test, ["stable", "moved"], 0.25)
    assert list(table.columns) == ["column", "psi", "ks", "status"]
    assert table["column"].tolist() == ["moved", "stable"]
    assert table["status"].tolist() == ["warn", "pass"]
