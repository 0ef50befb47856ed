"""Performance — how well the model separates defaults from the rest, against the logistic baseline."""

import streamlit as st

from dashboard import auth, state, widgets
from dashboard import charts_model as charts
from riskcore.evaluation import at_threshold

auth.require_page("performance")

bundle = state.model_bundle()
view = state.current_view(bundle)
perf = state.performance(bundle, bundle.version)
rows = state.rows(bundle, "test")
y, p = rows["y"].to_numpy(), rows["p_default"].to_numpy()
op = at_threshold(y, p, view.threshold)

st.title("Performance")
st.caption(f"Measured on the test year ({len(rows):,} company-years, {int(y.sum()):,} defaults), which no part of "
           f"training saw. Bands and intervals are 95% bootstrap percentiles of {state.N_RESAMPLES} resamples, the "
           "same resamples for both models. The marked cut-off is the one in force "
           f"({widgets.pct(view.threshold)}, {'set by hand' if view.overridden else 'cost-optimal'}).")

table = perf["table"]
models = list(dict.fromkeys(table["model"]))
show_baseline = len(models) > 1 and st.toggle("Compare with the logistic baseline", value=True, key="perf_baseline")
if len(models) == 1:
    st.caption("No logistic baseline was scored on these rows.")
elif bundle.kind == "logistic":
    st.caption("The model in use is itself logistic, so the baseline (the same family, calibrated the same way) "
               "lies on top of it.")
keep = models if show_baseline else models[:1]


def _only(frame):
    return frame[frame["model"].isin(keep)]


def _shown(curves):
    return [c for c in curves if c.label in keep]


model_rows = table[table["model"] == models[0]].set_index("metric")
a, b, c, d, e = st.columns(5)
for col, metric in zip((a, b, c, d, e), ("AUC", "Gini", "PR-AUC", "KS", "Brier")):
    r = model_rows.loc[metric]
    col.metric(metric, f"{r.value:.3f}", f"{r.lower:.3f}–{r.upper:.3f}", delta_color="off")
a, b, c, d, e = st.columns(5)
a.metric("Precision at the cut-off", widgets.pct(op.precision))
b.metric("Recall at the cut-off", widgets.pct(op.recall))
c.metric("F1", f"{op.f1:.3f}")
d.metric("Specificity", widgets.pct(op.specificity))
e.metric("Referred", widgets.pct(op.referral_rate))

aucs = dict(zip(table.loc[table["metric"] == "AUC", "model"], table.loc[table["metric"] == "AUC", "value"]))
left, right = st.columns(2)
left.plotly_chart(charts.roc(_shown(perf["roc"]), (1 - op.specificity, op.recall), aucs), width="stretch",
                  key="perf_roc")
right.plotly_chart(charts.precision_recall(_shown(perf["pr"]), (op.recall, op.precision), float(y.mean())),
                   width="stretch", key="perf_pr")
left, right = st.columns(2)
left.plotly_chart(charts.lift(_shown(perf["gains"])), width="stretch", key="perf_lift")
right.plotly_chart(charts.cumulative_gains(_shown(perf["gains"]), op.referral_rate), width="stretch",
                   key="perf_gains")
left, right = st.columns(2)
left.plotly_chart(charts.ks(perf["ks"], view.threshold), width="stretch", key="perf_ks")
with right:
    st.markdown("**Model against baseline**")
    st.dataframe(_only(table), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in ("value", "lower", "upper")})

card = bundle.metrics.get("scorecard")
if bundle.is_scorecard:
    st.subheader("Scorecard")
    points = state.points_table(bundle, bundle.version)
    st.caption("The model is a points scorecard: a company's score is the sum of the points of the bins it falls "
               "in, and more points mean lower risk. Each characteristic's default rate rises or falls across its "
               "bins as the data contract declares; WoE is the bin's weight of evidence (positive: fewer defaults "
               "than average)."
               + (f" {card['pdo']:g} points double the odds; {card['base_points']:g} points stand for odds of "
                  f"{card['base_odds']:g} to 1 against default." if card and card.get("pdo") else ""))
    st.dataframe(points[["label", "bin", "count", "event_rate", "woe", "points"]], hide_index=True, width="stretch",
                 key="perf_scorecard",
                 column_config={"label": "Characteristic", "bin": "Bin", "count": "Count",
                                "event_rate": st.column_config.NumberColumn("Event rate", format="percent"),
                                "woe": st.column_config.NumberColumn("WoE", format="%.3f"),
                                "points": st.column_config.NumberColumn("Points", format="%d")})
    st.download_button("Download the scorecard (CSV)", points.to_csv(index=False).encode("utf-8"),
                       file_name=f"scorecard-{bundle.version}.csv", mime="text/csv", key="perf_scorecard_download",
                       icon=":material/download:")
elif card:
    st.subheader("Scorecard")
    st.caption(f"A points scorecard was a candidate: refitted on the same training rows it reaches a test AUC of "
               f"{card['scorecard_auc']:.3f} against this model's {card['model_auc']:.3f} on the same rows: "
               + (f"{card['auc_given_up']:.3f} AUC given up for a model read by adding points."
                  if card["auc_given_up"] >= 0 else f"{-card['auc_given_up']:.3f} AUC better on these rows."))
