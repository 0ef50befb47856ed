"""Portfolio scoring — upload a file, get a PD, grade and decision per company, with a reject report.

A small file is scored in the page's run; one over ``[jobs] inline_max_mb`` is scored as a job by a worker
(:mod:`dashboard.jobs`), followed live, and listed with the person's recent jobs.
"""

from pathlib import Path

import streamlit as st

from dashboard import auth, charts, jobs, state, tables, widgets
from riskcore.errors import RiskcoreError
from riskcore.evaluation import MASTER_SCALE, expected_loss_by_segment, master_scale_frame

person = auth.require_page("portfolio_scoring")
state.workers()  # this server's worker processes, which score the large files, started once

ASSETS = Path(__file__).resolve().parent.parent / "assets"

bundle = state.model_bundle()
spec = bundle.spec
lgd = state.costs(bundle).lgd
st.title("Portfolio scoring")
st.caption(f"Scores every valid row with the model in use ({bundle.version}) — the same scoring as the command "
           "line and the API — and records each score in the audit trail. Rows that cannot be scored go to the "
           f"reject report with what to fix. Decisions use the model's cut-off ({widgets.pct(bundle.threshold)}), "
           "the one the command line and the API apply.")

a, b, c = st.columns(3)
a.download_button("Template (columns only)", (ASSETS / "portfolio_template.csv").read_bytes(),
                  file_name="portfolio_template.csv", mime="text/csv", key="template", on_click="ignore",
                  icon=":material/download:")
b.download_button("Sample portfolio", (ASSETS / "sample_portfolio.csv").read_bytes(),
                  file_name="sample_portfolio.csv", mime="text/csv", key="sample", on_click="ignore",
                  icon=":material/download:")
with c.popover("Master scale", icon=":material/table:"):
    st.dataframe(master_scale_frame(), hide_index=True,
                 column_config={"pd_from": st.column_config.NumberColumn(format="percent"),
                                "pd_to": st.column_config.NumberColumn(format="percent")})

upload = st.file_uploader("Portfolio file: CSV (comma, semicolon or tab separated), Excel .xlsx (first sheet) or "
                          "Parquet; any column order, up to a million rows",
                          type=["csv", "txt", "tsv", "xlsx", "parquet"], key="score_upload")
st.caption(jobs.line_text())


def _score_here(upload) -> None:
    """Score a small upload in the page's run (once per upload) and show every scored row."""
    try:
        result, request_id = state.scored_upload(bundle, bundle.version, upload.file_id, upload.getvalue(), lgd,
                                                 person.caller)
    except RiskcoreError as err:
        widgets.show_error(err)
        return

    scores = result.scores
    refer = int((scores["decision"] == "refer").sum())
    a, b, c, d = st.columns(4)
    a.metric("Rows read", f"{result.n_rows:,}")
    b.metric("Scored", f"{result.n_scored:,}")
    c.metric("Rejected", f"{result.n_rejected:,}")
    d.metric("Referred for review", f"{refer:,}", widgets.pct(refer / max(result.n_scored, 1)), delta_color="off")
    if result.info is not None:
        st.caption(f"Read as {result.info.describe()}. Recorded in the audit trail as request {request_id}.")
    for note in result.notes:
        st.caption(f"Note: {note}")

    scored_tab, rejects_tab, portfolio_tab = st.tabs([f"Scored rows ({result.n_scored:,})",
                                                      f"Reject report ({result.n_rejected:,})", "Portfolio"])
    with scored_tab:
        left, right = st.columns(2)
        grades = left.multiselect("Grades", [g.name for g in MASTER_SCALE], key="score_grades",
                                  placeholder="all grades")
        decisions = right.multiselect("Decisions", ["accept", "refer"], key="score_decisions",
                                      placeholder="all decisions")
        shown = tables.filter_scores(scores, grades=grades, decisions=decisions)
        if "p_default_ttc" in scores:
            st.caption("This model grades through the cycle: grade and risk level follow the through-the-cycle PD, "
                       "decisions the point-in-time PD.")
        widgets.big_table(shown, "scored rows", downloadable=True, hide_index=True, width="stretch",
                          column_config={"p_default": st.column_config.NumberColumn("PD", format="percent"),
                                         "p_default_ttc": st.column_config.NumberColumn("PD through the cycle",
                                                                                        format="percent"),
                                         "grade_pit": st.column_config.TextColumn("grade point-in-time"),
                                         "score_raw": st.column_config.NumberColumn(format="%.3f"),
                                         "expected_loss": st.column_config.NumberColumn("expected loss",
                                                                                         format="localized", step=1)})
        widgets.csv_download(f"Download {len(shown):,} scored rows", shown, "scored_portfolio.csv",
                             key="download_scores")

    with rejects_tab:
        if result.n_rejected:
            widgets.big_table(widgets.readable(result.rejects), "rejects", downloadable=True, hide_index=True,
                              width="stretch")
            widgets.csv_download("Download the reject report", result.rejects, "rejects.csv", key="download_rejects")
        else:
            st.success("Every row could be scored.")

    with portfolio_tab:
        if result.n_scored:
            left, right = st.columns(2)
            levels = {g.name: g.level for g in MASTER_SCALE}
            left.plotly_chart(charts.grade_distribution(result.grade_distribution(), levels), width="stretch",
                              key="score_grades_chart")
            if spec.segment and spec.exposure and spec.exposure in result.inputs:
                el = expected_loss_by_segment(tables.scored_portfolio(result, spec), segment=spec.segment,
                                              exposure=spec.exposure, lgd=lgd)
                right.plotly_chart(charts.expected_loss_by_segment(el), width="stretch", key="score_el_chart")
                right.caption(f"Total expected loss {widgets.money(float(el['expected_loss'].sum()))} at an LGD of "
                              f"{lgd:.0%}.")


def _score_as_job(upload) -> None:
    """Submit a large upload as a job (once per upload) and follow it."""
    try:
        job_id = jobs.submit_once(upload, model_version=bundle.version, lgd=lgd, caller=person.caller)
    except RiskcoreError as err:
        widgets.show_error(err)
        return
    st.info(f"{upload.name} is {jobs.size_text(upload.size)}, over the {jobs.inline_max_mb():g} MB scored here, so "
            "a worker scores it as a job. You may leave the page meanwhile: the job goes on, and it waits for you "
            "under *Your recent jobs*.", icon=":material/schedule:")
    jobs.follow_score_job(job_id)


if upload is None:
    st.info("Upload a file to score it. The sample above is ready to try; the template lists the columns "
            f"({len(spec.feature_names)} features, of which the required ones must be filled).")
elif auth.check("score_upload") is not None:
    if jobs.runs_as_job(upload.size):
        _score_as_job(upload)
    else:
        _score_here(upload)

st.divider()
jobs.recent_score_jobs(person.caller)
