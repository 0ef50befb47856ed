"""Durable jobs on the dashboard: a large upload scored by a worker, the retraining loop, their progress and files.

An upload over ``[jobs] inline_max_mb`` is stored and queued (``Workbench.submit_upload``) instead of being
scored in the page's run; the page remembers the job by the upload's file id in the session, so a rerun finds
it again instead of submitting it twice. While a job is queued or running, a fragment re-reads it every
:data:`POLL_S` seconds (only the fragment reruns, the rest of the page stays as it is); once it has ended, the
whole page reruns once and draws the ended job without polling: its counts and downloads (a file is read when
its button is clicked, not before), its error in words, or that it was cancelled. Everything shown is read from
the job queue in the database, so a reload, a closed tab or another browser loses nothing: the lists read it
again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import streamlit as st

from dashboard import auth, state, tables, widgets
from riskcore.config import RetrainingRules
from riskcore.errors import RiskcoreError
from riskcore.workbench import Job

# seconds between two looks at a queued or running job
POLL_S: Final = 1.0
# session state: the upload's file id → the id of the job it was submitted as
SUBMITTED: Final = "score_jobs"
# how many of the person's scoring jobs "Your recent jobs" lists
RECENT: Final = 10
# a job's state as markdown (Streamlit's own icon font, so it shows in any browser)
STATES: Final = {"queued": ":orange[:material/hourglass_empty: queued]", "running": ":blue[:material/sync: running]",
                 "succeeded": ":green[:material/check_circle: succeeded]", "failed": ":red[:material/error: failed]",
                 "cancelled": ":gray[:material/cancel: cancelled]"}
_MIME: Final = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def when(ts: float) -> str:
    """A job's time (UTC seconds) as ``2025-01-31 14:05 UTC``, or ``—`` when not yet."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "—"


# ---------------------------------------------------------------- the line between scoring here and a job

def inline_max_mb() -> float:
    """The largest upload scored in the page's run (``[jobs] inline_max_mb``); a larger one becomes a job."""
    return float(state.settings().jobs.inline_max_mb)


def runs_as_job(size: int) -> bool:
    """Whether an upload of ``size`` bytes is submitted as a job rather than scored in the page's run."""
    return size > inline_max_mb() * 1_000_000


def size_text(size: int) -> str:
    """A file's size in words: ``73 KB``, ``12.4 MB``."""
    return f"{size / 1e6:,.1f} MB" if size >= 1_000_000 else f"{max(size / 1e3, 1):,.0f} KB"


def line_text() -> str:
    """Where the line between scoring here and scoring as a job is, and why."""
    return (f"Files up to {inline_max_mb():g} MB are scored here, inside the page, in a few seconds. A larger file "
            "is queued as a job and scored by a worker process, so the page and your session stay free while it "
            "runs, and closing the tab loses nothing: the job and its files wait for you under *Your recent jobs* "
            f"(files are kept {state.settings().jobs.keep_hours:g} h after the job ends).")


def submit_once(upload: Any, *, model_version: str, lgd: float, caller: str) -> str:
    """The id of the job an upload was submitted as: submitted on its first run, found again on every rerun.

    ``upload`` is the file uploader's value (its ``file_id`` names it in the session). A new upload, even of the
    same bytes, is a new job.

    Raises
    ------
    riskcore.errors.RiskcoreError
        When the file cannot be stored as a job (not a CSV, Excel or Parquet file; over ``[jobs]
        upload_max_mb``) or the job queue cannot be written. Nothing is remembered then.
    """
    submitted: dict[str, str] = st.session_state.setdefault(SUBMITTED, {})
    job_id = submitted.get(upload.file_id)
    if job_id is None:
        upload.seek(0)
        job = state.bench().submit_upload(upload, caller=caller, face="dashboard", name=upload.name,
                                          model=model_version, lgd=lgd)
        submitted[upload.file_id] = job_id = job.id
    return job_id


# ---------------------------------------------------------------- one job, in words

