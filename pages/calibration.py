"""Calibration — does a PD of 5% mean that 5 companies in 100 default?"""

import streamlit as st

from dashboard import auth, state, validation_tables, widgets
from dashboard import charts_model as charts
from riskcore.evaluation import SMALL_SEGMENT_DEFAULTS

auth.require_page("calibration")

BINS = {"quantile": "equal rows", "uniform": "equal width"}

bundle = state.model_bundle()
st.title("Calibration")
cal_info = bundle.metrics.get("calibration", {})
fitted_on = ("the training years' out-of-fold scores (each from a model that never saw the row) and the validation "
             "year" if cal_info.get("fitted_on") == "pooled" else "the validation year only")
st.caption("A model ranks companies; calibration makes its output a probability you can price and provision "
           f"with. The calibrator is fitted on {fitted_on}, never on the test year, so the test year shows how "
           "well it holds on rows it never saw. ECE is the count-weighted mean gap between predicted and observed "
           "default rates over ten equal-width PD bins, as in the model's metrics.")

part = widgets.part_picker("cal_part")
table = state.calibration(bundle, bundle.version, part)
rows = state.rows(bundle, part)
raw = table[table["column"] == "p_uncalibrated"].iloc[0]
used = table[table["in_use"]].iloc[0] if table["in_use"].any() else table.iloc[-1]

a, b, c, d = st.columns(4)
a.metric("ECE before calibration", widgets.pct(raw.ece, 2),
         f"95% interval {widgets.pct(raw.ece_lower, 2)}–{widgets.pct(raw.ece_upper, 2)}", delta_color="off")
b.metric(f"ECE after ({used.calibration.lower()})", widgets.pct(used.ece, 2),
         f"95% interval {widgets.pct(used.ece_lower, 2)}–{widgets.pct(used.ece_upper, 2)}", delta_color="off")
c.metric("Mean PD", widgets.pct(used.mean_pd, 2), f"observed rate {widgets.pct(used.observed_rate, 2)}",
         delta_color="off")
d.metric("Brier score", f"{used.brier:.4f}", f"raw {raw.brier:.4f}", delta_color="off")
if part == "validation":
    st.info("The calibrator was fitted on these validation rows, so their calibration looks better than it will "
            "be on new data; the test year is the honest check.")

left, right = st.columns([3, 2], gap="large")
with left:
    one, two = st.columns(2)
    strategy = one.segmented_control("Bins of the diagram", ["quantile", "uniform"], default="quantile",
                                     format_func=BINS.__getitem__,
                                     key="cal_strategy") or "quantile"
    n_bins = two.slider("Number of bins", 5, 20, 10, key="cal_bins")
    curves = state.reliability(bundle, bundle.version, part, strategy, n_bins)
    st.plotly_chart(charts.reliability(curves), width="stretch", key="cal_reliability")
with right:
    st.plotly_chart(charts.ece_comparison(table), width="stretch", key="cal_ece")
    st.dataframe(table.drop(columns=["column"]), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.4f")
                                for c in ("ece", "ece_lower", "ece_upper", "brier", "mean_pd", "observed_rate")})

left, right = st.columns(2, gap="large")
left.plotly_chart(charts.pd_histogram(rows["y"].to_numpy(), rows["p_default"].to_numpy()), width="stretch",
                  key="cal_hist")
if bundle.spec.segment:
    sectors = state.sectors(bundle, bundle.version, part, SMALL_SEGMENT_DEFAULTS)
    right.plotly_chart(charts.ece_by_segment(sectors), width="stretch", key="cal_sectors")

st.subheader("Validation battery on the test rows")
battery = validation_tables.battery_of_metrics(bundle.metrics)
if battery is None:
    st.info(f"Model {bundle.version} was trained before riskcore ran the validation battery at training; retrain it "
            "to see the supervisors' tests here (monitoring runs with outcomes show them for any model).")
else:
    validation_tables.show_battery(battery, key="cal_battery_grades")
