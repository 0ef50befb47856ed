"""Stages and expected credit loss: hand computations on a tiny portfolio, the stage rules on planted cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskcore.config import ProvisionRules
from riskcore.evaluation.grading import MASTER_SCALE, grade_index
from riskcore.evaluation.lifetime import GradeHazards
from riskcore.evaluation.provisions import (
    Exposures,
    ead_profile,
    expected_credit_loss,
    normalised_weights,
    provisions,
    reweighted,
    stage_drivers,
)

K = len(MASTER_SCALE)
RULES = ProvisionRules()


def flat_hazards(horizon: int = 10) -> GradeHazards:
    """Hazards under which every company's hazard stays its own 12-month PD, year after year."""
    mean_pd = np.array([0.0007, 0.0015, 0.004, 0.007, 0.015, 0.03, 0.06, 0.1, 0.2, 0.5])
    hazard = np.repeat(mean_pd[:, None], horizon, axis=1)
    return GradeHazards(np.ones((K, horizon)), np.zeros((K, horizon)), hazard, mean_pd, 0.0)


def hand_ecl(p: float, lgd: float, ead: list[float], eir: float, years: int) -> float:
    """Σ_t p (1 − p)^(t − 1) × LGD × EAD_t / (1 + EIR)^t, written out."""
    total, survival = 0.0, 1.0
    for t in range(1, years + 1):
        total += survival * p * lgd * ead[t - 1] / (1 + eir) ** t
        survival *= 1 - p
    return total


# the planted portfolio: (pd, origination pd, term, ead, days past due, watch list, defaulted) and the stage
PLANTED = {
    "performing": (0.010, 0.010, 3, 1000.0, np.nan, False, False, 1),
    "sicr": (0.080, 0.010, 2, 1000.0, np.nan, False, False, 2),
    "dpd_backstop": (0.010, 0.010, 3, 1000.0, 45, False, False, 2),
    "defaulted": (0.200, 0.010, 3, 1000.0, np.nan, False, True, 3),
    "watch_list": (0.010, 0.010, 3, 1000.0, np.nan, True, False, 2),
    "small_rise": (0.012, 0.010, 3, 1000.0, np.nan, False, False, 1),  # +20%: below the relative threshold
    "tiny_points": (0.030, 0.014, 1, 1000.0, np.nan, False, False, 1),  # doubled, but +1.6 points only
    "dpd_default": (0.010, 0.010, 3, 1000.0, 120, False, False, 3),
    "no_origination": (0.010, np.nan, 3, 1000.0, np.nan, False, False, 1),
}


def planted() -> tuple[np.ndarray, Exposures]:
    rows = list(PLANTED.values())
    col = [np.array([r[i] for r in rows]) for i in range(7)]
    return col[0], Exposures(ead=col[3], lgd=np.full(len(rows), 0.4), eir=np.full(len(rows), 0.05),
                             terms=col[2].astype(float), origination_pd=col[1].astype(float),
                             days_past_due=col[4].astype(float), watch_list=col[5].astype(bool),
                             defaulted=col[6].astype(bool))


def test_stage_rules_on_planted_cases():
    p, exposures = planted()
    result = provisions({"base": p}, {"base": 1.0}, exposures, RULES, hazards=flat_hazards())
    assert dict(zip(PLANTED, result.stage.tolist())) == {k: v[-1] for k, v in PLANTED.items()}
    reasons = dict(zip(PLANTED, result.reason))
    assert reasons["sicr"].startswith("lifetime PD 15.36% against 1.99% at origination")
    assert reasons["dpd_backstop"] == "more than 30 days past due"
    assert reasons["dpd_default"] == "more than 90 days past due"
    assert reasons["watch_list"] == "on the watch list"
    assert reasons["defaulted"] == "in default (the defaulted flag)"
    assert reasons["no_origination"].startswith("no origination PD")
    assert reasons["tiny_points"] == reasons["performing"]


