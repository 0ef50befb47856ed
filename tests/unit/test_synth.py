import json

import numpy as np
import pandas as pd
import pytest

from riskcore.data.schema import DEMO_SPEC, REGIONS, SECTORS, SIZE_CLASSES
from riskcore.data.synth import Manifest, generate_portfolio, true_logit


def test_same_seed_same_portfolio(small_portfolio):
    again = generate_portfolio(1500, seed=7)
    pd.testing.assert_frame_equal(again.frame, small_portfolio.frame)
    assert again.manifest == small_portfolio.manifest


def test_other_seed_other_portfolio(small_portfolio):
    other = generate_portfolio(1500, seed=8)
    assert not other.frame["true_pd"].equals(small_portfolio.frame["true_pd"])


def test_columns_follow_the_spec(small_portfolio):
    frame = small_portfolio.frame
    for col in (*DEMO_SPEC.feature_names, DEMO_SPEC.id, DEMO_SPEC.time, DEMO_SPEC.target, "true_pd",
                DEMO_SPEC.exposure, DEMO_SPEC.name_column):
        assert col in frame.columns
    assert set(frame["sector"]) == set(SECTORS)
    assert set(frame["region"]) == set(REGIONS)
    assert set(frame["size_class"]) == set(SIZE_CLASSES)
    assert frame["default_12m"].isin([0, 1]).all()
    assert frame["true_pd"].between(0, 1).all()


def test_default_portfolio_meets_the_brief(default_portfolio):
    m = default_portfolio.manifest
    assert 0.04 <= m.default_rate <= 0.10
    assert abs(m.default_rate - 0.06) < 0.01
    assert 0.83 <= m.oracle_auc_latest <= 0.92
    assert m.last_year - m.first_year + 1 == 10
    years = default_portfolio.frame.groupby("fiscal_year")["default_12m"].mean()
    assert years.idxmax() == m.stress_year == 2020


@pytest.mark.parametrize("rate", [0.04, 0.08, 0.10])
def test_default_rate_is_configurable(rate):
    m = generate_portfolio(2000, seed=3, default_rate=rate).manifest
    assert abs(m.default_rate - rate) < 0.15 * rate + 0.005


def test_panel_has_entries_exits_and_persistence(small_portfolio):
    f = small_portfolio.frame.drop_duplicates()
    first = f.groupby("company_id")["fiscal_year"].min()
    last = f.groupby("company_id")["fiscal_year"].max()
    assert (first > first.min()).mean() > 0.2  # companies enter later
    assert (last < last.max()).mean() > 0.2  # and leave
    # a defaulted company leaves the panel after its default year
    defaulted = f[f["default_12m"] == 1].groupby("company_id")["fiscal_year"].max()
    assert (defaulted == last.loc[defaulted.index]).all()
    # condition persists: true PD correlates strongly with last year's
    f = f.sort_values(["company_id", "fiscal_year"])
    prev = f.groupby("company_id")["true_pd"].shift(1)
    ok = prev.notna()
    assert np.corrcoef(np.log(f.loc[ok, "true_pd"]), np.log(prev[ok]))[0, 1] > 0.4


def test_true_pd_is_the_documented_function(small_portfolio):
    f = small_portfolio.frame.drop_duplicates(subset=["company_id", "fiscal_year"])
    # each company's first year, where the deterioration term is zero, with clean ESG and values
    first = f.sort_values("fiscal_year").groupby("company_id").head(1)
    first = first[first["esg_governance"].notna()]
    first = first[~first.set_index(["company_id", "fiscal_year"]).index.isin(
        [(d["id"], d["year"]) for d in small_portfolio.manifest.outliers + small_portfolio.manifest.impossible])]
    logit = small_portfolio.manifest.intercept + true_logit(first)
    np.testing.assert_allclose(first["true_pd"], 1 / (1 + np.exp(-logit)), rtol=1e-9)


