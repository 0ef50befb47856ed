"""Provisions of a scored panel: the as-of portfolio, the scenarios re-scored through the model, the summaries."""

from __future__ import annotations

import re

import numpy as np
import pytest

from riskcore.config import ProvisionRules
from riskcore.errors import ConfigError, DataFileError
from riskcore.serving.provisions import Scenario, as_of_year, provision_frame, read_scenarios


@pytest.fixture(scope="module")
def runs(quick_bundle, small_portfolio):
    frame = small_portfolio.frame
    return {std: provision_frame(quick_bundle, frame, "2024-12-31", ProvisionRules(), standard=std)
            for std in ("ifrs9", "cecl")}


def test_the_portfolio_is_the_as_of_year_and_the_defaults_before_it(runs, small_portfolio):
    f = small_portfolio.frame
    run = runs["ifrs9"]
    now = set(f.loc[f["fiscal_year"] == 2024, "company_id"])
    defaulted = set(f.loc[(f["fiscal_year"] == 2023) & (f["default_12m"] == 1), "company_id"])
    companies = run.companies
    # every company of the year the model could score (a row with an impossible value is rejected)
    assert set(companies["company_id"]) <= now | defaulted and companies["company_id"].is_unique
    assert len(now | defaulted) - len(companies) <= run.rejected
    assert set(companies.loc[companies["stage"] == 3, "company_id"]) == defaulted
    earlier = len(f[f["fiscal_year"] < 2024].drop_duplicates(["company_id", "fiscal_year"]))
    assert earlier - run.rejected <= run.history_rows <= earlier
    assert run.as_of == 2024 and set(companies["stage"]) == {1, 2, 3}


def test_scenarios_move_the_pd_through_the_model_and_are_weighted(runs):
    run = runs["ifrs9"]
    c = run.companies
    live = c["stage"] < 3
    # the downside moves GDP down, rates up and PMI down: the model's PDs rise on average, the upside's fall
    assert c.loc[live, "pd_12m_downside"].mean() > c.loc[live, "pd_12m_base"].mean() > \
        c.loc[live, "pd_12m_upside"].mean()
    weights = {s.name: s.weight for s in run.scenarios}
    assert weights == {"base": 0.5, "upside": 0.2, "downside": 0.3}
    np.testing.assert_allclose(c["ecl"], sum(w * c[f"ecl_{s}"] for s, w in weights.items()))
    by_stage = run.summary("stage").set_index("stage")
    assert by_stage.loc["total", "ecl"] == pytest.approx(c["ecl"].sum())
    assert by_stage.loc["total", "ecl_downside"] > by_stage.loc["total", "ecl_base"] > \
        by_stage.loc["total", "ecl_upside"]
    assert list(run.summary("grade")["grade"][:-1]) == sorted(set(c["grade"]), key=int)


def test_cecl_takes_the_lifetime_loss_of_stage_one_too(runs):
    ifrs9, cecl = (runs[s].companies.set_index("company_id") for s in ("ifrs9", "cecl"))
    one = ifrs9["stage"] == 1
    assert (cecl.loc[one, "ecl"] > ifrs9.loc[one, "ecl"]).all()
    np.testing.assert_allclose(cecl.loc[~one, "ecl"], ifrs9.loc[~one, "ecl"])


def test_a_scenarios_file_and_its_mistakes(tmp_path, quick_bundle):
    path = tmp_path / "scenarios.toml"
    path.write_text("[base]\nweight = 0.6\n[downside]\nweight = 0.4\ngdp_growth = -3.0\npolicy_rate = 1.5\n")
    assert read_scenarios(path, quick_bundle.spec) == [
        Scenario("base", 0.6), Scenario("downside", 0.4, {"gdp_growth": -3.0, "policy_rate": 1.5})]
    for text, message in (("[base]\nweight = 0.5\n", "weights add up to 0.5"),
                          ("[base]\nweight = 1\nroa = 0.1\n", "moves 'roa', which is not a macro input"),
                          ("[base]\ngdp_growth = -1\n", "needs a weight in [0, 1]"),
                          ("[base]\nweight = 'all'\n", "weight='all' must be a number")):
        path.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(message)):
            read_scenarios(path, quick_bundle.spec)


def test_bad_as_of_dates_and_missing_years_say_what_to_do(quick_bundle, small_portfolio):
    assert as_of_year("2024-12-31") == 2024 and as_of_year(2023) == 2023
    with pytest.raises(ConfigError, match="as-of date 'last year' is not a date"):
        as_of_year("last year")
    with pytest.raises(DataFileError, match="no company has a row in the as-of year 2031"):
        provision_frame(quick_bundle, small_portfolio.frame, "2031", ProvisionRules())
    with pytest.raises(DataFileError, match="no scored year before the as-of year 2015"):
        provision_frame(quick_bundle, small_portfolio.frame, "2015", ProvisionRules())


def test_unusable_exposure_columns_are_named_not_a_traceback(quick_bundle, small_portfolio):
    frame = small_portfolio.frame.copy()
    frame["lgd"] = np.where(frame["fiscal_year"] == 2024, 1.5, np.nan)
    with pytest.raises(DataFileError, match=r"lgd value\(s\) are missing or outside the range.*'lgd'"):
        provision_frame(quick_bundle, frame, 2024, ProvisionRules())
    frame = small_portfolio.frame.copy()
    frame["remaining_term_years"] = 1e9
    with pytest.raises(DataFileError, match=r"terms value\(s\).*must be a number of years in \[1, 100\]"):
        provision_frame(quick_bundle, frame, 2024, ProvisionRules())


def test_columns_of_the_file_take_the_settings_place(runs, quick_bundle, small_portfolio):
    assert any("origination PD is each company's PD in its earliest year" in n for n in runs["ifrs9"].notes)
    frame = small_portfolio.frame.copy()
    frame["origination_pd"] = 0.9  # every company was riskier at origination: no increase since
    frame["watch_list"] = (frame["company_id"] == "C00001").astype(int)
    frame["remaining_term_years"] = 2.0
    run = provision_frame(quick_bundle, frame, 2024, ProvisionRules())
    c = run.companies.set_index("company_id")
    assert not run.notes
    assert set(c.loc[c["stage"] == 2].index) == {"C00001"}
    assert c.loc["C00001", "stage_reason"] == "on the watch list"
    assert (c["term_years"] == 2).all()
    assert (c.loc[c["stage"] == 1, "stage_reason"] == "no significant increase in credit risk since origination").all()
