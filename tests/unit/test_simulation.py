"""The demo's later years: the training panel continued, with three planted changes monitoring must find."""

import json

import numpy as np
import pandas as pd
import pytest

from riskcore.data.schema import DEMO_SPEC
from riskcore.data.simulation import simulate_panel, simulate_training, true_logit
from riskcore.data.synth import Manifest, generate_portfolio
from riskcore.evaluation.drift import PSI_ACT, PSI_WATCH, FrozenBins, feature_drift

LATE_SECTOR = "Consumer Discretionary"
OUTCOMES = ["company_id", "fiscal_year", "default_12m", "true_pd"]


@pytest.fixture(scope="module")
def later():
    """2,000 companies with three later years: enough rows per year for PSI to mean something."""
    return generate_portfolio(2000, seed=7, later_years=3)


def _bins(train: pd.DataFrame, name: str) -> FrozenBins:
    spec = DEMO_SPEC.feature(name)
    if spec.kind == "categorical":
        return FrozenBins.categorical(train[name], list(spec.categories))
    return FrozenBins.numeric(train[name], spec.min, spec.max)


def _psi(train: pd.DataFrame, rows: pd.DataFrame, name: str) -> float:
    return feature_drift(_bins(train, name), rows[name]).psi


def test_training_panel_is_the_same_with_or_without_later_years():
    alone = generate_portfolio(300, seed=1)
    both = generate_portfolio(300, seed=1, later_years=3)
    pd.testing.assert_frame_equal(both.frame, alone.frame, check_exact=True)
    assert alone.later is None and both.later is not None
    trained = {k: v for k, v in vars(both.manifest).items() if not k.startswith("later_")}
    assert trained == {k: v for k, v in vars(alone.manifest).items() if not k.startswith("later_")}


def test_the_training_pass_is_simulate_panel_with_its_end_state():
    frame, stress = simulate_panel(300, 2015, 10, seed=3, intercept=-3.0)
    again, stress_again, state = simulate_training(300, 2015, 10, seed=3, intercept=-3.0)
    pd.testing.assert_frame_equal(again, frame, check_exact=True)
    assert stress_again == stress and state.next_t == 10 and len(state.c) == 300
    defaulted = frame.loc[frame["default_12m"] == 1, "company_id"].to_numpy()
    assert not state.alive[defaulted].any()


def test_later_frame_has_the_training_columns_but_no_outcome(later):
    train, frame, outcomes = later.frame, later.later.frame, later.later.outcomes
    expected = [c for c in train.columns if c not in (DEMO_SPEC.target, "true_pd")]
    assert list(frame.columns) == expected
    assert (frame.dtypes == train.dtypes[expected]).all()
    assert list(outcomes.columns) == OUTCOMES
    joined = frame.merge(outcomes, on=["company_id", "fiscal_year"], how="outer", validate="one_to_one",
                         indicator=True)
    assert (joined["_merge"] == "both").all() and len(joined) == len(frame)
    assert frame["fiscal_year"].min() == later.manifest.last_year + 1
    assert sorted(frame["fiscal_year"].unique()) == [2025, 2026, 2027]
    assert frame["company_id"].str.fullmatch(r"C\d{5}").all()
    assert outcomes["default_12m"].isin([0, 1]).all() and outcomes["true_pd"].between(0, 1).all()


def test_later_years_continue_the_companies_and_new_ones_enter(later):
    train = later.frame.drop_duplicates(["company_id", "fiscal_year"])
    frame, outcomes = later.later.frame, later.later.outcomes
    names = pd.concat([train, frame])[["company_id", "company_name"]].drop_duplicates()
    assert names["company_id"].is_unique and names["company_name"].is_unique
    last = train[train["fiscal_year"] == later.manifest.last_year]
    survivors = set(last.loc[last["default_12m"] == 0, "company_id"])
    first = frame[frame["fiscal_year"] == 2025]
    assert set(first["company_id"]) <= survivors | set(frame["company_id"]) - set(train["company_id"])
    assert len(survivors & set(first["company_id"])) > 0.9 * len(survivors)
    assert set(first["company_id"]).isdisjoint(train.loc[train["default_12m"] == 1, "company_id"])
    entrants = frame[~frame["company_id"].isin(train["company_id"])].groupby("company_id")["fiscal_year"].min()
    training_entries = train.groupby("company_id")["fiscal_year"].min().value_counts().drop(2015)
    per_year = entrants.value_counts()
    assert per_year.between(0.7 * training_entries.mean(), 1.3 * training_entries.mean()).all()
    defaulted = outcomes[outcomes["default_12m"] == 1].groupby("company_id")["fiscal_year"].max()
    assert (frame.groupby("company_id")["fiscal_year"].max()[defaulted.index] == defaulted).all()


def test_the_true_pd_reads_the_observed_later_rows(later):
    rows = later.later.frame.merge(later.later.outcomes, on=["company_id", "fiscal_year"])
    rows = rows.sort_values(["company_id", "fiscal_year"])
    prev = rows.groupby("company_id")["debt_to_assets"].shift(1)
    prev_year = rows.groupby("company_id")["fiscal_year"].shift(1)
    new = ~rows["company_id"].isin(later.frame["company_id"])
    first_of_new = new & prev_year.isna()
    known = (prev_year == rows["fiscal_year"] - 1) | first_of_new
    ok = known & rows["esg_governance"].notna()
    assert ok.sum() > 1000 and (ok & (rows["sector"] == LATE_SECTOR) & (rows["fiscal_year"] == 2027)).any()
    logit = later.manifest.intercept + true_logit(rows[ok], prev[ok].to_numpy())
    np.testing.assert_allclose(rows.loc[ok, "true_pd"], 1 / (1 + np.exp(-logit)), rtol=1e-9)


