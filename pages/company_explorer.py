"""Company explorer — one company's PD, grade and decision, why, against its sector, and what if."""

import numpy as np
import streamlit as st

from dashboard import auth, state, tables, widgets
from dashboard import charts_company as charts
from riskcore.errors import SchemaError
from riskcore.evaluation import grade_of, risk_level_of
from riskcore.workbench import peer_percentiles, reason_codes

auth.require_page("company_explorer")

SCALES = {"pd": "probability of default", "logodds": "log-odds"}
WHATIF = "whatif_"  # prefix of the what-if inputs, forgotten when the company changes

bundle = state.model_bundle()
spec = bundle.spec
view = state.current_view(bundle)
st.title("Company explorer")
st.caption("Companies of the hold-out years, scored by the model in use. Decisions use the cut-off in force "
           f"({widgets.pct(view.threshold)}, set on the Costs & threshold page).")


def _new_part() -> None:
    st.session_state.pop("company", None)  # another part's companies: start again from its riskiest


left, right = st.columns([2, 3])
with left:
    part = widgets.part_picker("company_part", on_change=_new_part)
query = right.text_input("Find a company by id or name", key="company_query", placeholder="e.g. C00042 or Holding")
table = state.companies(bundle, bundle.version, part)
found = tables.find_companies(table, query)
positions = dict(zip(table["label"], table["position"]))
# the riskiest company is open by default: the page always explains someone
choice = st.selectbox(f"Company ({len(found):,} found, riskiest first)", found["label"].tolist(),
                      index=0 if len(found) else None, placeholder="Choose a company", key="company")
if choice is None or choice not in positions:
    st.info(f"No company of these rows matches {query!r}. Search by id (e.g. C00042) or part of the name.",
            icon=":material/search_off:")
    st.markdown("**The riskiest companies of these rows**")
    st.dataframe(table.head(15)[["id", "name", "period", "segment", "p_default", "grade"]], hide_index=True,
                 width="stretch", column_config={"p_default": st.column_config.NumberColumn("PD", format="percent")})
    st.stop()

position = int(positions[choice])
# the what-if values belong to one company: forget them whenever another one is shown, however it was chosen
if st.session_state.get("explorer_shown") != (part, choice):
    widgets.forget(WHATIF)
    st.session_state["explorer_shown"] = (part, choice)
rows = state.rows(bundle, part)
company = rows.iloc[[position]].reset_index(drop=True)
ex = state.explanation(bundle, bundle.version, part, position)
p = float(ex.totals["p_default"].iloc[0])
through_cycle = bundle.ttc_pd(np.array([p]), company)  # the grade follows the through-the-cycle PD when it is on
graded = p if through_cycle is None else float(through_cycle[0])
grade, level = str(grade_of(np.array([graded]))[0]), str(risk_level_of(np.array([graded]))[0])

a, b, c, d = st.columns(4)
a.metric("Probability of default", widgets.pct(p, 2))
b.metric("Grade", grade, level, delta_color="off",
         help=None if through_cycle is None else f"Through the cycle: graded on a PD of {widgets.pct(graded, 2)}, "
         "the point-in-time PD with the credit cycle taken out; the decision uses the point-in-time PD.")
c.metric("Decision", "refer for review" if p >= view.threshold else "accept",
         f"cut-off {widgets.pct(view.threshold)}", delta_color="off")
d.metric("Outcome 12 months later", "defaulted" if int(company["y"].iloc[0]) == 1 else "repaid",
         help="Known because these are hold-out years; the model did not see it.")

left, right = st.columns([3, 2], gap="large")
with left:
    scale = st.segmented_control("Contributions in", ["pd", "logodds"], default="pd", key="company_scale",
                                 format_func=SCALES.__getitem__) or "pd"
    steps = tables.waterfall_frame(ex, spec, 0, scale=scale)  # type: ignore[arg-type]
    st.plotly_chart(charts.waterfall(steps, scale=scale), width="stretch", key="company_waterfall")
    if scale == "pd" and abs(p - float(ex.totals["base_pd"].iloc[0])) < 1e-9:
        st.caption("This company's PD equals the average company's: calibration maps a range of raw scores to one "
                   "PD, and its score stayed within it. The log-odds view shows what moved the raw score.")
with right:
    st.markdown("**Reasons for the risk**")
    reasons = reason_codes(bundle, ex, company, 0)
    if reasons:
        st.markdown("\n".join(f"{i}. {r.text}" for i, r in enumerate(reasons, 1)))
    else:
        st.write("No feature raises this company's PD above the average company's.")
    peers = peer_percentiles(bundle, company, 0)
    if len(peers):
        st.plotly_chart(charts.peer_percentiles(peers), width="stretch", key="company_peers")

if bundle.is_scorecard:
    points = state.company_points(bundle, bundle.version, part, position)
    st.subheader(f"Scorecard: {points['points'].sum():,.0f} points")
    st.caption("The model is a points scorecard: this company's score is the sum of the points of the bins it "
               "falls in (more points, lower risk); the PD above is read from that total and calibrated.")
    st.dataframe(points[["label", "bin", "points"]], hide_index=True, width="stretch", key="company_points",
                 column_config={"label": "Characteristic", "bin": "Bin",
                                "points": st.column_config.NumberColumn("Points", format="%d")})

record = tables.company_record(company, 0, spec)


@st.fragment
def what_if_panel() -> None:
    """Change key ratios and re-score the company; only this part reruns."""
    st.subheader("What if")
    st.caption("Change a value and the company is scored again by the same model. Year-on-year changes and "
               "volatilities keep their recorded values.")
    features = tables.whatif_features(spec)
    changes = {}
    cols = st.columns(3)
    for i, name in enumerate(features):
        f = spec.feature(name)
        current = record.get(name)
        unit = f" ({f.unit})" if f.unit else ""
        value = cols[i % 3].number_input(
            f.display_label + unit, value=None if current is None else float(current),
            min_value=None if f.min is None else float(f.min), max_value=None if f.max is None else float(f.max),
            step=0.01, format="%.3f", key=f"{WHATIF}{name}", help=f.description)
        if value is not None and (current is None or abs(value - float(current)) > 1e-12):
            changes[name] = value
    if not changes:
        st.caption("No value changed yet.")
        return
    try:
        result = state.bench().what_if(bundle, record, changes)
    except SchemaError as err:
        widgets.show_error(err)
        return
    after = result.after["p_default"]
    a, b, c = st.columns(3)
    a.metric("PD with the changes", widgets.pct(after, 2), f"{result.delta_pd * 100:+.2f} points",
             delta_color="inverse")
    b.metric("Grade", result.after["grade"], f"was {result.before['grade']}", delta_color="off")
    c.metric("Decision", "refer for review" if after >= view.threshold else "accept", delta_color="off")
    st.button("Reset the values", key="reset_whatif", on_click=widgets.forget, args=(WHATIF,))


what_if_panel()