def heading(job: Job) -> str:
    """The job's first line: what it is, its state, when it was submitted."""
    what = job.params.get("name") or ("the retraining loop" if job.kind == "retrain" else "a portfolio")
    return f"**{what}** · {STATES.get(job.state, job.state)} · submitted {when(job.created)} · job `{job.id}`"


def progress_text(job: Job) -> str:
    """Where a queued or running job is: the step and, for scoring, the rows read, scored and rejected."""
    if job.state == "queued":
        return "queued: waiting for a worker"
    pr = job.progress
    text = str(pr.get("message") or "starting")
    if "rows_read" in pr:
        text += (f" · {int(pr.get('rows_read', 0)):,} rows read, {int(pr.get('rows_scored', 0)):,} scored, "
                 f"{int(pr.get('rows_rejected', 0)):,} rejected")
    if job.cancel_requested:
        text += " · stopping at its next step (cancelled)"
    return text


def score_counts(job: Job) -> str:
    """A succeeded scoring job's counts in one line."""
    r = job.result
    return (f"Scored {int(r.get('scored', 0)):,} of {int(r.get('rows', 0)):,} rows, {int(r.get('rejected', 0)):,} "
            f"rejected, {int(r.get('refer', 0)):,} referred for review · model {r.get('model_version')} · audit "
            f"request {r.get('request_id')} · {float(r.get('seconds', 0)):.1f} s · ended {when(job.finished)}")


def _waiting_note(job: Job) -> None:
    """A queued job with no worker of this dashboard to run it: say that one must run."""
    if job.state != "queued":
        return
    if state.settings().jobs.dashboard_workers == 0:
        st.info("This dashboard starts no worker of its own (`[jobs] dashboard_workers` is 0), so the job waits "
                "until one runs: start `python -m riskcore worker` on a machine that reaches the same database.",
                icon=":material/hourglass_empty:")
    elif state.workers().alive() == 0:
        st.warning("The dashboard's workers are not running, so the job waits: restart the dashboard, or start "
                   "`python -m riskcore worker` on a machine that reaches the same database.",
                   icon=":material/hourglass_empty:")


def _progress(job: Job) -> None:
    """The job's heading and progress bar, what it waits for, and a Cancel button."""
    st.markdown(heading(job))
    fraction = 0.0 if job.state == "queued" else float(job.progress.get("fraction", 0.0))
    st.progress(min(max(fraction, 0.0), 1.0), text=progress_text(job))
    _waiting_note(job)


def _cancel_button(job: Job, key: str) -> None:
    """Cancel a queued job now, or ask a running one to stop at its next step (it then records nothing)."""
    if st.button("Cancel the job", key=f"{key}_cancel_{job.id}", icon=":material/cancel:",
                 disabled=job.cancel_requested):
        try:
            state.bench().cancel_job(job.id)
        except RiskcoreError as err:
            widgets.show_error(err)
            return
        st.rerun()


def _read(job: Job, which: str) -> Path | None:
    """The path of a job's file, or ``None`` after saying why it is not there."""
    try:
        return state.bench().job_file(job, which)
    except RiskcoreError as err:
        st.caption(str(err))
        return None


def _bytes_of(path: Path) -> Any:
    """The bytes of a job's file, read when its download button is clicked."""
    def read() -> bytes:
        try:
            return path.read_bytes()
        except OSError:
            return b"This file is no longer there: reload the page to see why.\n"

    return read


def downloads(job: Job, key: str) -> None:
    """Download buttons for a succeeded scoring job's scored rows and reject report."""
    stem = Path(str(job.params.get("name") or "portfolio")).stem
    fmt = str(job.result.get("format") or job.params.get("format") or "csv")
    left, right = st.columns(2)
    with left:
        path = _read(job, "result")
        if path is not None:
            st.download_button("Download the scored rows", _bytes_of(path), file_name=f"{stem}-scored.{fmt}",
                               mime=_MIME.get(fmt, "application/octet-stream"), key=f"{key}_result_{job.id}",
                               on_click="ignore", icon=":material/download:")
    with right:
        if not int(job.result.get("rejected", 0)):
            st.caption("Every row could be scored: there is no reject report.")
        else:
            path = _read(job, "rejects")
            if path is not None:
                st.download_button("Download the reject report", _bytes_of(path), file_name=f"{stem}-rejects.csv",
                                   mime="text/csv", key=f"{key}_rejects_{job.id}", on_click="ignore",
                                   icon=":material/download:")


