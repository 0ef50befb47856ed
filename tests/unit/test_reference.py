"""The monitoring reference profile: the KS grid against scipy, JSON round trips, and what build_reference freezes."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import SEED
from scipy import stats

from riskcore.data.schema import DatasetSpec, FeatureSpec
from riskcore.evaluation.backtest import expected_auc
from riskcore.evaluation.drift import FrozenBins, psi
from riskcore.evaluation.grading import grade_of
from riskcore.evaluation.reference import (
    GRADE_NAMES,
    CdfGrid,
    FeatureReference,
    ReferenceProfile,
    build_reference,
)
from riskcore.numeric import roc_auc

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(finite | st.sampled_from([0.0, 1.0, 2.5]), min_size=1, max_size=400)


def _largest_reference_gap(grid: CdfGrid) -> float:
    """Largest reference mass between two grid points, the two open ends included."""
    return float(np.max(np.diff([0.0, *grid.cdf, 1.0])))


# only the statistic is compared; scipy's asymptotic p-value warns on tiny samples
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@given(samples, samples, st.booleans())
@settings(max_examples=80, deadline=None)
def test_grid_ks_is_within_one_cell_of_scipy(reference, current, add_noise):
    if add_noise:
        current = [*current, float("nan"), float("inf")]  # ignored by both
    grid = CdfGrid.of(reference)
    ks = grid.ks_from_counts(grid.cell_counts(current))
    exact = stats.ks_2samp(reference, [c for c in current if math.isfinite(c)], method="asymp").statistic
    assert ks <= exact + 1e-12
    assert exact <= ks + _largest_reference_gap(grid) + 1e-12


@given(samples)
@settings(max_examples=60, deadline=None)
def test_grid_ks_is_zero_on_the_reference_values_themselves(values):
    grid = CdfGrid.of(values)
    assert grid.ks_from_counts(grid.cell_counts(values)) == 0.0
    assert grid.ks_from_counts(grid.cell_counts(list(reversed(values)))) == 0.0


def test_grid_cells_add_up_chunk_by_chunk():
    rng = np.random.default_rng(SEED)
    x = rng.lognormal(size=5000)
    grid = CdfGrid.of(rng.lognormal(size=3000))
    whole = grid.cell_counts(x)
    np.testing.assert_array_equal(whole, sum(grid.cell_counts(part) for part in np.array_split(x, 7)))
    assert whole.sum() == len(x) and len(whole) == len(grid.points) + 1


def test_grid_points_and_cdf_are_the_training_percentiles():
    x = np.arange(1, 1001, dtype=float)
    grid = CdfGrid.of(np.append(x, [np.nan, -np.inf]))
    assert grid.n == 1000 and len(grid.points) == 99
    np.testing.assert_allclose(grid.points, np.quantile(x, np.linspace(0.01, 0.99, 99)))
    np.testing.assert_allclose(grid.cdf, [np.mean(x <= p) for p in grid.points])


def test_an_empty_grid_gives_nan():
    grid = CdfGrid.of([np.nan])
    assert grid == CdfGrid((), (), 0)
    assert math.isnan(grid.ks_from_counts(grid.cell_counts([1.0, 2.0])))
    assert math.isnan(CdfGrid.of([1.0, 2.0]).ks_from_counts([0, 0, 0]))


def _spec() -> DatasetSpec:
    return DatasetSpec(
        name="small", target="default", id="company_id", time="fiscal_year", segment="sector",
        features=(
            FeatureSpec("income", family="financial", min=0.0),
            FeatureSpec("esg", family="esg", min=0.0, max=100.0, label="ESG score"),
            FeatureSpec("sector", kind="categorical", family="profile", categories=("A", "B", "C")),
        ),
    )


def _train_frame(n: int = 4000, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 1, n)
    income[:20] = np.nan
    esg = rng.uniform(0, 100, n)
    esg[20:25] = 150.0  # outside the valid range
    sector = rng.choice(["A", "B", "C"], n, p=[0.5, 0.3, 0.2]).astype(object)
    return pd.DataFrame({"company_id": [f"C{i}" for i in range(n)], "fiscal_year": 2020, "income": income,
                         "esg": esg, "sector": sector})


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    rng = np.random.default_rng(SEED)
    p_hold = stats.beta.rvs(1, 15, size=2000, random_state=rng)
    p_test = p_hold[1000:]
    y_test = (rng.random(1000) < p_test).astype(int)
    return build_reference(_spec(), _train_frame(), p_hold, p_test, y_test)


def test_build_reference_freezes_every_feature_on_the_training_rows(profile):
    frame = _train_frame()
    assert list(profile.features) == ["income", "esg", "sector"] and profile.training_rows == len(frame)
    income, esg, sector = (profile.features[n] for n in ("income", "esg", "sector"))
    assert income.bins == FrozenBins.numeric(frame["income"].to_numpy(), 0.0, None)
    assert income.bins.reference_counts[-2] == 20
    assert esg.bins.reference_counts[-1] == 5 and (esg.bins.lo, esg.bins.hi) == (0.0, 100.0)
    assert (esg.family, esg.label) == ("esg", "ESG score")
    assert sector.bins.levels == ("A", "B", "C") and sector.grid is None
    assert income.grid == CdfGrid.of(frame["income"].to_numpy())


def test_segment_counts_add_up_to_the_overall_counts(profile):
    assert profile.segment == "sector"
    for ref in profile.features.values():
        assert set(ref.segments) == {"A", "B", "C"}
        np.testing.assert_array_equal(np.sum(list(ref.segments.values()), axis=0), ref.bins.reference_counts)
    by_sector = profile.features["sector"].segments
    assert by_sector["B"][1] == sum(by_sector["B"])  # within segment B every row is in bin B


def test_score_grades_and_test_metrics(profile):
    rng = np.random.default_rng(SEED)
    p_hold = stats.beta.rvs(1, 15, size=2000, random_state=rng)
    p_test, y_test = p_hold[1000:], (rng.random(1000) < p_hold[1000:]).astype(int)
    assert sum(profile.score.reference_counts) == 2000 and (profile.score.lo, profile.score.hi) == (0.0, 1.0)
    assert profile.grades.levels == GRADE_NAMES
    np.testing.assert_array_equal(profile.grades.counts(grade_of(p_hold)), profile.grades.reference_counts)
    assert profile.test["auc"] == pytest.approx(roc_auc(y_test, p_test))
    assert profile.test["expected_auc"] == pytest.approx(expected_auc(p_test, n_draws=0)[0])
    assert (profile.test["n"], profile.test["defaults"]) == (1000, y_test.sum())
    assert profile.test["mean_pd"] == pytest.approx(p_test.mean())
    grades = [g["grade"] for g in profile.test_grades]
    assert grades == sorted(grades, key=GRADE_NAMES.index)
    assert sum(g["n"] for g in profile.test_grades) == 1000
    assert sum(g["defaults"] for g in profile.test_grades) == y_test.sum()


def test_the_profile_round_trips_through_json(profile):
    again = ReferenceProfile.from_dict(json.loads(json.dumps(profile.as_dict())))
    assert again.features == profile.features
    assert (again.score, again.grades, again.segment, again.training_rows) == (
        profile.score, profile.grades, profile.segment, profile.training_rows)
    assert again.test == pytest.approx(profile.test) and again.test_grades == profile.test_grades
    ref = profile.features["esg"]
    assert FeatureReference.from_dict(json.loads(json.dumps(ref.as_dict()))) == ref


def test_a_profile_without_a_segment_column():
    spec = DatasetSpec(name="s", target="y", features=(FeatureSpec("x"),), segment="sector")
    frame = pd.DataFrame({"x": np.arange(100.0)})
    p = np.linspace(0.01, 0.5, 100)
    ref = build_reference(spec, frame, p, p, (p > 0.3).astype(int))
    assert ref.segment is None and ref.features["x"].segments == {}


@pytest.mark.parametrize("data", [{"format": 99}, [], {"features": []}])
def test_from_dict_rejects_what_is_not_a_profile(data):
    with pytest.raises(ValueError, match="not a reference profile of format 1"):
        ReferenceProfile.from_dict(data)


def test_natural_variation_is_the_largest_psi_of_one_training_year():
    rng = np.random.default_rng(SEED)
    years = np.repeat([2020, 2021, 2022, 2023], [1500, 1500, 1500, 150])  # 2023 is too small to count
    x = rng.normal(size=len(years)) + np.where(years == 2022, 0.5, 0.0) + np.where(years == 2023, 5.0, 0.0)
    sector = rng.choice(np.array(["A", "B"], dtype=object), len(years))
    spec = DatasetSpec(name="s", target="y", time="year", segment="sector",
                       features=(FeatureSpec("x"), FeatureSpec("sector", kind="categorical", categories=("A", "B"))))
    frame = pd.DataFrame({"year": years, "x": x, "sector": sector})
    p = np.linspace(0.01, 0.4, 500)
    ref = build_reference(spec, frame, p, p, (p > 0.2).astype(int)).features["x"]
    bins = ref.bins

    def largest(mask):
        pooled = bins.counts(x[mask])
        return max(psi(pooled, bins.counts(x[mask & (years == y)])) for y in (2020, 2021, 2022)
                   if np.count_nonzero(mask & (years == y)) >= 200)

    assert ref.natural_psi == pytest.approx(largest(np.ones(len(x), dtype=bool)))
    assert ref.natural_psi > 0.05
    for level in ("A", "B"):
        assert ref.segment_natural[level] == pytest.approx(largest(sector == level))
    no_years = build_reference(DatasetSpec(name="s", target="y", features=(FeatureSpec("x"),)), frame, p, p,
                               (p > 0.2).astype(int)).features["x"]
    assert no_years.natural_psi is None and no_years.segment_natural == {}
