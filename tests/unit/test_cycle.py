"""Through-the-cycle PDs (riskcore.modelling.cycle): the logit shift, the long-run rate, the frozen cycle."""

from __future__ import annotations

import html
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskcore.config import GradingRules, TrainingConfig, load_settings
from riskcore.data.schema import DEMO_SPEC
from riskcore.errors import ConfigError
from riskcore.evaluation.grading import grade_of
from riskcore.lifecycle.report.markup import NOT_RECORDED, Numbers
from riskcore.lifecycle.report.sections.sensitivity import sensitivity_section
from riskcore.modelling.bundle import load_bundle
from riskcore.modelling.cycle import (
    CentralTendency,
    cycle_block,
    fit_cycle,
    long_run_rate,
    stress_periods,
    ttc_pd,
)
from riskcore.numeric import logit
from riskcore.serving.scoring import score_frame, score_one

probabilities = st.floats(min_value=1e-4, max_value=0.999)


@settings(deadline=None, max_examples=60)
@given(st.lists(probabilities, min_size=2, max_size=40), probabilities, probabilities)
def test_the_shift_keeps_the_order_of_companies_within_a_cycle_state(pits, central, long_run):
    p = np.sort(np.array(pits))
    t = ttc_pd(p, central, long_run)
    assert np.all(np.diff(t) >= -1e-15)
    assert np.all((t > 0) & (t < 1))


@settings(deadline=None, max_examples=60)
@given(st.lists(probabilities, min_size=1, max_size=40), probabilities)
def test_the_shift_is_the_identity_when_the_central_tendency_is_the_long_run_rate(pits, rate):
    p = np.array(pits)
    np.testing.assert_allclose(ttc_pd(p, rate, rate), p, rtol=1e-9)


@settings(deadline=None, max_examples=60)
@given(probabilities, probabilities)
def test_a_company_at_the_central_tendency_gets_the_long_run_rate(central, rate):
    assert ttc_pd(np.array([central]), central, rate)[0] == pytest.approx(rate, rel=1e-9)


def test_the_long_run_rate_weighs_every_period_the_same():
    periods = np.array([2019] * 10 + [2020] * 90)
    y = np.r_[np.ones(1), np.zeros(9), np.ones(18), np.zeros(72)]  # 10% and 20%
    assert long_run_rate(periods, y) == pytest.approx(0.15)
    assert long_run_rate(None, y) == pytest.approx(0.19)
    with pytest.raises(ValueError, match="no default"):
        long_run_rate(periods, np.zeros(100))


def test_the_stress_period_is_the_worst_year_with_a_year_before_it():
    periods = np.repeat([2018, 2019, 2020, 2021], 10)
    y = np.r_[np.ones(9), np.zeros(1), np.zeros(8), np.ones(2), np.ones(5), np.zeros(5), np.zeros(10)]
    assert stress_periods(periods, y) == (2020, 2019)  # 2018 is worse but has no year before it
    assert stress_periods(np.repeat([2020], 5), np.ones(5)) is None