# ---------------------------------------------------------------- a scoring job: live, then ended

def _read_job(job_id: str, gone: str) -> Job | None:
    """The job as stored now; ``None`` (having said why: the queue cannot be read, or ``gone``) when there is none."""
    try:
        job = state.bench().job(job_id)
    except RiskcoreError as err:
        widgets.show_error(err)
        return None
    if job is None:
        st.warning(gone)
    return job


@st.fragment(run_every=POLL_S)
def _live_score_job(job_id: str, key: str) -> None:
    """A queued or running scoring job, re-read every few seconds; the whole page reruns once it has ended."""
    job = _read_job(job_id, f"Job {job_id} is no longer in the job queue.")
    if job is None:
        return
    if job.done:
        st.rerun()
    _progress(job)
    _cancel_button(job, key)


def _ended(job: Job, key: str, *, metrics: bool) -> None:
    """What an ended scoring job gave: counts and downloads, its error in words, or that it was cancelled."""
    if job.state == "succeeded":
        r = job.result
        if metrics:
            a, b, c, d = st.columns(4)
            scored = int(r.get("scored", 0))
            a.metric("Rows read", f"{int(r.get('rows', 0)):,}")
            b.metric("Scored", f"{scored:,}")
            c.metric("Rejected", f"{int(r.get('rejected', 0)):,}")
            d.metric("Referred for review", f"{int(r.get('refer', 0)):,}",
                     widgets.pct(int(r.get("refer", 0)) / max(scored, 1)), delta_color="off")
        st.caption(score_counts(job))
        for note in (r.get("notes") or [])[:5]:
            st.caption(f"Note: {note}")
        downloads(job, key)
    elif job.state == "failed":
        st.error(f"The job failed: {job.error}", icon=":material/error:")
    else:
        st.info("The job was cancelled: nothing was scored, recorded in the audit trail or kept.",
                icon=":material/cancel:")


def follow_score_job(job_id: str) -> None:
    """The job a large upload was submitted as: live while it is queued or running, then what it gave."""
    job = _read_job(job_id, f"Job {job_id} is no longer in the job queue; upload the file again to score it.")
    if job is None:
        return
    with st.container(border=True):
        if job.done:
            st.markdown(heading(job))
            _ended(job, "job", metrics=True)
        else:
            _live_score_job(job.id, "job")


def recent_score_jobs(caller: str) -> None:
    """The person's newest scoring jobs, read from the job queue (so they are here after a reload)."""
    st.subheader("Your recent jobs")
    try:
        found = state.bench().jobs(caller=caller, kind="score", limit=RECENT)
    except RiskcoreError as err:
        widgets.show_error(err)
        return
    if not found:
        st.caption(f"No jobs yet. A file over {inline_max_mb():g} MB is scored as a job and listed here, where it "
                   "stays after a reload.")
        return
    st.caption(f"Your newest scoring jobs ({len(found)}), from the job queue: they are here after a reload or in "
               f"another browser, and their files are kept {state.settings().jobs.keep_hours:g} h after they end.")
    for job in found:
        with st.container(border=True):
            if job.done:
                st.markdown(heading(job))
                _ended(job, "recent", metrics=False)
            else:
                _live_score_job(job.id, "recent")


# ---------------------------------------------------------------- the retraining loop

