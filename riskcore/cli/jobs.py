"""``python -m riskcore jobs …``, ``worker`` and ``retrain``: long work as durable jobs, and the retraining loop."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riskcore.cli.common import EXIT_OK, EXIT_PROBLEMS, say
from riskcore.errors import ConfigError, DataFileError
from riskcore.progress import TextProgress
from riskcore.workbench import Job, Workbench, Worker, default_caller

__all__ = ["add_jobs_parsers", "describe_job"]


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "—"


def describe_job(job: Job) -> str:
    """A job in a few lines: state, progress or result, error."""
    lines = [f"job {job.id}  {job.kind}  {job.state}  submitted {_when(job.created)} by {job.caller}"]
    if job.params.get("name"):
        lines.append(f"  input: {job.params['name']}")
    if job.state == "running":
        pr = job.progress
        counts = (f"; {pr.get('rows_read', 0):,} rows read, {pr.get('rows_scored', 0):,} scored, "
                  f"{pr.get('rows_rejected', 0):,} rejected" if "rows_read" in pr else "")
        lines.append(f"  {float(pr.get('fraction', 0)):.0%} {pr.get('message', '')}{counts} (attempt {job.attempts} "
                     f"of {job.max_attempts}, worker {job.worker})")
    if job.state == "succeeded":
        r = job.result
        if job.kind == "score":
            lines.append(f"  scored {r.get('scored', 0):,} of {r.get('rows', 0):,} rows, {r.get('rejected', 0):,} "
                         f"rejected, {r.get('refer', 0):,} to review; audit request {r.get('request_id')}; model "
                         f"{r.get('model_version')}; {r.get('seconds', 0):.1f} s")
        else:
            lines.append(f"  {str(r.get('decision', '')).replace('_', ' ')}: {r.get('reason', '')}")
            if r.get("challenger"):
                lines.append(f"  challenger {r['challenger']} against champion {r.get('champion')}; gate "
                             f"{'passed' if r.get('gate_passed') else 'failed'}; report {r.get('report') or '—'}")
        if r.get("files_deleted"):
            lines.append(f"  files deleted {_when(float(r['files_deleted']))}: {r.get('files_deleted_reason')}")
    if job.state == "failed":
        lines.append(f"  error: {job.error}")
    if job.finished:
        lines.append(f"  ended {_when(job.finished)}")
    return "\n".join(lines)


def _found(bench: Workbench, job_id: str) -> Job:
    job = bench.job(job_id) if len(job_id) == 32 else None
    if job is None:
        raise DataFileError(f"there is no job {job_id!r}; python -m riskcore jobs list shows them")
    return job


def cmd_jobs_submit(args: argparse.Namespace) -> int:
    """Store a portfolio as a job's upload and queue it; with --wait, follow it to its end."""
    bench = Workbench()
    if not Path(args.file).is_file():
        raise DataFileError(f"no such file: {args.file!r}. Check the path and try again.")
    job = bench.submit_upload(args.file, caller=default_caller("cli"), face="cli", name=Path(args.file).name,
                              result_format=args.format, model=args.model, sheet=args.sheet, explain=args.explain,
                              lgd=args.lgd)
    say(f"Queued job {job.id}; follow it with python -m riskcore jobs status {job.id}")
    return _wait(bench, job) if args.wait else EXIT_OK


def _wait(bench: Workbench, job: Job) -> int:
    bar = TextProgress()
    while not job.done:
        time.sleep(0.5)
        job = _found(bench, job.id)
        if job.state == "running":
            bar(float(job.progress.get("fraction", 0.0)), str(job.progress.get("message", "")))
        elif job.state == "queued":
            bar(0.0, "queued: waiting for a worker (python -m riskcore worker)")
    say(describe_job(job))
    return EXIT_OK if job.state == "succeeded" else EXIT_PROBLEMS


def cmd_jobs_status(args: argparse.Namespace) -> int:
    """A job's state, progress and result; with --wait, follow it to its end."""
    bench = Workbench()
    job = _found(bench, args.id)
    if args.wait:
        return _wait(bench, job)
    say(json.dumps(_as_dict(job), indent=2) if args.json else describe_job(job))
    return EXIT_OK


def _as_dict(job: Job) -> dict[str, Any]:
    return {k: getattr(job, k) for k in ("id", "kind", "caller", "state", "params", "progress", "result", "error",
                                          "attempts", "max_attempts", "created", "started", "finished")}


def cmd_jobs_result(args: argparse.Namespace) -> int:
    """Copy a succeeded job's scored rows (or its reject report) to a file."""
    bench = Workbench()
    job = _found(bench, args.id)
    path = bench.job_file(job, "rejects" if args.rejects else "result")
    out = Path(args.out) if args.out else Path.cwd()
    if out.is_dir():
        out = out / f"{job.id}-{path.name}"
    try:
        shutil.copyfile(path, out)
    except OSError as err:
        raise DataFileError(f"cannot write {str(out)!r}: {err.strerror or err}") from None
    say(f"Wrote {out}")
    return EXIT_OK


def cmd_jobs_cancel(args: argparse.Namespace) -> int:
    """Cancel a queued job at once, or ask a running one to stop (nothing it did is recorded or kept)."""
    bench = Workbench()
    job = _found(bench, args.id)
    if job.done:
        say(f"job {job.id} has already ended ({job.state}); nothing to cancel")
        return EXIT_PROBLEMS
    job = bench.cancel_job(job.id) or job
    say(f"job {job.id}: {'cancelled' if job.state == 'cancelled' else 'asked to stop at its next step'}")
    return EXIT_OK


