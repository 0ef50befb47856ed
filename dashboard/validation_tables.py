"""The validation battery as the Calibration and Monitoring pages show it: one table of tests, one of grades.

The battery is the engine's (:class:`riskcore.evaluation.ValidationBattery`: on the test rows at
training, in ``metrics.json``; in a monitoring run with outcomes, in ``monitor.json``); this module
only names, decorates and draws it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from riskcore.evaluation import ValidationBattery

__all__ = ["LIGHT_ICONS", "battery_grades_table", "battery_of_metrics", "battery_table", "show_battery"]

LIGHT_ICONS = {"green": "🟢 green", "amber": "🟠 amber", "red": "🔴 red"}
_NOT_JUDGED = "—"
_GRADE_LIGHTS = ["binomial_light", "vasicek_light", "jeffreys_light"]
_PERCENT = st.column_config.NumberColumn(format="percent")
_P_VALUE = st.column_config.NumberColumn("p-value", format="scientific")


def _icon(light: Any) -> str:
    """A light as its icon; a test that could not be judged as a dash."""
    return LIGHT_ICONS.get(str(light), _NOT_JUDGED)


def battery_of_metrics(metrics: Mapping[str, Any]) -> ValidationBattery | None:
    """The battery a bundle's ``metrics.json`` recorded on its test rows; None for a model trained before it."""
    found = metrics.get("validation_battery")
    return None if found is None else ValidationBattery.from_json(found)


def battery_table(battery: ValidationBattery) -> pd.DataFrame:
    """One row per test: ``test, light, statistic, p_value, detail, rule`` (the light as an icon)."""
    frame = battery.frame()
    return frame.assign(light=frame["light"].map(_icon))[["test", "light", "statistic", "p_value", "detail", "rule"]]


def battery_grades_table(battery: ValidationBattery) -> pd.DataFrame:
    """The per-grade tests, each light as an icon."""
    frame = battery.grades_frame()
    return frame.assign(**{c: frame[c].map(_icon) for c in _GRADE_LIGHTS})


def show_battery(battery: ValidationBattery, key: str) -> None:
    """Draw the battery: its tests with their lights, and on request the per-grade tests (checkbox ``key``)."""
    rho = ("the Basel formula at each grade's PD" if battery.asset_correlation == "basel"
           else f"ρ = {battery.asset_correlation}")
    st.caption(f"On the {battery.sample} ({battery.n:,} rows, {battery.defaults:,} defaults). Each test states the "
               f"rule of its light, from `[validation]` in riskcore.toml; the correlation-adjusted binomial test "
               f"uses {rho}.")
    st.dataframe(battery_table(battery), hide_index=True, width="stretch",
                 column_config={"p_value": _P_VALUE, "statistic": st.column_config.NumberColumn(format="%.4g")})
    for note in battery.notes:
        st.caption(f"Note: {note}")
    if st.checkbox("Show the tests of each grade", key=key):
        st.dataframe(battery_grades_table(battery), hide_index=True, width="stretch",
                     column_config={"predicted_pd": _PERCENT, "observed_rate": _PERCENT, "jeffreys_low": _PERCENT,
                                    "jeffreys_high": _PERCENT, "binomial_p": _P_VALUE, "vasicek_p": _P_VALUE,
                                    "jeffreys_p": _P_VALUE,
                                    "correlation": st.column_config.NumberColumn(format="%.3f")})
