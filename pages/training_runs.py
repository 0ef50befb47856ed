"""Training runs — the MLflow experiment: runs, candidates, parameters and metrics; train, retrain and promote."""

from collections.abc import Callable

import streamlit as st

from dashboard import auth, jobs, state, tables, widgets
from dashboard import charts_compare as compare_charts
from dashboard import charts_model as charts
from riskcore import identity
from riskcore.config import TrainingConfig
from riskcore.errors import RiskcoreError
from riskcore.workbench import Move

person = auth.require_page("training_runs")
state.workers()  # this server's worker processes, which run the retraining loop, started once

bundle = state.model_bundle()
st.title("Training runs")
st.caption("Every training run is logged to MLflow with the candidates it compared. The champion is the model "
           "the dashboard, the CLI and the API score with.")


def _train(profile: str, promote: bool) -> None:
    """Train on the champion's training file, with a progress bar; caches are cleared afterwards."""
    who = auth.check("start_training")
    if who is None:
        return
    path = state.training_data_path(bundle)
    if path is None:
        st.error("The training file of the model in use is no longer on disk, so there is nothing to train on.")
        return
    config = TrainingConfig.for_profile("full" if profile == "full" else "quick")
    progress = widgets.progress_bar()
    try:
        with state.exclusive("training"):
            bench = state.bench()
            result = bench.train(bench.load(path, spec=bundle.spec), config=config, promote=promote,
                                 source=str(path), progress=progress, trained_by=who.caller)
    except RiskcoreError as err:
        widgets.show_error(err)
        return
    finally:
        state.clear_model_caches()
    st.success(f"Run finished: {result.model_version}" + (" — now the champion." if result.promoted else "."))
    with st.expander("Summary of the run"):
        st.code(result.summary(), language=None)


if auth.allowed("start_training"):
    with st.expander("Start a new training run", icon=":material/play_arrow:"):
        st.write("Trains on the file the model in use was trained on, with its data contract and the costs in the "
                 "settings, and logs the run to MLflow. *Quick* compares two candidates with a small search "
                 "(a few minutes); *full* compares seven, the points scorecard among them, with a larger one.")
        data_path = state.training_data_path(bundle)
        if data_path is not None:
            for found in state.personal_data(str(data_path), data_path.stat().st_mtime, bundle.spec, bundle.version):
                tell = st.warning if found.role in ("feature", "id") else st.caption
                tell(f"Personal data in {found.column!r} ({found.role}): {found.message}")
        with st.form("train_form", border=False):
            profile = st.radio("Profile", ["quick", "full"], horizontal=True, key="train_profile")
            promote = st.checkbox("Make the new model the champion when it is done", key="train_promote")
            start = st.form_submit_button("Start training", type="primary", key="train_start")
        if start:
            _train(profile, promote)

with st.expander("The retraining loop", icon=":material/autorenew:", expanded=jobs.retraining_active()):
    jobs.retraining_panel()

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
else:
    st.info("To make this run's model the champion, compare it with the champion under **Compare and promote** "
            "below: a promotion goes through the promotion gate and into the model ledger.",
            icon=":material/compare_arrows:")


# ---------------------------------------------------------------- compare and promote

MOVE_MESSAGE = "compare_move_message"  # what the last promotion or rollback did, shown after the rerun


def _version_label(versions: dict[str, str]) -> Callable[[str], str]:
    """Show a model version with its role in the registry (champion, previous champion)."""
    return lambda v: f"{v} ({versions[v]})" if versions.get(v) else v


def _show_gate(result: dict) -> None:
    """The gate's verdict first, each check with its evidence."""
    gate = result["gate"]
    lines = "\n".join(f"- {'✅' if c['passed'] else '❌'} **{c['name']}**: {c['detail']}" for c in gate["checks"])
    if gate["passed"]:
        st.success(f"The challenger passes the promotion gate.\n\n{lines}", icon=":material/verified:")
    else:
        st.error(f"The challenger fails the promotion gate.\n\n{lines}", icon=":material/block:")


def _show_figures(result: dict, labels: tuple[str, str]) -> None:
    """ΔAUC, Δ cost, the score shift, both ROC and cost curves, the figures, the swap set, each calibration."""
    auc, cost = result["auc"], result["cost"]
    st.caption(f"{result['rows']:,} rows ({result['defaults']:,} defaults) of {result['rows_from']}.")
    for note in result["notes"]:
        st.info(note)
    a, b, c, d = st.columns(4)
    a.metric("ΔAUC (challenger − champion)", f"{auc['difference']:+.3f}",
             f"{auc['low']:+.3f} to {auc['high']:+.3f} (DeLong, p = {auc['p_value']:.2g})", delta_color="off")
    b.metric("Δ expected cost", f"{cost['difference']:+,.0f}",
             f"{cost['low']:+,.0f} to {cost['high']:+,.0f} ({cost['confidence']:.0%} interval)", delta_color="off")
    c.metric("Δ cost per company", f"{cost['per_company']:+,.2f}")
    d.metric("Score PSI", f"{result['score_psi']:.3f}")
    left, right = st.columns(2)
    left.plotly_chart(compare_charts.roc_pair(result, labels), width="stretch", key="compare_roc")
    right.plotly_chart(compare_charts.cost_pair(result, labels), width="stretch", key="compare_cost_curves")
    left, right = st.columns([2, 3])
    left.plotly_chart(compare_charts.cost_bars(result, labels), width="stretch", key="compare_costs")
    right.plotly_chart(compare_charts.grade_calibration(result, labels), width="stretch", key="compare_grades")
    st.markdown("**Swap set** — the companies the two models decide differently")
    st.dataframe(compare_charts.swap_table(result), hide_index=True, width="stretch",
                 column_config={"observed_default_rate": st.column_config.NumberColumn("observed default rate",
                                                                                       format="percent")})
    e, f = st.columns(2)
    for col, who, label in ((e, "champion", labels[0]), (f, "challenger", labels[1])):
        col.metric(f"ECE of {label}", f"{result[who]['ece']:.4f}", f"{result[who]['red_grades']} red grade(s)",
                   delta_color="off")