def test_ecl_equals_the_hand_computation_for_ifrs9_and_cecl():
    p, exposures = planted()
    hz = flat_hazards()
    ifrs9 = provisions({"base": p}, {"base": 1.0}, exposures, RULES, hazards=hz)
    cecl = provisions({"base": p}, {"base": 1.0}, exposures, RULES, hazards=hz, standard="cecl")
    names = list(PLANTED)
    for i, name in enumerate(names):
        pd_, _, term, ead, *_, stage = PLANTED[name]
        pi = 1.0 if stage == 3 else pd_
        twelve = hand_ecl(pi, 0.4, [ead] * term, 0.05, 1)
        lifetime = hand_ecl(pi, 0.4, [ead] * term, 0.05, term)
        assert ifrs9.weighted[i] == pytest.approx(twelve if stage == 1 else lifetime, rel=1e-12), name
        assert cecl.weighted[i] == pytest.approx(lifetime, rel=1e-12), name
    # the performing company written out: 0.01 × 0.4 × 1000 / 1.05, and its three years under CECL
    assert ifrs9.weighted[0] == pytest.approx(4.0 / 1.05)
    assert cecl.weighted[0] == pytest.approx(4 / 1.05 + 0.99 * 4 / 1.05**2 + 0.99**2 * 4 / 1.05**3)
    table = ifrs9.by_stage().set_index("stage")
    assert table.loc["total", "ecl"] == pytest.approx(ifrs9.weighted.sum())
    assert table.loc[2, "companies"] == 3 and table.loc[3, "companies"] == 2


def test_amortising_exposure_and_discounting():
    exposures = Exposures.uniform(np.array([900.0]), ProvisionRules(ead_profile="amortising"),
                                  terms=np.array([3.0]), lgd=np.array([0.5]), eir=np.array([0.1]))
    np.testing.assert_allclose(ead_profile(exposures.ead, exposures.terms, 4, "amortising"), [[900, 600, 300, 0]])
    marginal = np.array([[0.1, 0.09, 0.081]])
    expected = 0.1 * 0.5 * 900 / 1.1 + 0.09 * 0.5 * 600 / 1.1**2 + 0.081 * 0.5 * 300 / 1.1**3
    assert expected_credit_loss(marginal, exposures, "amortising")[0] == pytest.approx(expected)
    assert expected_credit_loss(marginal, exposures, "amortising", months=12)[0] == pytest.approx(45 / 1.1)


def test_scenarios_are_weighted_and_the_stage_reads_the_weighted_lifetime_pd():
    p = np.array([0.01, 0.02])
    exposures = Exposures.uniform(np.array([1000.0, 1000.0]), RULES, terms=np.array([5.0, 5.0]),
                                  origination_pd=np.array([0.01, 0.01]))
    hz = flat_hazards()
    weights = {"base": 0.7, "downside": 0.3}
    scenarios = {"base": p, "downside": p * 3}
    result = provisions(scenarios, weights, exposures, RULES, hazards=hz)
    alone = {s: provisions({s: v}, {s: 1.0}, exposures, RULES, hazards=hz) for s, v in scenarios.items()}
    np.testing.assert_allclose(result.lifetime_pd,
                               0.7 * alone["base"].lifetime_pd + 0.3 * alone["downside"].lifetime_pd)
    # the second company: +96% in the base alone (stage 1), the downside lifts the weighted PD past both tests
    assert alone["base"].stage.tolist() == [1, 1] and result.stage.tolist() == [1, 2]
    for s in scenarios:
        lifetime = [hand_ecl(float(v), 0.45, [1000.0] * 5, 0.05, 5) for v in scenarios[s]]
        twelve = [hand_ecl(float(v), 0.45, [1000.0], 0.05, 1) for v in scenarios[s]]
        np.testing.assert_allclose(result.ecl[s], [twelve[0], lifetime[1]])
    np.testing.assert_allclose(result.weighted, 0.7 * result.ecl["base"] + 0.3 * result.ecl["downside"])
    assert list(result.frame().columns[-3:]) == ["ecl_base", "ecl_downside", "ecl"]
    assert (grade_index(result.pd_12m) >= 0).all()