def test_esg_missing_more_often_for_small_firms(small_portfolio):
    f = small_portfolio.frame
    share = f["esg_governance"].isna().groupby(f["size_class"]).mean()
    assert share["micro"] > share["small"] > share["medium"]


def test_market_data_only_for_listed_companies(small_portfolio):
    f = small_portfolio.frame
    vol = f["equity_vol_90d"].notna()
    assert (vol == f["bid_ask_spread_bps"].notna()).all()
    assert 0.2 < vol.mean() < 0.6


def test_manifest_round_trips(small_portfolio):
    m = small_portfolio.manifest
    assert Manifest.from_json(m.to_json()) == m
    assert len(m.duplicates) == 12 and len(m.outliers) == 30 and len(m.impossible) == 15


def test_coverage_spans_the_realistic_range(default_portfolio):
    cov = default_portfolio.frame["interest_coverage"]
    assert cov.min() <= 0.05 and cov.quantile(0.99) >= 50


def test_fifty_thousand_rows():
    p = generate_portfolio(9200, seed=1)
    assert len(p.frame) >= 50_000


def test_rejects_nonsense_arguments():
    with pytest.raises(ValueError, match="default_rate"):
        generate_portfolio(100, default_rate=0.9)
    with pytest.raises(ValueError, match="n_companies"):
        generate_portfolio(10)


def test_a_defaulted_company_leaves_the_panel():
    from riskcore.data.simulation import simulate_panel

    frame, stress = simulate_panel(400, 2015, 10, seed=3, intercept=-3.0)
    defaulted = frame[frame["default_12m"] == 1].groupby("company_id")["fiscal_year"].min()
    last_seen = frame.groupby("company_id")["fiscal_year"].max()
    assert (last_seen[defaulted.index] == defaulted).all()
    assert stress == 2020
    assert frame.groupby(["company_id", "fiscal_year"]).size().max() == 1


def test_a_portfolio_without_later_years_says_so(small_portfolio):
    m = small_portfolio.manifest
    assert small_portfolio.later is None
    assert m.later_first_year is None and m.later_changes == [] and m.later_default_rate is None
    # a manifest written before the later years existed still reads
    old = {k: v for k, v in json.loads(m.to_json()).items() if not k.startswith("later_")}
    assert Manifest.from_json(json.dumps(old)) == m


def test_true_lifetime_pd_follows_true_pd_and_leaves_the_portfolio_alone(model_cache):
    from scipy.stats import spearmanr

    from riskcore.data.synth import true_lifetime_pd
    from riskcore.evaluation.lifetime import cumulative_from_marginal

    portfolio = model_cache.portfolio(800, later_years=2)  # the later years do not move the truth's start
    before = portfolio.frame.copy()
    truth = true_lifetime_pd(portfolio, 4, n_paths=6)
    pd.testing.assert_frame_equal(portfolio.frame, before)
    last = before[before["fiscal_year"] == before["fiscal_year"].max()].drop_duplicates(["company_id"])
    assert list(truth["company_id"]) == list(last["company_id"])
    np.testing.assert_array_equal(truth["true_cum_pd_1"], last["true_pd"])
    cum = truth[[f"true_cum_pd_{k}" for k in range(1, 5)]].to_numpy()
    assert ((np.diff(cum, axis=1) > 0).all() and (cum < 1).all())
    np.testing.assert_allclose(cumulative_from_marginal(np.diff(cum, axis=1, prepend=0.0)), cum)
    # a company's later risk follows its present risk, through its persistent condition
    assert spearmanr(cum[:, 0], cum[:, 3] - cum[:, 0]).statistic > 0.5
    again = true_lifetime_pd(portfolio, 4, n_paths=6)
    pd.testing.assert_frame_equal(truth, again)
    with pytest.raises(ValueError, match="years=0 is outside 1-30"):
        true_lifetime_pd(portfolio, 0)
