"""The training block of lifetime PDs: the cohorts' realised rates against brute force, the block's shape, its note."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskcore.data.schema import DEMO_SPEC
from riskcore.evaluation.lifetime import PanelOutcomes
from riskcore.modelling.lifetime_backtest import chains, cohort_outcomes, lifetime_block


def _panel(seed: int = 3, companies: int = 400, years: int = 6) -> pd.DataFrame:
    """Companies observed from a random first year until they default, leave, or the panel ends."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(companies):
        p = float(rng.choice([0.01, 0.04, 0.12]))
        for year in range(2015 + int(rng.integers(0, 3)), 2015 + years):
            default = int(rng.random() < p)
            rows.append({"company_id": f"C{c:04d}", "fiscal_year": year, "p": p, "default": default})
            if default or rng.random() < 0.08:  # defaulted, or left the book
                break
    return pd.DataFrame(rows)


def test_cohort_outcomes_equal_a_brute_force_walk():
    frame = _panel()
    panel = PanelOutcomes.from_frame(frame, id_column="company_id", period_column="fiscal_year", pd_column="p",
                                     default_column="default")
    starts = np.flatnonzero(frame["fiscal_year"].to_numpy() == 2016)
    at_risk, defaults = cohort_outcomes(panel, starts, 4, chained=chains(panel, 4))
    by_company = {cid: g.set_index("fiscal_year")["default"].to_dict() for cid, g in frame.groupby("company_id")}
    for k in range(4):
        alive = [cid for cid in frame.loc[starts, "company_id"]
                 if all(2016 + j in by_company[cid] for j in range(k + 1))]
        assert at_risk[k] == len(alive)
        assert defaults[k] == sum(by_company[cid][2016 + k] for cid in alive)
    again = cohort_outcomes(panel, starts, 4)  # the chains worked out inside: the same counts
    assert np.array_equal(again[0], at_risk) and np.array_equal(again[1], defaults)


def test_the_block_holds_both_term_structures_and_the_back_test():
    frame = _panel()
    frame = frame.assign(**{DEMO_SPEC.target: frame["default"]})
    train = np.flatnonzero(frame["fiscal_year"].to_numpy() <= 2018)

    def p_of(rows: pd.DataFrame) -> np.ndarray:
        return rows["p"].to_numpy()

    block = lifetime_block(p_of, frame, frame["default"].to_numpy(), train, DEMO_SPEC, years=3)
    assert block["years"] == 3 and block["training_rows"] == len(train)
    assert block["training_periods"] == [2015, 2018]
    assert {r["grade"] for r in block["term_structures"]} == {str(g) for g in range(1, 11)}
    cohort = [r for r in block["by_cohort"] if r["cohort"] == 2015]
    assert [r["year"] for r in cohort] == [1, 2, 3] and cohort[0]["in_sample"]
    realised_1 = frame.loc[frame["fiscal_year"] == 2015, "default"].mean()
    assert cohort[0]["realised"] == pytest.approx(realised_1)
    # Kaplan–Meier: each year's survivors among those still observed
    survival = (1 - cohort[0]["defaults"] / cohort[0]["at_risk"]) * (1 - cohort[1]["defaults"] / cohort[1]["at_risk"])
    assert cohort[1]["realised"] == pytest.approx(1 - survival)
    assert not [r for r in block["by_cohort"] if r["cohort"] == 2019][0]["in_sample"]
    for r in block["by_cohort"] + block["by_grade"]:
        assert 0 <= r["hazard"] <= 1 and 0 <= r["migration"] <= 1
    assert block["summary"]["year"] == 3


def test_a_panel_without_an_id_says_why():
    frame = _panel().drop(columns="company_id")
    block = lifetime_block(lambda rows: rows["p"].to_numpy(), frame, frame["default"].to_numpy(),
                           np.arange(len(frame)), DEMO_SPEC)
    assert block == {"note": "the data has no company id or fiscal year column, so no company can be followed over "
                             "years"}
