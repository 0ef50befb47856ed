"""Training runs — the MLflow experiment: runs, candidates, parameters and metrics; train and promote."""

import streamlit as st

from dashboard import charts_model as charts
from dashboard import state, tables, widgets
from riskcore.errors import RiskcoreError

bundle = state.model_bundle()
st.title("Training runs")
st.caption("Every training run is logged to MLflow with the candidates it compared. The champion is the model "
           "the dashboard, the CLI and the API score with.")


def _train(profile: str, promote: bool) -> None:
    """Train on the champion's training file, with a progress bar; caches are cleared afterwards."""
    from riskcore.config import TrainingConfig
    from riskcore.workflows import train_file

    path = state.training_data_path(bundle)
    if path is None:
        st.error("The training file of the model in use is no longer on disk, so there is nothing to train on.")
        return
    s = state.settings()
    config = TrainingConfig.for_profile("full" if profile == "full" else "quick")
    progress = widgets.progress_bar()
    try:
        with state.exclusive("training"):
            result = train_file(path, bundle.spec, settings=s, config=config, tracker=state.tracker(), promote=promote,
                                source=str(path), progress=progress)
    except RiskcoreError as err:
        widgets.show_error(err)
        return
    finally:
        state.clear_model_caches()
    st.success(f"Run finished: {result.model_version}" + (" — now the champion." if result.promoted else "."))
    with st.expander("Summary of the run"):
        st.code(result.summary(), language=None)


with st.expander("Start a new training run", icon=":material/play_arrow:"):
    st.write("Trains on the file the model in use was trained on, with its data contract and the costs in the "
             "settings, and logs the run to MLflow. *Quick* compares two candidates with a small search "
             "(a few minutes); *full* compares six with a larger one.")
    with st.form("train_form", border=False):
        profile = st.radio("Profile", ["quick", "full"], horizontal=True, key="train_profile")
        promote = st.checkbox("Make the new model the champion when it is done", key="train_promote")
        start = st.form_submit_button("Start training", type="primary", key="train_start")
    if start:
        _train(profile, promote)

try:
    table = tables.runs_table(state.runs(), state.registry_versions())
except RiskcoreError as err:
    widgets.show_error(err)
    st.stop()
if not len(table):
    st.info("No training runs in the experiment store yet.")
    st.stop()

kinds = sorted(table["kind"].dropna().unique())
a, b = st.columns([2, 3])
chosen_kinds = a.multiselect("Model kinds", kinds, key="runs_kinds", placeholder="all kinds")
query = b.text_input("Search run id or version", key="runs_query")
shown = tables.filter_runs(table, kinds=chosen_kinds, query=query)
st.dataframe(shown, hide_index=True, width="stretch", column_order=[
    "champion", "model_version", "kind", "profile", "started", "status", "rows", "test_auc", "test_auc_lower",
    "test_auc_upper", "test_ece", "savings", "threshold", "registry_version", "run_id"],
    column_config={"champion": st.column_config.CheckboxColumn("champion"),
                   "started": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm"),
                   "test_auc": st.column_config.NumberColumn("test AUC", format="%.3f"),
                   "test_auc_lower": st.column_config.NumberColumn("AUC low", format="%.3f"),
                   "test_auc_upper": st.column_config.NumberColumn("AUC high", format="%.3f"),
                   "test_ece": st.column_config.NumberColumn("test ECE", format="%.4f"),
                   "savings": st.column_config.NumberColumn(format="localized"),
                   "threshold": st.column_config.NumberColumn(format="percent")})
if len(table) > 1:
    st.plotly_chart(charts.runs_over_time(table), width="stretch", key="runs_chart")

run_ids = dict(zip(table["label"], table["run_id"]))
options = (shown if len(shown) else table)["label"].tolist()
champions = [lab for lab, champ in zip(table["label"], table["champion"]) if champ and lab in options]
label = st.selectbox("Run", options, index=options.index(champions[0]) if champions else 0, key="run_select")
run_id = run_ids[label]
row = table[table["run_id"] == run_id].iloc[0]

try:
    info = state.run_info(run_id)
    candidates = tables.candidates_table(state.run_candidates(run_id))
except RiskcoreError as err:
    widgets.show_error(err)
    st.stop()

st.subheader(f"Run {row.model_version}")
a, b, c, d = st.columns(4)
a.metric("Test AUC", f"{row.test_auc:.3f}", f"{row.test_auc_lower:.3f}–{row.test_auc_upper:.3f}", delta_color="off")
b.metric("Test ECE", f"{row.test_ece:.4f}")
c.metric("Savings on test", widgets.money(row.savings))
d.metric("Cut-off", widgets.pct(row.threshold))

if len(candidates):
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.candidates(candidates), width="stretch", key="run_candidates")
    right.dataframe(candidates, hide_index=True, width="stretch",
                    column_config={"cv_auc_mean": st.column_config.NumberColumn("CV AUC", format="%.3f"),
                                   "cv_auc_std": st.column_config.NumberColumn("± sd", format="%.3f")})
params, metrics = st.columns(2)
with params:
    st.markdown("**Parameters**")
    st.dataframe(tables.run_params_table(info), hide_index=True, width="stretch")
with metrics:
    st.markdown("**Metrics**")
    st.dataframe(tables.run_metrics_table(info), hide_index=True, width="stretch",
                 column_config={"value": st.column_config.NumberColumn(format="%.4g")})

if row.champion:
    st.success("This run's model is the champion.", icon=":material/workspace_premium:")
elif row.registry_version is None:
    st.info("This run registered no model version, so it cannot be promoted.")
elif st.button("Make this model the champion", key="promote", type="primary"):
    try:
        state.tracker().promote_run(run_id)
    except RiskcoreError as err:
        widgets.show_error(err)
    else:
        state.clear_model_caches()
        st.rerun()
