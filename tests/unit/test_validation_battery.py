"""The validation battery: each statistic against a reference, the settings, and a planted mis-calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from riskcore.config import ValidationRules, load_settings
from riskcore.errors import ConfigError
from riskcore.evaluation.compare import auc_standard_error
from riskcore.evaluation.grading import grade_index
from riskcore.evaluation.monitor_report import MonitorReport
from riskcore.evaluation.validation import (
    ValidationBattery,
    basel_correlation,
    decile_groups,
    herfindahl,
    hosmer_lemeshow,
    jeffreys_p_value,
    migration_stability,
    spiegelhalter,
    validation_battery,
    vasicek_p_value,
)

RULES = ValidationRules()


def monte_carlo_p_value(defaults: int, n: int, p_default: float, rho: float, draws: int, seed: int) -> float:
    """P(D >= d) by simulating the systematic factor and the default count given it."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(draws)
    conditional = stats.norm.cdf((stats.norm.ppf(p_default) + np.sqrt(rho) * z) / np.sqrt(1 - rho))
    return float(np.mean(rng.binomial(n, conditional) >= defaults))


@pytest.mark.parametrize(("defaults", "n", "p_default", "rho"),
                         [(30, 1000, 0.02, 0.15), (8, 200, 0.01, 0.24), (60, 500, 0.08, 0.12), (3, 50, 0.05, 0.2)])
def test_vasicek_p_value_equals_monte_carlo(defaults, n, p_default, rho):
    simulated = monte_carlo_p_value(defaults, n, p_default, rho, draws=400_000, seed=7)
    assert vasicek_p_value(defaults, n, p_default, rho) == pytest.approx(simulated, abs=0.004)


@pytest.mark.parametrize(("defaults", "n", "p_default"),
                         [(30, 1000, 0.02), (0, 100, 0.1), (12, 12, 0.5), (5, 80, 0.01)])
def test_vasicek_p_value_is_the_binomial_without_correlation(defaults, n, p_default):
    plain = 1.0 if defaults == 0 else stats.binomtest(defaults, n, p_default, alternative="greater").pvalue
    assert vasicek_p_value(defaults, n, p_default, 0.0) == pytest.approx(plain, rel=1e-12)
    assert vasicek_p_value(defaults, n, p_default, 1e-10) == pytest.approx(plain, rel=1e-4)


def test_correlation_makes_many_defaults_less_surprising():
    assert vasicek_p_value(45, 1000, 0.02, 0.15) > 100 * vasicek_p_value(45, 1000, 0.02, 0.0)


def test_basel_correlation_follows_the_formula():
    w = (1 - np.exp(-50 * 0.01)) / (1 - np.exp(-50))
    assert basel_correlation(0.01)[()] == pytest.approx(0.12 * w + 0.24 * (1 - w))
    assert basel_correlation([1e-9, 0.9]) == pytest.approx([0.24, 0.12], abs=1e-6)
    assert basel_correlation(0.9, turnover_meur=5) == pytest.approx(0.08, abs=1e-6)
    assert basel_correlation(0.9, turnover_meur=27.5) == pytest.approx(0.10, abs=1e-6)
    assert basel_correlation(0.9, turnover_meur=1) == basel_correlation(0.9, turnover_meur=5)


def test_jeffreys_p_value_is_the_posterior_mass_below_the_pd():
    density = lambda x: stats.beta.pdf(x, 7.5, 193.5)  # noqa: E731  (7 defaults of 200)
    assert jeffreys_p_value(7, 200, 0.02) == pytest.approx(integrate.quad(density, 0, 0.02)[0], rel=1e-8)


def test_hosmer_lemeshow_equals_its_definition():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.001, 0.3, 2000)
    y = (rng.random(2000) < p * 1.2).astype(int)
    groups = decile_groups(p)
    statistic = 0.0
    for g in range(10):
        o, e, n = y[groups == g].sum(), p[groups == g].sum(), (groups == g).sum()
        statistic += (o - e) ** 2 / (e * (1 - e / n))
    found = hosmer_lemeshow(p, y, groups, RULES, by="deciles")
    assert found.statistic == pytest.approx(statistic)
    assert found.df == 10
    assert found.p_value == pytest.approx(stats.chi2.sf(statistic, 10))
    assert np.bincount(groups).tolist() == [200] * 10


