"""Model report — the documentation a model-risk reviewer reads and signs, for the version in use.

The page opens without writing the report: it shows the version's summary and today's report when it is
already written (kept in the state folder, for every session and process), else a button that writes it. A
single section is written on its own for the preview.
"""

import re
from datetime import UTC, datetime

import streamlit as st
import streamlit.components.v1 as components

from dashboard import auth, state, widgets
from riskcore.errors import RiskcoreError
from riskcore.workbench import SECTION_IDS

auth.require_page("model_report")

bundle = state.model_bundle()
today = datetime.now(UTC).date().isoformat()
st.title("Model report")
st.caption("Purpose, data, features, methodology, conceptual soundness, performance, sensitivity, limitations, "
           "the monitoring plan, the history of the version and a sign-off block: every number read from the "
           "bundle's metrics, the MLflow run and the model ledger. The same file comes from "
           f"`python -m riskcore report --model {bundle.version} --out DIR --format html,pdf`.")

model, test = bundle.metrics.get("model", {}), bundle.metrics.get("test", {})
a, b, c, d = st.columns(4)
a.metric("Version", bundle.version)
b.metric("Kind", str(model.get("kind", "")), str(model.get("profile", "")), delta_color="off")
c.metric("Test AUC", f"{test['auc']:.3f}" if "auc" in test else "—")
d.metric("Cut-off (refer at or above)", widgets.pct(bundle.metrics["threshold"], 2)
         if "threshold" in bundle.metrics else "—")
st.caption(f"Bundle manifest SHA-256 `{bundle.manifest_hash}`")

try:
    files = state.report_files(bundle, today)
except RiskcoreError as err:
    widgets.show_error(err)
    st.stop()
if files is None:
    left, right = st.columns([1, 3], vertical_alignment="center")
    write = left.button("Write the report", type="primary", icon=":material/edit_document:", key="report_write")
    right.caption("Today's report of this version is not written yet. The first time it takes a few seconds (its "
                  "figures and the PDF); then it opens at once, for everyone, until the version's history changes "
                  "or the day does.")
    if write:
        with st.spinner("Writing the report…"):
            files = state.written_report(bundle, today)
if files is not None:
    left, right, _ = st.columns([1, 1, 3])
    left.download_button("Download HTML", files.html.encode("utf-8"), file_name=f"{files.name}.html",
                         mime="text/html", icon=":material/description:", key="report_html")
    if files.pdf is not None:
        right.download_button("Download PDF", files.pdf, file_name=f"{files.name}.pdf", mime="application/pdf",
                              icon=":material/picture_as_pdf:", key="report_pdf")
    else:
        right.warning(files.why_no_pdf)
    st.caption(f"{len(files.html.encode('utf-8')) / 1024:,.0f} KB of HTML" +
               (f", {len(files.pdf) / 1024:,.0f} KB of PDF" if files.pdf is not None else ""))

if auth.allowed("sign_report"):
    with st.expander("Sign this report", icon=":material/draw:"):
        person = auth.current()
        roles = ["validator", "approver"] if person is not None and person.role == "admin" else ["validator"]
        with st.form("sign_report_form", clear_on_submit=True):
            role = st.radio("Sign as", roles, horizontal=True, key="sign_role",
                            captions=["reviewed the model and this report", "approves it for the use in section 1"]
                            [:len(roles)])
            decision = st.text_area("Decision and conditions", key="sign_decision",
                                    placeholder="e.g. approved for the SME book; review after the next recalibration")
            submitted = st.form_submit_button("Sign", type="primary")
        who = auth.check("sign_report") if submitted else None
        if who is not None:
            try:
                with st.spinner("Writing the report you sign…"):
                    signed = files if files is not None else state.written_report(bundle, today, pdf=False)
                entry = state.bench().sign(version=bundle.version, bundle_hash=bundle.manifest_hash,
                                           html=signed.html, actor=who.caller, role=role, decision=decision)
                state.report_facts.clear()
                with st.spinner("Writing the report with your signature…"):
                    files = state.written_report(bundle, today)
            except RiskcoreError as err:
                st.error(str(err))
            else:
                st.success(f"Signed as {role} (ledger entry {entry.seq}); the sign-off section now shows it.")

WHOLE = "the whole report"
shown = st.selectbox("Preview", [WHOLE, *SECTION_IDS], key="report_section",
                     format_func=lambda s: s if s == WHOLE else s.replace("_", " ").capitalize())
if files is not None and shown == WHOLE:
    components.html(files.html, height=900, scrolling=True)
elif files is not None:  # the page's head (its styles) with that one section
    head = files.html.split("<body", 1)[0]
    found = re.search(rf'<section id="{shown}">.*?</section>', files.html, flags=re.S)
    components.html(f"{head}<body>{found.group(0) if found else ''}</body></html>", height=900, scrolling=True)
elif shown == WHOLE:
    st.info("Write the report above to read it here whole, or choose one section to read it now.",
            icon=":material/article:")
else:
    try:
        with st.spinner("Writing the section…"):
            preview = state.report_section(bundle, shown, today)
    except RiskcoreError as err:
        widgets.show_error(err)
    else:
        components.html(preview, height=900, scrolling=True)