def test_a_macro_shock_raises_defaults_from_the_first_later_year(later):
    train, frame = later.frame, later.later.frame
    gdp = frame.groupby("fiscal_year")["gdp_growth"].mean()
    assert gdp.between(-4.0, -1.0).all()
    rate = train.loc[train["fiscal_year"] == later.manifest.last_year, "policy_rate"].iloc[0]
    assert (frame["policy_rate"] == rate + 1.5).all()
    assert frame["sector_pmi"].mean() < train["sector_pmi"].mean() - 3
    assert later.manifest.later_default_rate > later.manifest.default_rate + 0.01


def test_the_environmental_score_is_rescaled_from_the_second_later_year(later):
    frame, train = later.later.frame, later.frame
    score = frame.groupby("fiscal_year")["esg_environmental"]
    assert score.max()[2025] > 50 and (score.max()[[2026, 2027]] <= 10).all()
    assert abs(score.median()[2026] * 10 - train["esg_environmental"].median()) < 5
    assert frame.loc[frame["fiscal_year"] >= 2026, "esg_environmental"].round(2).equals(
        frame.loc[frame["fiscal_year"] >= 2026, "esg_environmental"])


def test_payment_delays_rise_in_one_sector_from_the_third_later_year(later):
    frame = later.later.frame
    median = frame.groupby(["fiscal_year", frame["sector"] == LATE_SECTOR])["supplier_payment_delay"].median()
    assert 2.0 < median[(2027, True)] / median[(2026, True)] < 3.2
    assert 0.9 < median[(2027, False)] / median[(2026, False)] < 1.1
    assert frame["supplier_payment_delay"].max() <= DEMO_SPEC.feature("supplier_payment_delay").typical_max


def test_esg_gaps_keep_the_training_rates(later):
    train, frame = later.frame, later.later.frame
    trained = train["esg_governance"].isna().mean()
    per_year = frame["esg_governance"].isna().groupby(frame["fiscal_year"]).mean()
    assert (abs(per_year - trained) < 0.03).all()
    assert frame[["esg_social", "esg_controversies", "esg_momentum"]].isna().eq(
        frame["esg_governance"].isna(), axis=0).all().all()


def test_the_changes_are_listed_in_words_with_their_columns(later):
    changes = later.later.changes
    assert later.manifest.later_changes == changes
    assert [c["kind"] for c in changes] == ["macro", "data", "behaviour"]
    assert [c["year"] for c in changes] == [2025, 2026, 2027]
    assert changes[1]["columns"] == ["esg_environmental"] and changes[2]["segment"] == LATE_SECTOR
    assert {"gdp_growth", "policy_rate", "sector_pmi"} <= set(changes[0]["columns"])
    for change in changes:
        assert set(change) == {"year", "change", "columns", "kind", "segment"}
        assert change["change"].endswith(".") and set(change["columns"]) <= set(DEMO_SPEC.feature_names)
    assert (later.manifest.later_first_year, later.manifest.later_last_year) == (2025, 2027)
    assert Manifest.from_json(later.manifest.to_json()) == later.manifest
    assert json.loads(later.manifest.to_json())["later_changes"][2]["segment"] == LATE_SECTOR


def test_psi_finds_each_change_in_its_year_and_nothing_else(later):
    train, frame = later.frame, later.later.frame
    changed = {c for change in later.later.changes for c in change["columns"]}
    by_year = dict(tuple(frame.groupby("fiscal_year")))
    for name in DEMO_SPEC.feature_names:
        if name in changed:
            continue
        worst = max(_psi(train, rows, name) for rows in by_year.values())
        assert worst < PSI_WATCH, (name, worst)
    for name in ("gdp_growth", "policy_rate", "sector_pmi"):
        assert _psi(train, by_year[2025], name) > PSI_ACT
    assert _psi(train, by_year[2025], "esg_environmental") < PSI_WATCH
    assert _psi(train, by_year[2026], "esg_environmental") > PSI_ACT
    late = {year: rows[rows["sector"] == LATE_SECTOR] for year, rows in by_year.items()}
    assert _psi(train, late[2026], "supplier_payment_delay") < PSI_ACT
    assert _psi(train, late[2027], "supplier_payment_delay") > PSI_ACT
    # the whole portfolio: one sector of about 14% moves the feature's PSI, but far less than its own
    assert _psi(train, by_year[2026], "supplier_payment_delay") < PSI_WATCH


def test_one_later_year_holds_every_change():
    p = generate_portfolio(300, seed=2, later_years=1)
    assert p.later is not None
    assert {c["year"] for c in p.later.changes} == {2025}
    assert p.later.frame["esg_environmental"].max() <= 10


def test_later_years_must_be_a_small_number():
    for bad in (-1, 21):
        with pytest.raises(ValueError, match="later_years"):
            generate_portfolio(300, later_years=bad)
