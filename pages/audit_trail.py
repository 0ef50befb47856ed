"""Audit trail — verify the chain of every score, and export a period for an examiner."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import streamlit as st

from dashboard import auth, state, widgets
from riskcore.errors import RiskcoreError

auth.require_page("audit_trail")
EXPORTED = "audit_export_written"  # the folder and summary of the export this session wrote last

st.title("Audit trail")
st.caption("Every score the command line, the dashboard, the API and the job workers gave is chained in the audit "
           "trail: each request's head carries the SHA-256 of its scores and of the head before it, so an edited, "
           "deleted or added score breaks the chain. The same checks run from `python -m riskcore audit verify`.")

if st.button("Verify the chain now", key="audit_verify", icon=":material/verified:"):
    try:
        result = state.bench().verify_audit()
    except RiskcoreError as err:
        widgets.show_error(err)
    else:
        if result.ok:
            st.success(result.message, icon=":material/verified:")
            st.caption(f"Last head {result.requests:,}, hash `{result.last_hash}`. Keep it somewhere else from "
                       "time to time: it anchors everything recorded before it.")
        else:
            st.error(result.message)

st.subheader("Export a period for an examiner")
st.caption("Every score recorded in the period (inputs, outputs, who, when, the model, the request) as Parquet, with "
           "the chain heads that cover it and a manifest of every file's SHA-256. The examiner checks it without "
           "the database: `python -m riskcore audit verify --export FOLDER` names any row edited, deleted or "
           "added. The export is recorded in the trail. For a long period, use `python -m riskcore audit export`.")
today = datetime.now(UTC).date()
with st.form("audit_export_form"):
    left, right = st.columns(2)
    since = left.date_input("From (UTC)", value=today - timedelta(days=365), key="export_since")
    until = right.date_input("Until, not included (UTC)", value=today + timedelta(days=1), key="export_until")
    submitted = st.form_submit_button("Write the export", type="primary", icon=":material/inventory_2:")
who = auth.check("export_audit") if submitted else None
if who is not None:
    try:
        with st.spinner("Writing the export and checking every request on the way"):
            written = state.bench().export_audit(since=str(since), until=str(until), actor=who.caller)
    except RiskcoreError as err:
        widgets.show_error(err)
    else:
        st.session_state[EXPORTED] = (str(written.folder), written.summary())
if EXPORTED in st.session_state:
    folder, summary = st.session_state[EXPORTED]
    st.success(f"Export written to `{folder}`", icon=":material/inventory_2:")
    st.code(summary, language=None)
    widgets.folder_download("Download the export (zip)", Path(folder), key="audit_export_zip")