def _cycle_panel(seed: int, n: int, years: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Companies whose log-odds are their own quality plus the year's GDP growth; y drawn from them."""
    rng = np.random.default_rng(seed)
    gdp = rng.normal(1.5, 2.5, years)
    frame = pd.DataFrame({"company_id": np.tile([f"C{i}" for i in range(n)], years),
                          "fiscal_year": np.repeat(2010 + np.arange(years), n),
                          "current_ratio": np.tile(rng.lognormal(0.3, 0.5, n), years),
                          "gdp_growth": np.repeat(gdp, n)})
    y = (rng.random(len(frame)) < _toy_pd(frame)).astype(int)
    return frame, y


def _toy_pd(frame: pd.DataFrame) -> np.ndarray:
    z = -2.8 - 0.8 * np.log(frame["current_ratio"].to_numpy()) - 0.35 * frame["gdp_growth"].to_numpy(dtype=float)
    return 1.0 / (1.0 + np.exp(-z))


@settings(deadline=None, max_examples=15)
@given(st.integers(0, 10_000), st.sampled_from(["training", 0.02, 0.08]))
def test_the_training_periods_average_to_the_long_run_rate(seed, rate):
    """The level is solved to 1e-10 in log-odds, so the mean misses the rate by far less than 1e-8."""
    frame, y = _cycle_panel(seed, 150, 6)
    cycle, central = fit_cycle(frame, y, _toy_pd, DEMO_SPEC, ["current_ratio", "gdp_growth"],
                               GradingRules(True, rate), random_state=seed, n_reference=40)
    assert cycle.macro == ("gdp_growth",)
    t = central.ttc(_toy_pd(frame), frame)
    assert t.mean() == pytest.approx(cycle.long_run_default_rate, abs=1e-8)
    # the cycle is taken out: each year's mean TTC PD moves far less than its PIT PD
    years = pd.DataFrame({"year": frame["fiscal_year"], "pit": _toy_pd(frame), "ttc": t}).groupby("year").mean()
    assert years["ttc"].std() < 0.25 * years["pit"].std()


def test_without_macro_inputs_the_ttc_pd_is_one_shift_to_the_long_run_rate():
    frame, y = _cycle_panel(3, 100, 4)
    cycle, central = fit_cycle(frame, y, _toy_pd, DEMO_SPEC, ["current_ratio"], GradingRules(True, 0.05),
                               random_state=3)
    assert cycle.macro == ()
    p = _toy_pd(frame)
    shift = logit(central.ttc(p, frame)) - logit(p)
    np.testing.assert_allclose(shift, shift[0])
    assert central.ttc(p, frame).mean() == pytest.approx(0.05, abs=1e-8)


def test_the_stress_block_counts_the_companies_that_change_grade():
    frame, y = _cycle_panel(11, 300, 5)
    _, central = fit_cycle(frame, y, _toy_pd, DEMO_SPEC, ["current_ratio", "gdp_growth"], GradingRules(True),
                           random_state=1)
    block = cycle_block(central, _toy_pd, frame, y, np.arange(len(frame)), DEMO_SPEC)
    stress = block["stress"]
    assert stress["companies"] == 300
    assert stress["moved_pit"] == stress["downgraded_pit"] + stress["upgraded_pit"]
    # company quality is constant here: PIT grades follow GDP, TTC grades move only where the mean PD of the
    # sample is not exactly logit-linear in GDP (a company on a grade's edge)
    assert stress["moved_ttc"] < 0.05 * stress["moved_pit"]
    normal = block["normal"]
    assert (normal["period"], normal["before"]) == (stress["before"], stress["before"] - 1)
    assert normal["companies"] == 300 and normal["moved_ttc"] <= normal["moved_pit"] + 3


def test_the_central_tendency_is_kept_per_macro_state():
    frame, y = _cycle_panel(5, 80, 3)
    calls: list[int] = []

    def counting(rows: pd.DataFrame) -> np.ndarray:
        calls.append(len(rows))
        return _toy_pd(rows)

    cycle, _ = fit_cycle(frame, y, _toy_pd, DEMO_SPEC, ["current_ratio", "gdp_growth"], GradingRules(True),
                         random_state=5, n_reference=20)
    central = CentralTendency(cycle, counting)
    first = central.of(frame)
    assert calls == [3 * 20]  # three years, three states, one call
    np.testing.assert_array_equal(central.of(frame.iloc[::-1]), first[::-1])
    assert calls == [3 * 20]


@pytest.mark.parametrize(("value", "words"), [
    (0, "between 0.0005 and 0.5"), (3, "e.g. 0.03 for 3%"), ("average", '"training"'), (True, '"training"'),
])
def test_a_bad_long_run_rate_is_refused_with_what_to_write(value, words):
    with pytest.raises(ConfigError, match="long_run_default_rate") as err:
        GradingRules(long_run_default_rate=value)
    assert words in str(err.value)


def test_the_grading_table_is_read_from_the_settings_file(tmp_path):
    path = tmp_path / "riskcore.toml"
    path.write_text('[grading]\nthrough_the_cycle = true\nlong_run_default_rate = 0.03\n', encoding="utf-8")
    grading = load_settings(path, env={}).grading
    assert grading.through_the_cycle and grading.long_run_rate == 0.03
    path.write_text('[grading]\nlong_run_default_rate = "Training"\n', encoding="utf-8")
    assert load_settings(path, env={}).grading == GradingRules()
    assert GradingRules().long_run_rate is None and not GradingRules().through_the_cycle
    path.write_text('[grading]\nlong_run_default_rate = 1.5\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[grading\] in .*riskcore.toml.*long_run_default_rate=1.5"):
        load_settings(path, env={})
    path.write_text('[grading]\nthrough_the_cycles = true\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown grading settings.*through_the_cycle, long_run_default_rate"):
        load_settings(path, env={})
    assert TrainingConfig().grading == GradingRules()


# ---------------------------------------------------------------------------
# the session champion, trained on the demo portfolio with the default (point-in-time) grades
# ---------------------------------------------------------------------------

def ttc_copy(bundle):
    """The same bundle graded through the cycle (its frozen cycle with the basis turned on)."""
    return replace(bundle, cycle=replace(bundle.cycle, basis="ttc"), _central=None)


def test_the_demo_stress_year_moves_fewer_companies_across_grades_with_ttc_grades(quick_bundle, small_portfolio):
    block = quick_bundle.metrics["cycle"]
    stress = block["stress"]
    assert stress["period"] == small_portfolio.manifest.stress_year
    assert stress["before"] == small_portfolio.manifest.stress_year - 1
    # the cycle alone (the same financials graded under the stress year's and the year before's macro values) moves
    # far fewer companies across TTC grades than across PIT grades
    alone = block["cycle_only"]
    assert alone["companies"] == stress["companies"] and alone["macro_of"] == stress["before"]
    assert alone["moved_ttc"] < 0.75 * alone["moved_pit"]  # 231 against 378 on the session champion
    # most companies of the demo change grade every year by their own changes (77-80%, with the true PD too), which
    # no cycle adjustment removes: the observed gross count barely moves, the cycle's direction goes
    assert stress["downgraded_ttc"] < stress["downgraded_pit"]
    assert abs(stress["net_downgraded_ttc"]) < 0.5 * stress["net_downgraded_pit"]
    # the cycle's swing of the mean PD is mostly gone
    swing_pit = stress["mean_pd_pit"] - stress["mean_pd_pit_before"]
    swing_ttc = stress["mean_pd_ttc"] - stress["mean_pd_ttc_before"]
    assert abs(swing_ttc) < 0.5 * swing_pit
    assert block["training"]["mean_pd_ttc"] == pytest.approx(block["long_run_default_rate"], abs=1e-8)
    assert block["basis"] == "pit" and quick_bundle.grade_basis == "pit"  # off by default


def test_a_pit_bundle_scores_as_before_and_a_ttc_bundle_adds_its_columns(quick_bundle, small_portfolio):
    rows = small_portfolio.frame.drop(columns=["default_12m", "true_pd"]).iloc[:400]
    pit = score_frame(quick_bundle, rows, passthrough=False).scores
    assert "p_default_ttc" not in pit and "grade_pit" not in pit
    np.testing.assert_array_equal(pit["grade"].astype(str), grade_of(pit["p_default"].to_numpy()))

    ttc = score_frame(ttc_copy(quick_bundle), rows, passthrough=False).scores
    cols = list(ttc.columns)
    assert cols.index("p_default_ttc") == cols.index("p_default") + 1
    assert cols.index("grade_pit") == cols.index("grade") + 1
    np.testing.assert_array_equal(ttc["p_default"], pit["p_default"])
    np.testing.assert_array_equal(ttc["decision"], pit["decision"])  # decisions keep the PIT PD
    np.testing.assert_array_equal(ttc["grade_pit"], pit["grade"])
    np.testing.assert_array_equal(ttc["grade"].astype(str), grade_of(ttc["p_default_ttc"].to_numpy()))
    assert (ttc["grade"] != ttc["grade_pit"]).any()

    one = score_one(ttc_copy(quick_bundle), rows.iloc[0].to_dict())
    assert one["p_default_ttc"] == pytest.approx(ttc["p_default_ttc"].iloc[0], rel=1e-9)
    assert (one["grade"], one["grade_pit"], one["grade_basis"]) == (ttc["grade"].iloc[0], ttc["grade_pit"].iloc[0],
                                                                    "ttc")
    assert score_one(quick_bundle, rows.iloc[0].to_dict())["p_default_ttc"] is None


def test_the_bundle_freezes_the_cycle(quick_bundle):
    again = load_bundle(quick_bundle.path)
    assert again.cycle.info() == quick_bundle.cycle.info() == {
        k: v for k, v in quick_bundle.info["cycle"].items()}
    assert len(again.cycle.reference) == quick_bundle.info["cycle"]["reference_rows"] > 0


def test_the_report_shows_the_grade_moves_under_each_basis(quick_bundle):
    text = sensitivity_section(None, Numbers(quick_bundle.metrics))  # the section reads metrics.json only
    assert "<h3>Through-the-cycle grades</h3>" in text and "point-in-time</strong> PD" in text
    stress = quick_bundle.metrics["cycle"]["stress"]
    for key in ("moved_pit", "moved_ttc", "downgraded_pit", "downgraded_ttc", "companies"):
        assert f'value="{stress[key]!r}" data-key="cycle.stress.{key}"' in text, key
    assert 'data-key="cycle.normal.moved_ttc"' in text and 'data-key="cycle.cycle_only.moved_ttc"' in text
    old = {k: v for k, v in quick_bundle.metrics.items() if k != "cycle"}
    assert NOT_RECORDED in html.unescape(sensitivity_section(None, Numbers(old)))


def test_macro_values_with_noise_are_read_to_a_step_so_states_stay_few(quick_bundle):
    """A file whose macro inputs carry noise, one value per company: a few states re-scored, not one per row."""
    noisy = quick_bundle.holdout()
    rng = np.random.default_rng(0)
    for name in quick_bundle.cycle.macro:
        noisy[name] = noisy[name] * (1 + rng.normal(0, 0.01, len(noisy)))
    central = CentralTendency(quick_bundle.cycle, quick_bundle._calibrated_pd)
    exact = CentralTendency(quick_bundle.cycle, quick_bundle._calibrated_pd)
    exact._steps = np.zeros_like(exact._steps)
    read = central.sample_logit(noisy)
    assert len(central._known) < len(noisy) / 2 < len(np.unique(noisy[list(quick_bundle.cycle.macro)], axis=0))
    assert np.median(np.abs(read - exact.sample_logit(noisy))) < 0.02  # 0.69 in log-odds separates two grades