@pytest.mark.parametrize("standard", ["ifrs9", "cecl"])
@pytest.mark.parametrize("downside", [0.0, 0.3, 0.55, 1.0])
def test_reweighting_equals_computing_again_at_the_new_weights(standard, downside):
    """A slider's re-weighting: the stages and the ECL of a full computation at those weights, nothing re-scored."""
    p, exposures = planted()
    hz = flat_hazards()
    scenarios = {"base": p, "downside": np.minimum(p * 3, 1.0)}
    first = provisions(scenarios, {"base": 0.7, "downside": 0.3}, exposures, RULES, hazards=hz)
    weights = {"base": 1.0 - downside, "downside": downside}
    again = provisions(scenarios, weights, exposures, RULES, hazards=hz, standard=standard)
    moved = reweighted(first, weights, RULES, standard=standard)
    assert moved.stage.tolist() == again.stage.tolist()
    assert list(moved.reason) == list(again.reason)
    np.testing.assert_allclose(moved.weighted, again.weighted, rtol=1e-12)
    np.testing.assert_allclose(moved.lifetime_pd, again.lifetime_pd, rtol=1e-12)
    assert moved.standard == standard and moved.weights == weights
    with pytest.raises(ValueError, match="add up to 1"):
        reweighted(first, {"base": 0.5, "downside": 0.6}, RULES)
    with pytest.raises(ValueError, match="must name the result's scenarios"):
        reweighted(first, {"base": 1.0}, RULES)


def test_weights_are_normalised_and_said_so_or_refused():
    assert normalised_weights({"base": 0.5, "upside": 0.2, "downside": 0.3}) == (
        {"base": 0.5, "upside": 0.2, "downside": 0.3}, None)
    weights, note = normalised_weights({"base": 0.5, "upside": 0.2, "downside": 1.0})
    assert weights == pytest.approx({"base": 0.5 / 1.7, "upside": 0.2 / 1.7, "downside": 1.0 / 1.7})
    assert note is not None and "added up to 1.7" in note and "downside 58.8%" in note
    with pytest.raises(ValueError, match="add up to 0; give at least one scenario a weight above 0"):
        normalised_weights({"base": 0.0, "downside": 0.0})
    with pytest.raises(ValueError, match="at least 0"):
        normalised_weights({"base": 1.2, "downside": -0.2})


def test_stage_drivers_count_the_rules_that_put_companies_in_stage_2():
    p, exposures = planted()
    result = provisions({"base": p}, {"base": 1.0}, exposures, RULES, hazards=flat_hazards())
    drivers = stage_drivers(result.stage, result.reason, result.weighted, result.ead).set_index("driver")
    assert drivers["companies"].to_dict() == {"significant increase in lifetime PD since origination": 1,
                                              "more than 30 days past due": 1, "on the watch list": 1}
    assert drivers["share"].sum() == pytest.approx(1.0)
    assert drivers["ecl"].sum() == pytest.approx(result.weighted[result.stage == 2].sum())
    assert stage_drivers(np.array([1, 1]), np.array(["a", "b"]), np.zeros(2), np.zeros(2)).empty


def test_bad_inputs_say_what_to_do():
    p, exposures = planted()
    with pytest.raises(ValueError, match="add up to 1"):
        provisions({"base": p, "downside": p}, {"base": 0.5, "downside": 0.6}, exposures, RULES,
                   hazards=flat_hazards())
    with pytest.raises(ValueError, match="must name the same scenarios"):
        provisions({"base": p}, {"upside": 1.0}, exposures, RULES, hazards=flat_hazards())
    with pytest.raises(ValueError, match="1 lgd value.*row 1: 1.5; each must be a share"):
        Exposures.uniform(np.array([1.0]), RULES, lgd=np.array([1.5]))
    with pytest.raises(ValueError, match="the hazard method needs"):
        provisions({"base": p}, {"base": 1.0}, exposures, RULES)


