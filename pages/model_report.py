"""Model report — the documentation a model-risk reviewer reads and signs, for the version in use."""

import re
from datetime import UTC, datetime

import streamlit as st
import streamlit.components.v1 as components

from dashboard import auth, state
from riskcore.errors import RiskcoreError
from riskcore.workbench import SECTION_IDS

auth.require_page("model_report")

bundle = state.model_bundle()
st.title("Model report")
st.caption("Purpose, data, features, methodology, conceptual soundness, performance, sensitivity, limitations, "
           "the monitoring plan, the history of the version and a sign-off block: every number read from the "
           "bundle's metrics, the MLflow run and the model ledger. The same file comes from "
           f"`python -m riskcore report --model {bundle.version} --out DIR --format html,pdf`.")

html, pdf, why_no_pdf = state.model_report(bundle, bundle.manifest_hash, datetime.now(UTC).date().isoformat())
name = f"model-report-{bundle.version}"
left, right, _ = st.columns([1, 1, 3])
left.download_button("Download HTML", html.encode("utf-8"), file_name=f"{name}.html", mime="text/html",
                     icon=":material/description:", key="report_html")
if pdf is not None:
    right.download_button("Download PDF", pdf, file_name=f"{name}.pdf", mime="application/pdf",
                          icon=":material/picture_as_pdf:", key="report_pdf")
else:
    right.warning(why_no_pdf)
st.caption(f"{len(html.encode('utf-8')) / 1024:,.0f} KB of HTML" +
           (f", {len(pdf) / 1024:,.0f} KB of PDF" if pdf is not None else ""))
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
                entry = state.bench().sign(version=bundle.version, bundle_hash=bundle.manifest_hash, html=html,
                                           actor=who.caller, role=role, decision=decision)
            except RiskcoreError as err:
                st.error(str(err))
            else:
                state.model_report.clear()
                st.success(f"Signed as {role} (ledger entry {entry.seq}); the sign-off section now shows it.")
                html = state.model_report(bundle, bundle.manifest_hash, datetime.now(UTC).date().isoformat())[0]

shown = st.selectbox("Preview", ["the whole report", *SECTION_IDS], key="report_section",
                     format_func=lambda s: s if s == "the whole report" else s.replace("_", " ").capitalize())
if shown != "the whole report":  # the page's head (its styles) with that one section
    head = html.split("<body", 1)[0]
    found = re.search(rf'<section id="{shown}">.*?</section>', html, flags=re.S)
    preview = f"{head}<body>{found.group(0) if found else ''}</body></html>"
else:
    preview = html
components.html(preview, height=900, scrolling=True)
