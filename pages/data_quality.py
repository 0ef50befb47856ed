"""Data quality — the quality report, the split and the leakage checklist of the training data (or of a CSV)."""

import streamlit as st

from dashboard import auth, state, tables, widgets
from dashboard import charts_model as charts
from riskcore.errors import RiskcoreError

auth.require_page("data_quality")

SOURCES = {"training": "The model's training data", "upload": "Another CSV"}

bundle = state.model_bundle()
st.title("Data quality")
st.caption("What the data looks like before it reaches a model: gaps, impossible values, duplicates, how the rows "
           "are split in time, and the leakage checklist that stops a training run when a column is too good to be "
           "true.")

left, right = st.columns([2, 3])
source = left.segmented_control("Data to check", list(SOURCES), format_func=SOURCES.__getitem__, default="training",
                                key="dq_source") or "training"
deep = right.toggle("Run the full leakage checklist on this file, with per-column evidence", key="dq_leakage",
                    help="Fits a few small models: up to a minute the first time, then cached.")

try:
    if source == "upload":
        upload = st.file_uploader("File to check (CSV, Excel .xlsx or Parquet)",
                                  type=["csv", "txt", "tsv", "xlsx", "parquet"], key="dq_upload")
        if upload is None:
            st.info("Upload a CSV in the layout of the training data (the template on the Portfolio scoring page "
                    "lists the columns; add the target column to get the split and the leakage checks).")
            st.stop()
        check = state.upload_check(upload.getvalue(), upload.file_id, bundle.spec, bundle.version, deep)
        name = upload.name
    else:
        path = state.training_data_path(bundle)
        if path is None:
            st.warning("The file this model was trained on is no longer on disk. Upload a copy to check it.")
            st.stop()
        check = state.data_check(str(path), path.stat().st_mtime, bundle.spec, bundle.version, deep)
        name = path.name
except RiskcoreError as err:
    widgets.show_error(err)
    st.stop()

report = check.report
st.subheader(f"Checked: {name}")
a, b, c, d = st.columns(4)
a.metric("Rows", f"{report.n_rows:,}")
b.metric("Columns", f"{report.n_columns:,}")
if report.target:
    t = report.target
    c.metric("Defaults", f"{int(t['positives']):,}", f"{t['rate']:.2%} of rows", delta_color="off")
else:
    c.metric("Defaults", "n/a", "no target column", delta_color="off")
d.metric("Errors · warnings", f"{len(report.errors)} · {len(report.warnings)}")
for note in (*report.notes, *check.notes):
    st.caption(f"Note: {note}")
personal = report.personal_frame()
if len(personal):
    used = personal["role"].isin(["feature", "id"]).any()
    (st.warning if used else st.info)(
        f"{len(personal)} column(s) look like personal data (e-mail addresses, phone numbers, IBANs, or a name "
        "that says so). A model should not learn from them, and the audit trail keeps only the salted hashes of "
        "those it records. What to do for each:", icon=":material/privacy_tip:")
    st.dataframe(personal, hide_index=True, width="stretch", key="dq_personal",
                 column_config={"share": st.column_config.NumberColumn(format="percent")})

overview, missing, invalid, split, leakage = st.tabs(["Findings", "Missing values", "Invalid values & duplicates",
                                                     "Split", "Leakage checklist"])
with overview:
    if len(report.periods):
        st.plotly_chart(charts.periods(report.periods), width="stretch", key="dq_periods")
    st.dataframe(widgets.with_status_icons(report.findings_frame(), "severity"), hide_index=True, width="stretch")

with missing:
    table = tables.missing_table(report)
    if not len(table):
        st.success("No missing values.")
    else:
        st.plotly_chart(charts.missing_by_column(table), width="stretch", key="dq_missing")
        if report.missing_by_segment.shape[1]:
            st.plotly_chart(charts.missing_heatmap(report.missing_by_segment), width="stretch", key="dq_missing_seg")

with invalid:
    bad = tables.violations_table(report)
    st.markdown(f"**Invalid values** — {len(bad):,} cell(s) that cannot be used (training sets them to missing)")
    widgets.big_table(widgets.readable(bad), "cells", hide_index=True, width="stretch")
    outliers = tables.violations_table(report, outliers=True)
    st.markdown(f"**Unusual values** — {len(outliers):,} possible but outside the typical range (kept)")
    widgets.big_table(widgets.readable(outliers), "cells", hide_index=True, width="stretch")
    st.markdown(f"**Duplicates** — {len(report.duplicates):,} row(s)")
    widgets.big_table(report.duplicates, "rows", hide_index=True, width="stretch")

with split:
    if check.split_summary is None:
        st.info("No split: " + " ".join(check.notes))
    else:
        summary = tables.split_table(check.split_summary)
        st.plotly_chart(charts.split_parts(summary), width="stretch", key="dq_split")
        st.dataframe(summary, hide_index=True, width="stretch",
                     column_config={"share": st.column_config.NumberColumn(format="percent"),
                                    "default_rate": st.column_config.NumberColumn(format="percent")})

with leakage:
    if check.leakage is not None:
        st.caption("Checks run now on this file. The preprocessing check needs a fitted model, so it only runs "
                   "during training.")
        findings = check.leakage.findings
    elif source == "training":
        st.caption("The checks of the training run that built the model in use. Switch on the full checklist above "
                   "to rerun them on the file with their per-column evidence.")
        findings = bundle.metrics.get("leakage", [])
    else:
        st.info("Switch on the full leakage checklist above to run it on this file (it needs a target column).")
        findings = []
    if findings:
        checklist = tables.leakage_checklist(findings)
        st.dataframe(widgets.with_status_icons(checklist, "status"), hide_index=True, width="stretch",
                     column_order=["status", "title", "detail", "columns"])
    if check.leakage is not None and len(check.leakage.feature_auc):
        one, two = st.columns(2)
        one.plotly_chart(charts.feature_auc(check.leakage.feature_auc), width="stretch", key="dq_feature_auc")
        two.plotly_chart(charts.shift_psi(check.leakage.shift), width="stretch", key="dq_shift")