def retraining_lines(rules: RetrainingRules) -> list[str]:
    """What ``[retraining]`` is set to, in words: the data, the schedule, the alerts that start it, the decision."""
    data = (f"**Data**: `{rules.data}` (a file, or a folder of partitions read as one table)." if rules.data else
            "**Data**: not set, so the loop has nothing to train on: set `[retraining] data` in riskcore.toml to a "
            "file or a folder of partitions.")
    schedule = (f"**Schedule**: `{rules.schedule}` (cron `{rules.cron}`, UTC), run by the workers; a missed run is "
                "run once when a worker next starts." if rules.cron else
                "**Schedule**: none; the loop runs when started here, by `python -m riskcore retrain`, or on an alert.")
    alerts = (f"**On alert**: a monitoring run failing {', '.join(f'`{r}`' for r in rules.on_alert)} starts a run."
              if rules.on_alert else "**On alert**: no monitoring alert starts a run.")
    promote = ("**Auto-promote**: on; a challenger that passes the promotion gate is promoted by the loop, on "
               "record in the model ledger." if rules.auto_promote else
               "**Auto-promote**: off; a challenger that passes the gate waits for a validator's signature of its "
               "report and an admin's promotion.")
    profile = (f"**Profile**: `{rules.profile}`." if rules.profile else
               "**Profile**: the champion's recorded training settings.")
    return [data, schedule, alerts, promote, profile]


def _submit_retrain(caller: str) -> None:
    """Queue a run of the loop (one at a time: a run already waiting or running is not queued twice)."""
    bench = state.bench()
    try:
        waiting = {j.id for j in bench.jobs(kind="retrain", limit=5) if not j.done}
        job = bench.submit_retrain(caller=caller, trigger="dashboard")
    except RiskcoreError as err:
        widgets.show_error(err)
        return
    if job.id in waiting:
        st.info(f"A run of the retraining loop is already {job.state} (job `{job.id}`); it was not queued twice.")
    else:
        st.success(f"Queued the retraining loop as job `{job.id}`.", icon=":material/autorenew:")


@st.fragment(run_every=POLL_S)
def _live_retrain(job_id: str) -> None:
    """The newest run of the loop while it is queued or running; the page reruns when it has ended."""
    try:
        job = state.bench().job(job_id)
    except RiskcoreError as err:
        widgets.show_error(err)
        return
    if job is None:
        return
    if job.done:
        state.clear_model_caches()  # a challenger may be registered, or promoted
        st.rerun()
    _progress(job)


def retraining_panel() -> None:
    """The loop's settings in words, its Run button for who may train, the newest run live, and every run."""
    rules = state.settings().retraining
    st.markdown("Trains a challenger on the newest data with the champion's configuration, compares it with the "
                "champion through the promotion gate, writes its model report and decides, on record in the model "
                "ledger. It runs on a worker, so the page stays free.")
    st.markdown("\n".join(f"- {line}" for line in retraining_lines(rules)))
    if auth.allowed("start_training"):
        clicked = st.button("Run the retraining loop", key="retrain_start", type="primary",
                            icon=":material/autorenew:", disabled=not rules.data,
                            help=None if rules.data else "Set [retraining] data in riskcore.toml first.")
        if clicked:
            who = auth.check("start_training")
            if who is not None:
                _submit_retrain(who.caller)
    try:
        found = state.bench().jobs(kind="retrain", limit=20)
    except RiskcoreError as err:
        widgets.show_error(err)
        return
    if not found:
        st.caption("No run of the retraining loop yet.")
        return
    if not found[0].done:
        _live_retrain(found[0].id)
    st.dataframe(tables.retrain_jobs_table(found), hide_index=True, width="stretch",
                 column_config={"submitted": st.column_config.DatetimeColumn("submitted (UTC)",
                                                                             format="YYYY-MM-DD HH:mm"),
                                "ended": st.column_config.DatetimeColumn("ended (UTC)", format="YYYY-MM-DD HH:mm")})


def retraining_active() -> bool:
    """Whether a run of the loop is queued or running (the page opens its section then)."""
    try:
        found = state.bench().jobs(kind="retrain", limit=1)
    except RiskcoreError:
        return False
    return bool(found) and not found[0].done