def _moved(move: Move) -> None:
    """After a move, forget the cached champion and rerun so the whole page shows the new one, with the message."""
    if not move.moved:
        st.warning(move.message)
        return
    state.clear_model_caches()
    st.session_state[MOVE_MESSAGE] = move.message
    st.rerun()


def _promote_form(version: str) -> None:
    """Promote the challenger through the gate (or over it, with a reason), on record."""
    with st.form("promote_form"):
        st.markdown(f"**Promote {version}**: the gate compares it with the current champion.")
        reason = st.text_input("Reason (goes into the model ledger)", key="promote_reason")
        override = st.checkbox("Override a failed gate", key="promote_override")
        submitted = st.form_submit_button("Promote the challenger", type="primary", key="promote_submit")
    who = auth.check("promote") if submitted else None
    if who is None:
        return
    try:
        move = state.bench().promote(version, reason=reason, actor=who.caller, override=override)
    except RiskcoreError as err:
        widgets.show_error(err)
        return
    _moved(move)


def _rollback_form() -> None:
    """Make the previous champion the champion again, on record."""
    with st.form("rollback_form"):
        st.markdown("**Roll back to the previous champion**")
        reason = st.text_input("Reason (goes into the model ledger)", key="rollback_reason")
        submitted = st.form_submit_button("Roll back", key="rollback_submit")
    who = auth.check("rollback") if submitted else None
    if who is None:
        return
    try:
        move = state.bench().rollback(reason=reason, actor=who.caller)
    except RiskcoreError as err:
        widgets.show_error(err)
        return
    _moved(move)


def _ledger() -> None:
    """Every move of the champion, newest first."""
    st.markdown("**Model ledger** — every move of the champion, from the audit trail")
    try:
        moves = state.bench().history()
    except RiskcoreError as err:
        widgets.show_error(err)
        return
    if not moves:
        st.info("No move of the champion has been recorded yet.")
        return
    st.dataframe(compare_charts.ledger_table(moves), hide_index=True, width="stretch",
                 column_config={"time": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                                "gate": st.column_config.TextColumn("gate digest")})


st.divider()
st.subheader("Compare and promote")
st.caption("A challenger against the champion on the same rows (the challenger's test year, when the champion "
           "never trained on it), through the promotion gate set under [promotion] in riskcore.toml.")
if MOVE_MESSAGE in st.session_state:
    st.success(st.session_state.pop(MOVE_MESSAGE), icon=":material/workspace_premium:")
registered = state.registry_versions().dropna(subset=["model_version"])
roles = {str(r.model_version): "champion" if r.champion else "previous champion" if r.previous_champion else ""
         for r in registered.itertuples()}
versions = list(roles)
if not auth.allowed("compare_versions"):
    st.info(f"Comparing versions needs role {identity.ACTIONS['compare_versions']}; promoting and rolling back need "
            f"role {identity.ACTIONS['promote']}. You are signed in with role {person.role}.", icon=":material/lock:")
elif len(versions) < 2:
    st.info("Two registered model versions are needed for a comparison; train another run above.")
else:
    current = next((v for v, role in roles.items() if role == "champion"), versions[0])
    other = next(v for v in versions if v != current)
    a, b = st.columns(2)
    champion_version = a.selectbox("Champion", versions, index=versions.index(current),
                                   format_func=_version_label(roles), key="compare_champion")
    challenger_version = b.selectbox("Challenger", versions, index=versions.index(other),
                                     format_func=_version_label(roles), key="compare_challenger")
    if champion_version == challenger_version:
        st.info("Choose two different versions to compare.")
    else:
        try:
            compared = state.comparison(champion_version, challenger_version)
        except RiskcoreError as err:
            widgets.show_error(err)
        else:
            _show_gate(compared)
            _show_figures(compared, (champion_version, challenger_version))
        left, right = st.columns(2)
        with left:
            if auth.allowed("promote"):
                _promote_form(challenger_version)
            else:
                st.caption(f"Promoting needs role {identity.ACTIONS['promote']}.")
        with right:
            if auth.allowed("rollback"):
                _rollback_form()
            else:
                st.caption(f"Rolling back needs role {identity.ACTIONS['rollback']}.")
_ledger()