def test_spiegelhalter_equals_the_brier_score_standardised():
    rng = np.random.default_rng(4)
    p = rng.uniform(0.001, 0.6, 3000)
    y = (rng.random(3000) < p).astype(int)
    brier = np.mean((y - p) ** 2)
    expected, variance = np.mean(p * (1 - p)), np.sum((1 - 2 * p) ** 2 * p * (1 - p)) / len(p) ** 2
    found = spiegelhalter(p, y, RULES)
    assert found.statistic == pytest.approx((brier - expected) / np.sqrt(variance))
    assert found.p_value == pytest.approx(2 * stats.norm.sf(abs(found.statistic)))


def test_herfindahl_index_through_the_coefficient_of_variation():
    counts = np.array([5, 40, 120, 300, 260, 150, 80, 30, 10, 5])
    shares = counts / counts.sum()
    found = herfindahl(counts, RULES, reference_counts=np.full(10, 100))
    assert found.statistic == pytest.approx(1 + np.log(np.sum(shares**2)) / np.log(10))
    assert found.largest_grade == "4" and found.largest_share == pytest.approx(shares[3])
    assert found.reference == pytest.approx(0.0, abs=1e-12)
    cv = np.sqrt(10 * np.sum((shares - 0.1) ** 2))
    assert found.p_value == pytest.approx(stats.norm.sf(3 * cv / np.sqrt(cv**2 * (0.5 + cv**2))))
    assert herfindahl([0, 0, 9, 0], RULES).statistic == pytest.approx(1.0)
    assert herfindahl([0, 0, 0, 0], RULES).light is None


def test_auc_standard_error_equals_delongs_definition():
    rng = np.random.default_rng(5)
    y = (rng.random(300) < 0.2).astype(int)
    s = np.round(rng.random(300) + 0.4 * y, 2)  # ties
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    auc, se = auc_standard_error(y, s)
    assert auc == pytest.approx(psi.mean())
    assert se == pytest.approx(np.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)))


def test_matrix_weighted_bandwidths_of_a_published_example():
    # a five-grade count matrix with its bandwidths as MathWorks documents them (lower 0.3306, upper 0.6066)
    matrix = [[10, 8, 15, 9, 10], [11, 9, 13, 9, 8], [0, 10, 10, 11, 10], [0, 0, 9, 11, 11], [0, 0, 0, 11, 10]]
    found = migration_stability(matrix, RULES)
    assert found.mwb_lower == pytest.approx(0.3306, abs=5e-5)
    assert found.mwb_upper == pytest.approx(0.6066, abs=5e-5)
    m = np.array(matrix)
    assert found.beyond_down == pytest.approx(sum(m[i, j] for i in range(5) for j in range(5) if j > i + 1) / m.sum())
    assert found.light == "red"


def test_the_battery_reads_back_from_json_equal():
    rng = np.random.default_rng(6)
    p = rng.beta(1, 30, 4000).clip(0.0005, 0.95)
    y = (rng.random(4000) < p).astype(int)
    battery = validation_battery(p, y, RULES, sample="rows", auc_initial=0.8, reference_grade_counts=np.arange(1, 11),
                                 reference="a reference", migration=np.eye(10) * 30 + 1,
                                 migration_periods="2024 → 2025")
    assert ValidationBattery.from_json(battery.to_json()) == battery
    assert list(battery.frame()["test"])[:3] == ["binomial (per grade)", "binomial, correlation-adjusted (per grade)",
                                                 "Jeffreys (per grade)"]
    written = json.loads((Path(__file__).parent / "data" / "monitor.json").read_text(encoding="utf-8"))
    keys = list(written)
    with_battery = {**{k: written[k] for k in keys[:keys.index("notes")]}, "validation": battery.to_json(),
                    **{k: written[k] for k in keys[keys.index("notes"):]}}
    assert MonitorReport.from_json(with_battery).to_json() == with_battery  # monitor.json's key, in its place
    assert MonitorReport.from_json(with_battery).validation == battery
    empty = validation_battery([], [], RULES, sample="rows")
    assert empty.spiegelhalter is None and empty.grades == () and "no rows with outcomes" in empty.notes[0]


