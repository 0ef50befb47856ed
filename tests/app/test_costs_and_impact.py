"""Costs & threshold: the sliders re-cost the cached scores, and the choice carries over to Business impact."""

from __future__ import annotations

from pagetools import chart_specs, metrics, open_page


def test_missed_default_cost_moves_the_threshold_and_the_savings(at):
    open_page(at, "costs_threshold")
    before = metrics(at)
    assert before["Cut-off in force"].endswith("%")
    at.slider(key="cost_fn").set_value(250_000).run()
    assert not at.exception
    after = metrics(at)
    assert after["Cut-off in force"] != before["Cut-off in force"]
    assert after["Savings on the test year"] != before["Savings on the test year"]
    # a dearer missed default lowers the cut-off: more companies are referred
    assert float(after["Cut-off in force"].rstrip("%")) < float(before["Cut-off in force"].rstrip("%"))
    assert len(chart_specs(at)) == 2


def test_manual_threshold_and_back_to_optimal(at):
    open_page(at, "costs_threshold")
    optimal = metrics(at)["Cut-off in force"]
    assert at.button(key="threshold_reset").disabled
    at.slider(key="threshold_slider").set_value(50.0).run()
    assert metrics(at)["Cut-off in force"] == "50.0%"
    assert at.session_state["threshold_override"] == 0.5
    assert not at.button(key="threshold_reset").disabled
    at.button(key="threshold_reset").click().run()
    assert metrics(at)["Cut-off in force"] == optimal
    assert "threshold_override" not in at.session_state


def test_chosen_costs_carry_over_to_business_impact(at):
    default_savings = metrics(at)["Savings"]
    open_page(at, "costs_threshold")
    at.slider(key="cost_fn").set_value(250_000).run()
    at.slider(key="cost_fp").set_value(2_000).run()
    savings = metrics(at)["Savings on the test year"]
    open_page(at, "business_impact")
    assert not at.exception
    assert metrics(at)["Savings"] == savings != default_savings
    assert "false alarm 2,000" in " ".join(c.value for c in at.sidebar.caption)
    # and back on the costs page the sliders still hold the user's choice
    open_page(at, "costs_threshold")
    assert at.slider(key="cost_fn").value == 250_000


def test_exposure_mode_prices_a_missed_default_at_lgd_times_exposure(at):
    open_page(at, "costs_threshold")
    assert at.slider(key="lgd").disabled
    at.radio(key="cost_mode").set_value("exposure").run()
    assert not at.exception
    assert at.slider(key="cost_fn").disabled and not at.slider(key="lgd").disabled
    before = metrics(at)["Savings on the test year"]
    at.slider(key="lgd").set_value(0.9).run()
    assert metrics(at)["Savings on the test year"] != before
