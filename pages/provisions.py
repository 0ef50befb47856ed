"""Provisions — IFRS 9 and CECL expected credit loss of the portfolio, under weighted macro scenarios."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import auth, state, widgets
from dashboard import charts_provisions as charts
from dashboard import provisions as loaders
from riskcore.errors import RiskcoreError
from riskcore.evaluation import normalised_weights, reweighted, stage_drivers, stage_movements, term_structures

auth.require_page("provisions")

# session-state keys of the user's choices
WEIGHT_KEY, STANDARD_KEY, AS_OF_KEY, METHOD_KEY, COMPARE_KEY = "provision_weight_", "provision_standard", \
    "provision_as_of", "provision_curve_method", "provision_compare"
STANDARDS = {"ifrs9": "IFRS 9", "cecl": "CECL"}
COMPUTED = "computed"  # the waterfall opens from the previous year computed now (the others: a run's seq on record)
MONEY = st.column_config.NumberColumn(format="%,.0f")
PERCENT = st.column_config.NumberColumn(format="percent")

bundle = state.model_bundle()
rules = state.settings().provisions
spec = bundle.spec
st.title("Provisions")
st.caption("Expected credit loss (ECL) = Σ over the years ahead of marginal PD × LGD × exposure × discount factor. "
           "**IFRS 9**: 12 months of loss in stage 1, the whole remaining life in stage 2 (a significant increase "
           "in credit risk since origination) and stage 3 (in default). **CECL**: the whole remaining life for "
           "every exposure. Each macro scenario re-scores the portfolio through the model; the ECL is their "
           "weighted sum. This page shows the provisions and records nothing: "
           "`python -m riskcore provisions` writes them and records the run in the audit trail.")

path = state.training_data_path(bundle)
if path is None:
    st.info("The file this model was trained on is no longer there, so there is no portfolio to provide for. "
            "Run `python -m riskcore provisions --input <panel> --as-of <date> --out <folder>` on the portfolio's "
            "panel instead.", icon=":material/info:")
    st.stop()
needed = {"company id": spec.id, "fiscal year": spec.time, "default flag": spec.target}
missing = [name for name, column in needed.items() if not column]
if missing:
    st.info(f"This model's data names no {', '.join(missing)} column; provisions need each company's history of "
            "years with the default flag.", icon=":material/info:")
    st.stop()
mtime = path.stat().st_mtime
try:
    years = loaders.panel_years(str(path), mtime, spec, bundle.version)
except RiskcoreError as err:
    widgets.show_error(err)
    st.stop()
if len(years) < 2:
    st.info(f"{path.name} holds {len(years)} fiscal year(s) in {spec.time!r}; provisions need the as-of year and at "
            "least one year of history before it.", icon=":material/info:")
    st.stop()

left, middle, right = st.columns([1, 1, 2])
as_of = left.selectbox("As-of year", years[1:][::-1], key=AS_OF_KEY,
                       help="The portfolio is the companies with a row in this year (and last year's defaulters, "
                            "in stage 3); the term structures are estimated on the years before it.")
standard = middle.segmented_control("Standard", list(STANDARDS), format_func=STANDARDS.__getitem__,
                                    default=rules.standard, key=STANDARD_KEY) or rules.standard
try:
    run = loaders.provision_run(bundle, bundle.version, str(path), mtime, int(as_of))
except RiskcoreError as err:
    widgets.show_error(err)
    st.stop()
right.caption(f"Model {bundle.version} on {path.name}, as of {run.as_of}: {len(run.companies):,} companies; "
              f"lifetime PDs by the **{rules.method}** method, estimated on {run.history_rows:,} company-years "
              f"before {run.as_of}.")
for note in run.notes:
    st.caption(f"Note: {note}.")

# ---------------------------------------------------------------- scenario weights
st.subheader("Scenario weights")
if not any(s.shifts for s in run.scenarios):
    st.info("The model reads no macro input, so every scenario scores the same portfolio: the weights cannot move "
            "the ECL.", icon=":material/info:")
columns = st.columns(len(run.scenarios))
chosen: dict[str, float] = {}
for column, scenario in zip(columns, run.scenarios, strict=True):
    chosen[scenario.name] = column.slider(scenario.name.capitalize(), 0.0, 1.0, float(scenario.weight), 0.05,
                                          key=WEIGHT_KEY + scenario.name, help=scenario.describe(spec))
try:
    weights, weights_note = normalised_weights(chosen)
except ValueError as err:
    st.error(f"{err}. Move a slider above 0 to see the provisions.")
    st.stop()
if weights_note:
    st.info(f"The weights must add up to 1: {weights_note}.", icon=":material/balance:")

results = {s: reweighted(run.result, weights, rules, standard=s) for s in STANDARDS}
result = results[standard]
by_stage = {s: r.by_stage() for s, r in results.items()}
total = by_stage[standard].set_index("stage").loc["total"]
other = "cecl" if standard == "ifrs9" else "ifrs9"
a, b, c, d = st.columns(4)
a.metric(f"ECL ({STANDARDS[standard]})", f"{total['ecl']:,.0f}", help="Weighted over the scenarios")
b.metric("Coverage", f"{total['coverage']:.2%}", help="ECL divided by the exposure at default")
c.metric("Companies in stage 2", f"{int((result.stage == 2).sum()):,}",
         f"{(result.stage == 2).mean():.1%} of the book", delta_color="off")
d.metric(f"ECL ({STANDARDS[other]})", f"{by_stage[other].set_index('stage').loc['total', 'ecl']:,.0f}")
scenario_rows = pd.DataFrame([{"scenario": s.name, "weight": weights[s.name],
                               "ECL": float(result.ecl[s.name].sum()), "macro moves": s.describe(spec)}
                              for s in run.scenarios])
st.dataframe(scenario_rows, hide_index=True, width="stretch",
             column_config={"weight": PERCENT, "ECL": MONEY})

# ---------------------------------------------------------------- ECL by stage, and its movement
left, right = st.columns(2)
with left:
    st.plotly_chart(charts.ecl_by_stage(by_stage), width="stretch")
    table = by_stage[standard][["stage", "companies", "ead", "ecl", "coverage"]].astype({"stage": str})
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"ead": MONEY, "ecl": MONEY, "coverage": PERCENT})
with right:
    id_col = spec.id or "id"
    previous_year = int(as_of) - 1
    try:
        on_record = {r.seq: r for r in loaders.recorded_runs()}
    except RiskcoreError as err:
        on_record = {}
        st.caption(f"The provisions runs on record cannot be listed: {err}")
    compare = st.selectbox(
        "Compare with", [COMPUTED, *on_record], key=COMPARE_KEY,
        format_func=lambda seq: f"The previous year ({previous_year}), computed now" if seq == COMPUTED
        else loaders.run_label(on_record[seq]),
        help="The waterfall's opening: the provisions a year earlier, computed now with this model, or a run "
             "`python -m riskcore provisions` recorded in the audit trail (e.g. last quarter's), its companies read "
             "from its folder and checked against the SHA-256 on record.")
    before: pd.DataFrame | None = None  # the opening's id, stage and ecl
    opening = note = ""
    if compare != COMPUTED and compare in on_record:
        recorded = on_record[compare]
        try:
            before = loaders.recorded_companies(recorded, id_col)
        except RiskcoreError as err:
            widgets.show_error(err)
        else:
            named = STANDARDS.get(recorded.standard, recorded.standard)
            opening = f"On record, as of {recorded.as_of}"
            note = (f"From the run on record (provisions run {recorded.seq}, model {recorded.model_version}, "
                    f"{named} at its own weights): each "
                    f"company's stage and ECL as written to {recorded.folder}, the file checked against its SHA-256 "
                    f"in the audit trail; to the provisions as of {run.as_of} at the weights above.")
            if recorded.standard != standard:
                note += (f" The run on record is under {named}, this view under {STANDARDS[standard]}: part of the "
                         "movement is the standards' difference.")
    elif previous_year <= years[0]:
        st.info(f"No movement to show: {previous_year} has no year of history before it in {path.name}.",
                icon=":material/info:")
    else:
        try:
            previous = loaders.provision_run(bundle, bundle.version, str(path), mtime, previous_year)
        except RiskcoreError as err:
            widgets.show_error(err)
        else:
            computed = reweighted(previous.result, weights, rules, standard=standard)
            before = pd.DataFrame({id_col: previous.companies[id_col], "stage": computed.stage,
                                   "ecl": computed.weighted})
            opening = f"As of {previous_year}"
            note = (f"The previous period's provisions computed now at {previous_year} (as of minus one year) with "
                    "the same model, weights and standard, their term structures estimated on the years before it; "
                    "or choose a run on record above.")
    if before is not None:
        moves = stage_movements(before, pd.DataFrame({id_col: run.companies[id_col], "stage": result.stage,
                                                      "ecl": result.weighted}), id_col)
        st.plotly_chart(charts.waterfall(float(before["ecl"].sum()), charts.movement_steps(moves),
                                         float(result.weighted.sum()), opening, f"As of {run.as_of}"),
                        width="stretch")
        st.caption(note)

# ---------------------------------------------------------------- stage 2 drivers
st.subheader("Stage-2 drivers")
drivers = stage_drivers(result.stage, result.reason, result.weighted, result.ead)
if drivers.empty:
    st.caption("No company is in stage 2 at these weights.")
else:
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.stage_drivers(drivers), width="stretch")
    right.dataframe(drivers, hide_index=True, width="stretch",
                    column_config={"ead": MONEY, "ecl": MONEY, "share": PERCENT})
    right.caption(f"A significant increase: the lifetime PD at least {rules.sicr_relative:.0%} and "
                  f"{rules.sicr_absolute:.0%} points above the one expected at origination over the same term "
                  f"([provisions] sicr_relative, sicr_absolute); backstops: more than {rules.dpd_backstop} days past "
                  "due, or the watch list, where the data has those columns.")

# ---------------------------------------------------------------- lifetime PD curves
st.subheader("Lifetime PD by grade")
method = st.segmented_control("Method", ["hazard", "migration"], default=rules.method, key=METHOD_KEY,
                              format_func={"hazard": "Hazard", "migration": "Migration (cohort)"}.__getitem__
                              ) or rules.method
truth = loaders.lifetime_truth(bundle, bundle.version, str(path), mtime, int(as_of))
if truth is not None:
    st.plotly_chart(charts.lifetime_curves(truth, method, truth=True), width="stretch")
    errors = truth[truth["companies"] >= 100].groupby("year")[f"{method}_error"].apply(lambda e: e.abs().mean())
    if len(errors):
        st.caption(f"Against the demo's known truth (each company of {run.as_of} simulated forward from its true "
                   "condition): mean relative error of the grades with at least 100 companies, by year ahead: "
                   + ", ".join(f"year {int(k)} {v:.0%}" for k, v in errors.items()) + ".")
else:
    st.plotly_chart(charts.lifetime_curves(term_structures(run.hazards, run.migration), method, truth=False),
                    width="stretch")
    st.caption("Each grade's curve for a company at the grade's mean PD. The known truth is drawn on the demo "
               "portfolio as of its last year only.")
