import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from riskcore.data.schema import DEMO_SPEC
from riskcore.modelling.features import FeatureBuilder, add_panel_features, feature_layout, signed_log


def _panel():
    return pd.DataFrame({
        "company_id": ["A", "A", "A", "B", "B", "C"],
        "fiscal_year": [2019, 2020, 2022, 2020, 2021, 2020],
        "debt_to_assets": [0.2, 0.3, 0.5, 0.4, 0.1, 0.3],
        "roa": [0.05, 0.01, -0.02, 0.1, 0.12, 0.0],
        "current_ratio": [1.0, 1.1, 1.2, 2.0, 2.5, 1.0],
        "ebitda_margin": [0.1] * 6,
        "revenue_growth": [0.1, 0.2, 0.0, 0.05, 0.1, 0.0],
    })


def test_deltas_use_the_previous_consecutive_year():
    out = add_panel_features(_panel(), DEMO_SPEC)
    np.testing.assert_allclose(out["debt_to_assets_delta"], [np.nan, 0.1, np.nan, np.nan, -0.3, np.nan], atol=1e-12)


def test_rolling_std_needs_two_periods_and_resets_at_gaps():
    out = add_panel_features(_panel(), DEMO_SPEC)
    expected_a2020 = np.std([0.05, 0.01], ddof=1)
    assert out["roa_vol_3y"].iloc[1] == pytest.approx(expected_a2020)
    assert np.isnan(out["roa_vol_3y"].iloc[0]) and np.isnan(out["roa_vol_3y"].iloc[2])


def test_row_order_does_not_matter():
    panel = _panel()
    shuffled = panel.sample(frac=1, random_state=3)
    a = add_panel_features(panel, DEMO_SPEC)
    b = add_panel_features(shuffled, DEMO_SPEC).loc[panel.index]
    pd.testing.assert_frame_equal(a, b)


def test_panel_features_never_look_ahead(small_portfolio):
    f = small_portfolio.frame.drop_duplicates(subset=["company_id", "fiscal_year"]).reset_index(drop=True)
    full = add_panel_features(f, DEMO_SPEC)
    cut = 2020
    early = add_panel_features(f[f["fiscal_year"] <= cut], DEMO_SPEC)
    names = [p.name for p in DEMO_SPEC.panel_features]
    pd.testing.assert_frame_equal(full.loc[early.index, names], early[names])


def test_without_id_or_time_panel_features_are_missing():
    out = add_panel_features(_panel().drop(columns=["company_id"]), DEMO_SPEC)
    assert out["roa_delta"].isna().all()


def test_layout_is_known_before_fitting():
    layout = feature_layout(DEMO_SPEC)
    assert layout.categorical == ("sector", "region", "size_class")
    assert "financial_health" in layout.engineered and "roa_delta" in layout.numeric
    assert len(layout.names) == len(set(layout.names))


def test_builder_codes_categories_and_computes_row_features(small_portfolio):
    f = add_panel_features(small_portfolio.frame, DEMO_SPEC)
    fb = FeatureBuilder(DEMO_SPEC).fit(f)
    m = fb.transform(f)
    names = list(fb.get_feature_names_out())
    assert m.shape == (len(f), len(names))
    lev, carbon = f["debt_to_assets"].to_numpy(), f["carbon_intensity"].to_numpy()
    np.testing.assert_allclose(m[:, names.index("leverage_x_carbon")], lev * carbon * 0.001)
    codes = m[:, names.index("sector")]
    assert set(np.unique(codes[~np.isnan(codes)])) <= set(range(11))
    # an unknown category becomes missing rather than a wrong code
    g = f.head(3).copy()
    g["sector"] = ["Energy", "Spaceflight", None]
    codes = fb.transform(g)[:, names.index("sector")]
    assert codes[0] == 0 and np.isnan(codes[1]) and np.isnan(codes[2])


def test_composite_is_fitted_on_the_rows_given(small_portfolio):
    f = add_panel_features(small_portfolio.frame, DEMO_SPEC)
    part = f.iloc[:2000]
    fb = FeatureBuilder(DEMO_SPEC).fit(part)
    x = signed_log(part["current_ratio"].to_numpy())
    assert fb.center_["financial_health"][0] == pytest.approx(np.nanmedian(x))
    other = FeatureBuilder(DEMO_SPEC).fit(f)
    assert other.center_["financial_health"][0] != fb.center_["financial_health"][0]


def test_state_round_trip_and_clone(small_portfolio):
    f = add_panel_features(small_portfolio.frame, DEMO_SPEC)
    fb = FeatureBuilder(DEMO_SPEC).fit(f)
    again = FeatureBuilder.from_state(DEMO_SPEC, fb.state())
    np.testing.assert_array_equal(fb.transform(f), again.transform(f))
    assert clone(fb).get_params()["spec"] == DEMO_SPEC


def test_transform_before_fit_uses_sklearn_message():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):
        FeatureBuilder(DEMO_SPEC).transform(pd.DataFrame({"roa": [0.1]}))


def test_vectorised_rolling_std_equals_pandas():
    from riskcore.modelling.features import _rolling_std

    rng = np.random.default_rng(0)
    x = rng.normal(size=500) * 3 + 100
    x[rng.random(500) < 0.1] = np.nan
    runs = np.sort(rng.integers(0, 80, 500))
    run_start = np.maximum.accumulate(np.where(np.r_[True, runs[1:] != runs[:-1]], np.arange(500), 0))
    for w in (2, 3, 5):
        expected = pd.Series(x).groupby(runs).rolling(w, min_periods=2).std().reset_index(level=0, drop=True)
        np.testing.assert_allclose(_rolling_std(x, run_start, w), expected.sort_index().to_numpy(), rtol=1e-9)


def test_rolling_volatility_in_blocks_equals_one_pass():
    """Blocks cut where a company's run starts give the same bits as one pass over every row."""
    from riskcore.modelling.features import _blocks, _rolling_std

    rng = np.random.default_rng(3)
    n = 5_003
    company = np.sort(rng.integers(0, 900, n))
    starts = np.r_[True, company[1:] != company[:-1]]
    run_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    whole = _rolling_std(x, run_start, 5)
    blocks = _blocks(run_start, size=700)
    assert len(blocks) > 5 and blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(run_start[a] == a for a, _ in blocks)
    pieces = np.empty(n)
    for a, b in blocks:
        pieces[a:b] = _rolling_std(x[a:b], run_start[a:b] - a, 5)
    np.testing.assert_array_equal(pieces, whole)