def cmd_jobs_list(args: argparse.Namespace) -> int:
    """The newest jobs first (yours, or everyone's with --all)."""
    bench = Workbench()
    jobs = bench.jobs(caller=None if args.all else default_caller("cli"), kind=args.kind, limit=args.limit)
    if not jobs:
        say("No jobs yet: python -m riskcore jobs submit FILE queues one.")
        return EXIT_OK
    for job in jobs:
        pr = job.progress
        where = f"{float(pr.get('fraction', 0)):.0%}" if job.state == "running" else ""
        say(f"{job.id}  {job.kind:7s} {job.state:9s} {where:>4s}  {_when(job.created)}  {job.caller}  "
            f"{job.params.get('name') or job.params.get('trigger') or ''}")
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    """Run jobs from the queue until stopped (Ctrl-C or SIGTERM give the running job back to the queue)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    bench = Workbench()
    worker = Worker(bench, name=args.name, kinds=tuple(args.kind) if args.kind else None, parent=args.parent)
    worker.install_signals()
    say(f"worker {worker.name} serving the job queue of {bench.settings.resolved_audit_url.split('://')[0]} "
        f"(poll every {bench.settings.jobs.poll_seconds:g} s)")
    ran = worker.serve(once=args.once)
    say(f"worker {worker.name} stopped after {ran} job(s)")
    return EXIT_OK


def cmd_retrain(args: argparse.Namespace) -> int:
    """Run the retraining loop once now (or queue it with --submit); exit 1 when it stopped or the gate failed."""
    bench = Workbench()
    if args.data is None and not bench.settings.retraining.data:
        raise ConfigError("no data to retrain on: set [retraining] data in riskcore.toml (a file or a folder of "
                          "partitions) or pass --data")
    job = bench.submit_retrain(caller=default_caller("cli"), trigger="command", data=args.data)
    if args.submit:
        say(f"Queued the retraining loop as job {job.id}")
        return EXIT_OK
    worker = Worker(bench, kinds=("retrain",))
    bar = TextProgress()
    while True:
        ran = worker.run_one()
        if ran is None or ran.id == job.id:
            break
        bar(1.0, f"ran queued job {ran.id} first")
    ended = bench.job(job.id) or job
    say(describe_job(ended))
    ok = ended.state == "succeeded" and ended.result.get("decision") in ("promoted", "awaiting_signoff")
    return EXIT_OK if ok else EXIT_PROBLEMS


def add_jobs_parsers(sub: Any) -> None:
    """Add ``jobs``, ``worker`` and ``retrain`` to the command line."""
    p = sub.add_parser("jobs", help="durable jobs: submit a portfolio to be scored, follow it, download it")
    jobs_sub = p.add_subparsers(dest="jobs_command", required=True)
    s = jobs_sub.add_parser("submit", help="store a portfolio (CSV, Excel or Parquet) and queue it to be scored")
    s.add_argument("file")
    s.add_argument("--format", choices=("csv", "parquet"), default="csv", help="the scored rows' format (csv)")
    s.add_argument("--model", default="champion", help="the model version (default: the champion)")
    s.add_argument("--sheet", help="the Excel sheet to read (default the first)")
    s.add_argument("--explain", action="store_true", help="add each row's reason codes")
    s.add_argument("--lgd", type=float, help="loss given default for the expected loss (a share, e.g. 0.45)")
    s.add_argument("--wait", action="store_true", help="follow the job to its end")
    s.set_defaults(func=cmd_jobs_submit)
    s = jobs_sub.add_parser("status", help="a job's state, progress and result")
    s.add_argument("id")
    s.add_argument("--json", action="store_true", help="the job as JSON")
    s.add_argument("--wait", action="store_true", help="follow the job to its end")
    s.set_defaults(func=cmd_jobs_status)
    s = jobs_sub.add_parser("result", help="copy a succeeded job's scored rows (or --rejects) to a file")
    s.add_argument("id")
    s.add_argument("--out", help="the file to write, or a folder to write JOB-scored.csv in (default the current "
                                 "folder)")
    s.add_argument("--rejects", action="store_true", help="the reject report instead of the scored rows")
    s.set_defaults(func=cmd_jobs_result)
    s = jobs_sub.add_parser("cancel", help="cancel a queued or running job")
    s.add_argument("id")
    s.set_defaults(func=cmd_jobs_cancel)
    s = jobs_sub.add_parser("list", help="the newest jobs first")
    s.add_argument("--all", action="store_true", help="everyone's jobs, not only yours")
    s.add_argument("--kind", choices=("score", "retrain"))
    s.add_argument("--limit", type=int, default=20)
    s.set_defaults(func=cmd_jobs_list)

    p = sub.add_parser("worker", help="run jobs from the queue until stopped (scoring, retraining, the schedule)")
    p.add_argument("--name", help="the worker's name on the jobs it runs (default host:pid)")
    p.add_argument("--kind", action="append", choices=("score", "retrain"), help="only these kinds of job")
    p.add_argument("--once", action="store_true", help="stop when the queue is empty")
    p.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # started by a face: stop when it is gone
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("retrain", help="run the retraining loop now: train a challenger, gate it, report, decide")
    p.add_argument("--data", help="the newest data (a file or a folder of partitions; default [retraining] data)")
    p.add_argument("--submit", action="store_true", help="queue it for a worker instead of running it here")
    p.set_defaults(func=cmd_retrain)
