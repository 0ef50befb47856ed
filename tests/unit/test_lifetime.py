"""Lifetime PD term structures: the hazard and the migration estimates against brute force on small panels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskcore.evaluation.grading import MASTER_SCALE, grade_index
from riskcore.evaluation.lifetime import (
    PanelOutcomes,
    grade_hazards,
    hazard_term_structure,
    lifetime_curves,
    migration_matrix,
    migration_term_structure,
    transition_counts,
)

K = len(MASTER_SCALE)
# one PD inside each grade of the master scale
GRADE_PD = np.array([0.0007, 0.0015, 0.004, 0.007, 0.015, 0.03, 0.06, 0.1, 0.2, 0.5])


def random_panel(seed: int, n_companies: int = 40, years: int = 6) -> PanelOutcomes:
    """Companies entering at random, moving between grades, defaulting (then gone) or leaving at random."""
    rng = np.random.default_rng(seed)
    ids, periods, pds, flags = [], [], [], []
    for c in range(n_companies):
        year = int(rng.integers(0, years - 1))
        g = int(rng.integers(0, K))
        while year < years:
            ids.append(f"C{c}")
            periods.append(2015 + year)
            pds.append(GRADE_PD[g] * rng.uniform(0.9, 1.1))
            d = int(rng.random() < min(0.05 + 0.05 * g, 0.9))
            flags.append(d)
            if d or rng.random() < 0.1:
                break
            g = int(np.clip(g + rng.integers(-2, 3), 0, K - 1))
            year += 1
    return PanelOutcomes(np.array(ids), np.array(periods), np.array(pds), np.array(flags))


def brute_counts(panel: PanelOutcomes) -> np.ndarray:
    rows = {(i, t): (p, d) for i, t, p, d in zip(panel.ids, panel.periods, panel.p_default, panel.defaults)}
    counts = np.zeros((K, K + 1))
    for (i, t), (p, d) in rows.items():
        g = int(grade_index(np.array([p]))[0])
        if d:
            counts[g, K] += 1
        elif (i, t + 1) in rows:
            counts[g, int(grade_index(np.array([rows[(i, t + 1)][0]]))[0])] += 1
    return counts


def brute_hazard_counts(panel: PanelOutcomes, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    rows = {(i, t): (p, d) for i, t, p, d in zip(panel.ids, panel.periods, panel.p_default, panel.defaults)}
    at_risk, defaults = np.zeros((K, horizon)), np.zeros((K, horizon))
    for (i, t), (p, _) in rows.items():
        g = int(grade_index(np.array([p]))[0])
        for k in range(horizon):
            if (i, t + k) not in rows:
                break
            at_risk[g, k] += 1
            defaults[g, k] += rows[(i, t + k)][1]
    return at_risk, defaults


def test_transition_counts_equal_brute_force():
    for seed in range(5):
        panel = random_panel(seed)
        np.testing.assert_array_equal(transition_counts(panel), brute_counts(panel))


def test_unshrunk_matrix_is_the_observed_shares():
    panel = random_panel(1, n_companies=400)
    counts = brute_counts(panel)
    m = migration_matrix(panel, prior_weight=0.0)
    seen = counts.sum(axis=1) > 0
    np.testing.assert_allclose(m.matrix[:K][seen], counts[seen] / counts[seen].sum(axis=1, keepdims=True))


@given(seed=st.integers(0, 10_000), weight=st.sampled_from([0.0, 1.0, 20.0, 500.0]),
       n=st.integers(3, 30))
def test_every_migration_matrix_is_row_stochastic_and_absorbs(seed, weight, n):
    m = migration_matrix(random_panel(seed, n_companies=n), prior_weight=weight)
    np.testing.assert_allclose(m.matrix.sum(axis=1), 1.0, atol=1e-12)
    assert (m.matrix >= 0).all()
    np.testing.assert_array_equal(m.matrix[K], np.eye(K + 1)[K])  # default is absorbing
    cum = [m.cumulative_pd(t) for t in (1, 5, 20)]
    assert (np.diff(np.array(cum), axis=0) >= -1e-12).all()  # cumulative PD never falls with the horizon


def test_powers_converge_to_absorption():
    m = migration_matrix(random_panel(3, n_companies=200))
    far = m.power(2000)
    np.testing.assert_allclose(far[:, K], 1.0, atol=1e-6)
    np.testing.assert_allclose(m.power(3), m.matrix @ m.matrix @ m.matrix)
    np.testing.assert_array_equal(m.power(0), np.eye(K + 1))


def test_sparse_rows_borrow_their_neighbours_moves():
    # grade 5 (index 4) is never seen: its row is its neighbours' moves re-centred on it
    rng = np.random.default_rng(0)
    ids, periods, pds, flags = [], [], [], []
    for c in range(300):
        g = 3 if c % 2 else 5
        ids += [f"C{c}", f"C{c}"]
        periods += [2020, 2021]
        up = rng.random() < 0.3
        pds += [GRADE_PD[g], GRADE_PD[g + 1 if up else g]]
        flags += [0, 0]
    m = migration_matrix(PanelOutcomes(np.array(ids), np.array(periods), np.array(pds), np.array(flags)))
    row = m.matrix[4]
    assert m.counts[4].sum() == 0
    assert row[4] == pytest.approx(0.7, abs=0.06) and row[5] == pytest.approx(0.3, abs=0.06)
    assert row.sum() == pytest.approx(1.0)


def test_hazard_counts_equal_brute_force():
    for seed in range(5):
        panel = random_panel(seed, n_companies=60)
        hz = grade_hazards(panel, 4, prior_weight=0.0)
        at_risk, defaults = brute_hazard_counts(panel, 4)
        np.testing.assert_array_equal(hz.at_risk, at_risk)
        np.testing.assert_array_equal(hz.defaults, defaults)
        seen = at_risk > 0
        np.testing.assert_allclose(hz.hazard[seen], defaults[seen] / at_risk[seen])


def test_hazard_cumulative_pd_is_the_product_of_survivals():
    panel = random_panel(7, n_companies=500)
    hz = grade_hazards(panel, 5)
    p = np.array([0.002, 0.03, 0.031, 0.25])
    curves = lifetime_curves(p, 5, "hazard", hazards=hz)
    for i, pi in enumerate(p):
        g = int(grade_index(np.array([pi]))[0])
        h = [pi] + [min(pi * hz.hazard[g, k] / hz.mean_pd[g], 1.0) for k in range(1, 5)]
        survival = 1.0
        for k in range(5):
            survival *= 1.0 - h[k]
            assert curves.cumulative[i, k] == pytest.approx(1.0 - survival, rel=1e-12)
    np.testing.assert_allclose(curves.twelve_month, p)


def test_migration_curve_of_a_grades_own_pd_is_the_matrix_power():
    m = migration_matrix(random_panel(4, n_companies=300))
    g = 6
    p = np.array([m.matrix[g, K]])
    p = np.where(grade_index(p) == g, p, GRADE_PD[g])  # keep the PD inside grade 7
    marginal = migration_term_structure(p, m, 4)
    row = m.matrix[g].copy()
    row[:K] *= (1 - p[0]) / (1 - row[K])
    row[K] = p[0]
    expected = [row @ np.linalg.matrix_power(m.matrix, k)[:, K] for k in range(4)]
    np.testing.assert_allclose(np.cumsum(marginal[0]), expected)
    assert marginal[0, 0] == pytest.approx(p[0])


def test_curves_stop_at_each_remaining_term():
    panel = random_panel(2, n_companies=300)
    hz, m = grade_hazards(panel, 6), migration_matrix(panel)
    p = np.array([0.01, 0.05, 0.2])
    terms = np.array([1, 2.5, 6])
    for method in ("hazard", "migration"):
        c = lifetime_curves(p, terms, method, hazards=hz, migration=m)
        np.testing.assert_array_equal(c.terms, [1, 3, 6])
        assert (c.marginal[0, 1:] == 0).all() and (c.marginal[1, 3:] == 0).all()
        np.testing.assert_allclose(c.lifetime, c.cumulative[np.arange(3), c.terms - 1])
        assert set(c.frame(np.array(["a", "b", "c"])).groupby("id").size()) == {1, 3, 6}
        full = hazard_term_structure(p, hz, 6) if method == "hazard" else migration_term_structure(p, m, 6)
        np.testing.assert_allclose(c.marginal[2], full[2])


def test_bad_inputs_say_what_to_do():
    panel = random_panel(0)
    with pytest.raises(ValueError, match="lifetime method 'vasicek' is unknown"):
        lifetime_curves(np.array([0.01]), 3, "vasicek", hazards=grade_hazards(panel, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="below 1 year"):
        lifetime_curves(np.array([0.01]), 0, "migration", migration=migration_matrix(panel))
    with pytest.raises(ValueError, match="no default to estimate hazards"):
        grade_hazards(PanelOutcomes(np.array(["a"]), np.array([2020]), np.array([0.01]), np.array([0])), 2)
    with pytest.raises(ValueError, match="no company-years"):
        PanelOutcomes(np.array([]), np.array([]), np.array([]), np.array([]))


def test_years_beyond_the_history_repeat_the_last_observed_hazards():
    panel = random_panel(5, n_companies=200, years=4)
    hz = grade_hazards(panel, 12)
    assert hz.at_risk[:, 5:].sum() == 0
    np.testing.assert_array_equal(hz.hazard[:, 11], hz.hazard[:, 3])
    assert (lifetime_curves(np.array([0.01]), 12, "hazard", hazards=hz).marginal > 0).all()


def test_against_truth_is_zero_error_when_the_truth_is_the_estimate():
    from riskcore.evaluation.lifetime import against_truth

    panel = random_panel(6, n_companies=300)
    hz, m = grade_hazards(panel, 3), migration_matrix(panel)
    p = np.array([0.002, 0.0021, 0.05, 0.3])
    truth = lifetime_curves(p, 3, "hazard", hazards=hz).cumulative
    table = against_truth(p, truth, hazards=hz, migration=m)
    assert list(table["grade"].unique()) == ["2", "7", "10"] and list(table["year"][:3]) == [1, 2, 3]
    np.testing.assert_allclose(table["hazard_error"], 0.0, atol=1e-12)
    assert table.loc[table["grade"] == "2", "companies"].iloc[0] == 2
    np.testing.assert_allclose(table.loc[table["year"] == 1, "migration_error"], 0.0, atol=1e-12)  # year 1: the PD
    with pytest.raises(ValueError, match="one row of horizons per company"):
        against_truth(p, truth[:2], hazards=hz, migration=m)
