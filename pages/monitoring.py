"""Monitoring — drift, back-tests as outcomes arrive, expected performance before they do, and the alerts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import auth, state, validation_tables, widgets
from dashboard import charts_monitoring as charts
from dashboard import monitoring_tables as tables
from riskcore.errors import RiskcoreError
from riskcore.evaluation import PSI_ACT, PSI_WATCH, MonitorReport
from riskcore.evaluation.figures import DriftHeatmap

person = auth.require_page("monitoring")

# session-state key of the user's choice: the run they monitored on this page
MONITORED_RUN = "monitoring_uploaded_run"
# the reports the page reads and merges (the newest runs of the model in use; each is read once and cached)
MAX_REPORTS = 24
PERCENT = st.column_config.NumberColumn(format="percent")
P_VALUE = st.column_config.NumberColumn("p-value", format="scientific",
                                        help="One-sided binomial test: the chance of this many defaults or more "
                                             "if the predicted PD were right")
ALERT_BOXES = {"fail": st.error, "warn": st.warning, "pass": st.success}

bundle = state.model_bundle()
st.title("Monitoring")
st.caption("Every monitoring run compares a portfolio scored after training with the model's reference profile. "
           "**PSI** measures how far a feature (or the score) moved from its training distribution on bins fixed "
           f"at training: below {PSI_WATCH:.2f} it is stable, {PSI_WATCH:.2f}–{PSI_ACT:.2f} is worth watching, above "
           f"{PSI_ACT:.2f} it has moved enough to act on. The **χ² p-value** of the same bins tells "
           "drift from a small portfolio's noise.")
st.caption("Before outcomes arrive, the **expected default rate** is the mean calibrated PD and the **expected "
           "AUC** is the AUC the calibrated PDs imply on their own (if they are right); once outcomes arrive, each "
           "grade and each period is back-tested with a binomial test and a Jeffreys interval: green, amber or red.")

try:
    profile = bundle.reference  # a model trained before monitoring existed has none, and cannot be monitored
except RiskcoreError as err:
    widgets.show_error(err)
    st.stop()
st.caption(f"Model {bundle.version}: its reference profile holds {len(profile.features)} features binned on "
           f"{profile.training_rows:,} training rows.")


def show_alerts(report: MonitorReport) -> None:
    """The alerts of one report, failures first, each in the colour of its status with its evidence."""
    for alert in tables.alerts_in_order(report):
        box = ALERT_BOXES.get(str(alert.status), st.info)
        box(f"**{tables.ALERT_TITLES.get(alert.rule, alert.rule)}** — {alert.detail}")


def show_summary(report: MonitorReport) -> None:
    """The headline numbers of one report, and its notes."""
    realised = report.realized
    a, b, c, d, e = st.columns(5)
    a.metric("Rows monitored", f"{report.n:,}")
    b.metric("Periods", ", ".join(str(p) for p in report.periods) or "one")
    score_psi = report.score.psi
    c.metric("Score PSI", "n/a" if score_psi is None else f"{score_psi:.3f}")
    d.metric("Expected default rate", widgets.pct(report.expected.default_rate),
             help="The mean calibrated PD, with its interval in the chart below")
    e.metric("Realised default rate", widgets.pct(realised.default_rate) if realised else "no outcomes")
    for note in report.notes:
        st.caption(f"Note: {note}")


def show_history(runs: pd.DataFrame) -> None:
    """Alerts of the latest run, then every period of the history, then the runs themselves."""
    reports = [state.monitoring_report(rid) for rid in runs["run_id"].head(MAX_REPORTS)]
    latest = reports[0]
    history = tables.monitoring_history(reports)
    st.subheader(f"Alerts of the latest run ({runs['start_time'].iloc[0]:%Y-%m-%d %H:%M} UTC)")
    show_alerts(latest)
    deliveries = tables.deliveries_table(state.monitoring_deliveries(str(runs["run_id"].iloc[0])))
    if len(deliveries):
        with st.expander(f"Where these alerts were sent ({len(deliveries)} deliveries, [alerts.delivery])"):
            st.dataframe(deliveries, hide_index=True, width="stretch")
    show_summary(latest)

    st.plotly_chart(charts.drift_heatmap(DriftHeatmap.from_drift(history.drift)), width="stretch",
                    key="monitor_heatmap")
    with st.expander("Features of the latest run, the largest drift first"):
        features = tables.features_table(latest)
        if len(features):
            st.dataframe(features, hide_index=True, width="stretch",
                         column_config={"missing_share": PERCENT, "out_of_range_share": PERCENT,
                                        "p_value": st.column_config.NumberColumn("χ² p-value", format="scientific"),
                                        "reference_missing_share": PERCENT})
    st.plotly_chart(charts.score_and_default_rate(history), width="stretch", key="monitor_rates")

    with_outcomes = next((r for r in reports if r.realized), None)
    st.subheader("Back-test by grade")
    if with_outcomes is None:
        st.info("No run has outcomes yet. When the defaults of a monitored period are known, monitor it again with "
                "its outcomes file (company id, period, 0/1) below: the back-test by grade and by vintage follows.")
    else:
        st.plotly_chart(charts.grade_backtest([g.as_dict() for g in with_outcomes.grades]), width="stretch",
                        key="monitor_grades")
        st.dataframe(tables.grades_table(with_outcomes), hide_index=True, width="stretch",
                     column_config={"p_value": P_VALUE, "predicted_pd": PERCENT, "observed_rate": PERCENT,
                                    "jeffreys_low": PERCENT,
                                    "jeffreys_high": PERCENT})
        st.subheader("Validation battery")
        if with_outcomes.validation is None:
            st.info("This run was recorded before monitoring ran the validation battery; monitor the period again "
                    "with its outcomes to see it.")
        else:
            validation_tables.show_battery(with_outcomes.validation, key="monitor_battery_grades")
        st.subheader("Back-test by vintage")
        st.dataframe(tables.vintages_table(history.vintages), hide_index=True, width="stretch",
                     column_config={"p_value": P_VALUE, "predicted_pd": PERCENT, "observed_rate": PERCENT,
                                    "jeffreys_low": PERCENT,
                                    "jeffreys_high": PERCENT})

    st.subheader("Grade migration")
    migration = next((r.migration for r in reports if r.migration), None)
    if migration is None:
        st.info("No run shows a grade migration yet. It compares each company's grade in two consecutive periods: "
                "those of one file that holds several periods, or a period and the one before it that this model "
                "already scored (read from the audit trail).")
    else:
        st.plotly_chart(charts.migration_heatmap(migration.as_dict()), width="stretch", key="monitor_migration")
        st.caption(f"{migration.companies:,} companies: {migration.upgrades:,} moved to a safer grade, "
                   f"{migration.downgrades:,} to a riskier one, {migration.unchanged:,} kept theirs.")

    st.subheader("Segment drift of the latest run")
    segments = tables.segments_table(latest)
    if segments.empty:
        st.success("No feature drifted within a segment beyond the stable band.")
    else:
        st.dataframe(segments, hide_index=True, width="stretch")

    st.subheader("Monitoring runs")
    st.dataframe(widgets.with_status_icons(tables.runs_table(runs), "worst alert"), hide_index=True,
                 width="stretch")


def monitor_now() -> None:
    """Upload a later portfolio (and its outcomes) and monitor it on the spot; the run joins the history."""
    portfolio = st.file_uploader("Later portfolio: CSV, Excel .xlsx or Parquet, with the model's columns",
                                 type=["csv", "txt", "tsv", "xlsx", "parquet"], key="monitor_upload")
    outcomes = st.file_uploader("Outcomes (optional): company id, period and 0/1 default",
                                type=["csv", "txt", "tsv", "xlsx", "parquet"], key="monitor_outcomes")
    period = st.text_input("Period column (optional)", key="monitor_period",
                           placeholder=f"default: {bundle.spec.time or 'none (one period)'}")
    if st.button("Monitor", key="monitor_go", type="primary", disabled=portfolio is None,
                 icon=":material/query_stats:") and auth.check("monitor_upload"):
        assert portfolio is not None  # the button is disabled without a file
        try:
            _, run_id, retrain_job = state.monitor_upload(
                bundle, bundle.version, portfolio.file_id, portfolio.getvalue(),
                None if outcomes is None else outcomes.file_id, None if outcomes is None else outcomes.getvalue(),
                period.strip(), person.caller)
        except RiskcoreError as err:
            widgets.show_error(err)
            return
        st.session_state[MONITORED_RUN] = run_id
        if retrain_job:
            st.info(f"A failing alert named in `[retraining] on_alert` queued the retraining loop as job "
                    f"`{retrain_job}`; the Training runs page follows it.", icon=":material/model_training:")
    shown = st.session_state.get(MONITORED_RUN)
    if shown:
        report = state.monitoring_report(shown)
        st.markdown(f"**Monitored {report.source}** — run `{shown}`, added to the history")
        show_alerts(report)
        show_summary(report)


history_area = st.container()
if auth.allowed("monitor_upload"):
    with st.expander("Monitor a portfolio now", icon=":material/upload_file:",
                     expanded=MONITORED_RUN in st.session_state):
        monitor_now()
with history_area:
    try:
        runs = state.monitoring_runs(bundle.version)
    except RiskcoreError as err:
        widgets.show_error(err)
        st.stop()
    if runs.empty:
        st.info(f"There is no monitoring history for model {bundle.version} yet. Monitor a portfolio scored after "
                "training below (optionally with its outcomes), or from the command line: `python -m riskcore "
                "monitor --data FILE [--outcomes FILE] --out DIR`. Each run joins the history on this page.")
    else:
        try:
            show_history(runs)
        except RiskcoreError as err:
            widgets.show_error(err)