@pytest.mark.parametrize(("table", "message"), [
    ("asset_correlation = \"basl\"", r"validation.asset_correlation='basl'.*must be \"basel\""),
    ("asset_correlation = 1.2", r"asset_correlation=1.2 must be \"basel\".* or a number in \[0, 1\)"),
    ("spiegelhalter_p_red = 0.2", r"spiegelhalter_p_red=0.2 and spiegelhalter_p_amber=0.05 must be p-values"),
    ("grade_psi_amber = 0.5", r"grade_psi_amber=0.5 and grade_psi_red=0.25 must be limits"),
    ("sme_turnover_meur = 0", r"sme_turnover_meur=0.0 must be a turnover"),
    ("colour = 1", r"unknown validation settings \['colour'\]"),
])
def test_bad_validation_settings_are_named(tmp_path, table, message):
    path = tmp_path / "riskcore.toml"
    path.write_text(f"[validation]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(path, env={})


def test_validation_settings_are_read(tmp_path):
    path = tmp_path / "riskcore.toml"
    path.write_text("[validation]\nasset_correlation = 0.12\nherfindahl_amber = 0.25\n")
    rules = load_settings(path, env={}).validation
    assert rules.asset_correlation == 0.12 and rules.herfindahl_amber == 0.25 and rules.herfindahl_red == 0.52
    assert load_settings(env={}).validation.asset_correlation == "basel"


@pytest.fixture(scope="module")
def demo_test_rows(quick_bundle):
    """The session model's PDs on its test rows."""
    holdout = quick_bundle.holdout()
    return holdout.loc[holdout["part"] == "test", "p_default"].to_numpy(dtype=float)


def test_a_planted_miscalibration_of_one_grade_turns_it_red(demo_test_rows):
    """Outcomes drawn from the model's own PDs (the PDs right: every light green), then one grade's defaults tripled.

    The grade planted is the one expecting the most defaults below grade 9; its outcomes are set to
    three times its expected defaults, as if its true PD were three times the model's. Under a right
    model each light is amber 5 % of the time by construction; the seed is fixed, so the resample is too.
    """
    p = demo_test_rows
    grades = grade_index(p)
    expected = np.bincount(grades, weights=p, minlength=10)
    planted = int(np.argmax(expected[:8]))
    resample = (np.random.default_rng(11).random(len(p)) < p).astype(int)
    miscalibrated = resample.copy()
    rows = np.flatnonzero(grades == planted)
    miscalibrated[rows] = 0
    miscalibrated[rows[: int(round(3 * expected[planted]))]] = 1
    kw = {"sample": "test rows", "reference_grade_counts": np.bincount(grades, minlength=10), "reference": "itself"}
    right, wrong = validation_battery(p, resample, RULES, **kw), validation_battery(p, miscalibrated, RULES, **kw)

    for battery in (right, wrong):
        assert battery.grade_psi.statistic == pytest.approx(0.0) and battery.grade_psi.light == "green"
    assert {g.binomial_light for g in right.grades} == {"green"}
    assert right.hosmer_lemeshow_grades.light == right.hosmer_lemeshow_deciles.light == "green"
    assert right.spiegelhalter.light == "green"
    bad = {g.grade: g for g in wrong.grades}[str(planted + 1)]
    assert bad.binomial_light == bad.jeffreys_light == "red"
    assert bad.vasicek_p > bad.binomial_p  # correlated defaults make the same count less surprising
    assert {g.binomial_light for g in wrong.grades if g is not bad} == {"green"}
    assert wrong.hosmer_lemeshow_grades.p_value < RULES.hosmer_lemeshow_p_red
    assert wrong.spiegelhalter.p_value < RULES.spiegelhalter_p_red
    assert wrong.lights["Hosmer–Lemeshow (grades)"] == wrong.lights["Spiegelhalter"] == "red"