def test_stage_movements_pair_the_two_runs():
    import pandas as pd

    from riskcore.evaluation.provisions import stage_movements

    before = pd.DataFrame({"id": ["a", "b", "c", "d"], "stage": [1, 1, 2, 2], "ecl": [1.0, 2.0, 10.0, 20.0]})
    after = pd.DataFrame({"id": ["a", "b", "c", "e"], "stage": [1, 2, 3, 1], "ecl": [1.5, 9.0, 40.0, 0.5]})
    moves = stage_movements(before, after, "id").set_index(["from_stage", "to_stage"])
    assert moves["companies"].to_dict() == {("1", "1"): 1, ("1", "2"): 1, ("2", "3"): 1, ("2", "gone"): 1,
                                           ("new", "1"): 1}
    assert moves.loc[("1", "2"), "ecl_change"] == 7.0 and moves.loc[("2", "gone"), "ecl_change"] == -20.0
    assert moves["ecl_change"].sum() == pytest.approx(after["ecl"].sum() - before["ecl"].sum())
    with pytest.raises(ValueError, match="the previous run has no column 'ecl'"):
        stage_movements(before.drop(columns="ecl"), after, "id")


@given(p=st.lists(st.floats(0.0005, 0.9), min_size=1, max_size=8), lgd=st.floats(0.05, 1.0),
       eir=st.floats(0.0, 0.3), term=st.integers(1, 8), profile=st.sampled_from(["constant", "amortising"]))
def test_ecl_is_bounded_and_cecl_never_below_ifrs9(p, lgd, eir, term, profile):
    p = np.array(p)
    n = len(p)
    rules = ProvisionRules(ead_profile=profile)
    exposures = Exposures.uniform(np.full(n, 1000.0), rules, lgd=np.full(n, lgd), eir=np.full(n, eir),
                                  terms=np.full(n, float(term)), origination_pd=p / 3)
    hz = flat_hazards()
    ifrs9 = provisions({"base": p}, {"base": 1.0}, exposures, rules, hazards=hz)
    cecl = provisions({"base": p}, {"base": 1.0}, exposures, rules, hazards=hz, standard="cecl")
    assert (ifrs9.weighted >= 0).all() and (cecl.weighted <= lgd * 1000.0 + 1e-9).all()
    assert (cecl.weighted >= ifrs9.weighted - 1e-12).all()
    one = ifrs9.stage == 1
    np.testing.assert_allclose(ifrs9.weighted[~one], cecl.weighted[~one])
    # more risk never costs less: the same portfolio with every PD raised
    worse = provisions({"base": np.minimum(p * 1.5, 0.95)}, {"base": 1.0}, exposures, rules, hazards=hz,
                       standard="cecl")
    assert (worse.weighted >= cecl.weighted - 1e-12).all()


def test_a_large_portfolio_computed_a_block_of_companies_at_a_time_is_the_same(monkeypatch):
    import riskcore.evaluation.provisions as engine

    rng = np.random.default_rng(5)
    n = 257
    p = rng.uniform(0.001, 0.4, n)
    terms = rng.choice([1.0, 2.5, 5.0, 7.0], n)
    origination = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0.001, 0.2, n))
    exposures = Exposures.uniform(rng.uniform(0, 1e6, n), RULES, terms=terms, origination_pd=origination,
                                  days_past_due=np.where(rng.random(n) < 0.05, 120.0, 0.0),
                                  defaulted=rng.random(n) < 0.03)
    scenarios = {"base": p, "downside": np.minimum(p * 1.8, 1.0)}
    weights = {"base": 0.6, "downside": 0.4}
    whole = provisions(scenarios, weights, exposures, RULES, hazards=flat_hazards())
    monkeypatch.setattr(engine, "_BLOCK", 10)
    blocks = provisions(scenarios, weights, exposures, RULES, hazards=flat_hazards())
    for name in ("stage", "pd_12m", "lifetime_pd", "origination_lifetime_pd", "terms", "weighted"):
        np.testing.assert_array_equal(getattr(blocks, name), getattr(whole, name))
    for s in scenarios:
        np.testing.assert_array_equal(blocks.ecl[s], whole.ecl[s])
        np.testing.assert_array_equal(blocks.lifetime_by_scenario[s], whole.lifetime_by_scenario[s])
    assert (whole.stage == 3).any() and (whole.stage == 2).any()
