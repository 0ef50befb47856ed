"""Command-line face of riskcore: ``python -m riskcore COMMAND``.

:func:`main` catches :class:`~riskcore.errors.RiskcoreError` and prints its
message without a traceback; the exit status is the error class's
``exit_status``, the same for the same problem on every command (the table is
in :mod:`riskcore.errors`):

====  =======================================================================
exit  meaning
====  =======================================================================
0     success (a clean check, every row scored, an intact audit trail)
1     the command ran and found problems: rows rejected, a failing check, a
      failed monitoring alert, a failed promotion gate, an altered audit trail
2     the input cannot be used: unusable file, missing required column,
      invalid values (and argparse's usage errors)
3     a setting or option has an invalid value
4     no model to score with, or its bundle is missing or altered
5     training stopped by a failing leakage check
6     the audit trail or the experiment store is unavailable
130   interrupted
====  =======================================================================
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from riskcore.cli.audit import add_audit_parser
from riskcore.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROBLEMS,
    add_role_options,
    cluster_from_args,
    costs_from_args,
    engine_arguments,
    roles_from_args,
    say,
)
from riskcore.cli.jobs import add_jobs_parsers
from riskcore.cli.models import add_models_parser
from riskcore.cli.provisions import add_provisions_parser
from riskcore.cli.report import add_report_parser
from riskcore.cli.users import add_users_parser
from riskcore.config import TrainingConfig, parse_candidates, set_thread_defaults
from riskcore.errors import RiskcoreError
from riskcore.progress import TextProgress
from riskcore.workbench import Dataset, Delivery, Workbench

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PROBLEMS", "main"]

_EPILOG = """exit statuses: 0 success; 1 the command ran and found problems (rows rejected, a failing
check, a failed alert or promotion gate, an altered audit trail); 2 the input cannot be used (unusable file,
missing required column, invalid values); 3 a setting or option is invalid; 4 no model, or its bundle
is missing or altered; 5 training stopped by a leakage check; 6 the audit trail or the experiment store
is unavailable."""


# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------

def cmd_demo_data(args: argparse.Namespace) -> int:
    """Generate the demo portfolio and write it with its manifest; with ``--later-years``, the later years too.

    The later years go next to the file as ``<stem>.later.csv`` (the portfolio scored
    later, without outcomes, with its year-on-year features computed on the whole
    history) and ``<stem>.later_outcomes.csv`` (id, year, outcome and true PD), and their
    planted changes into the manifest.
    """
    demo = Workbench().demo_data(args.out, companies=args.companies, seed=args.seed,
                                 default_rate=args.default_rate, later_years=args.later_years)
    m = demo.manifest
    say(f"Wrote {demo.portfolio} ({m.n_rows:,} rows, {m.n_companies:,} companies, fiscal years "
        f"{m.first_year}–{m.last_year})")
    say(f"  default rate: {m.default_rate:.2%} (target {m.default_rate_target:.2%}); stress year {m.stress_year}")
    say(f"  oracle AUC (true PD vs outcomes): {m.oracle_auc:.3f} overall, {m.oracle_auc_latest:.3f} "
           "in the latest two years")
    say(f"  injected: {len(m.esg_missing):,} rows without ESG, {len(m.outliers)} outliers, "
           f"{len(m.impossible)} impossible values, {len(m.duplicates)} duplicate rows")
    if demo.later is not None:
        say(f"Wrote {demo.later} ({demo.later_rows:,} rows, fiscal years {m.later_first_year}–"
               f"{m.later_last_year}, default rate {m.later_default_rate:.2%}) and its outcomes {demo.later_outcomes}")
        for change in demo.changes:
            say(f"  from {change['year']} ({change['kind']}): {change['change']}")
    say(f"  manifest: {demo.manifest_path}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """Print the data-quality report and, with a target, the split and the leakage checks.

    The checks are the workbench's (``Workbench.check``), so this command and the
    dashboard's data-quality page give the same findings for the same file.
    """
    bench = Workbench()
    dataset = bench.load(args.data, roles_from_args(args), sheet=args.sheet)
    check = bench.check(dataset)
    say(f"File: {args.data} — {dataset.describe()}")
    say(check.report.to_text())
    if not check.has_target:
        say("No target column: leakage checks need one (--target COL).")
    elif check.skipped is not None or check.split is None or check.leakage is None:
        say(f"Leakage checks skipped: {check.skipped}")
    else:
        split = check.split
        say(f"Split: {split.mode.replace('_', '-')} — train {len(split.train):,}, validation "
               f"{len(split.validation):,}, test {len(split.test):,} rows"
               + (f" ({split.note})" if split.note else ""))
        say(check.leakage.to_text())
        say("  (check (a), preprocessing fitted on training rows only, runs during training)")
    for note in check.notes:
        if not note.startswith("No split or leakage checks") and note != getattr(check.split, "note", None):
            say(f"Note: {note}")
    return EXIT_PROBLEMS if check.has_problems else EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    """Train, evaluate and register a model; print the summary; write metrics.json."""
    bench = Workbench()
    # the settings first: a bad riskcore.toml is the error a user sees, before anything about the data
    costs = costs_from_args(args, bench.settings.costs)
    overrides: dict[str, object] = {"allow_leaks": args.allow_leaks, "smote": args.smote, "monotone": args.monotone}
    if args.candidates:
        overrides["candidates"] = parse_candidates(args.candidates)
    if args.calibration:
        overrides["calibration"] = args.calibration
    if args.seed is not None:
        overrides["random_state"] = args.seed
    config = TrainingConfig.for_profile("quick" if args.quick else "full", **overrides)
    cluster = cluster_from_args(args)
    roles = roles_from_args(args)
    if cluster is not None:
        files = bench.partitions(args.data)
        dataset = bench.load(files[0], roles)  # on a cluster: the first partition's contract
        say(f"Training on {len(files)} partition(s) of {args.data} on a Dask cluster ({config.profile} profile)")
        data: Any = args.data
    else:
        dataset = data = bench.load(args.data, roles, sheet=args.sheet)
        say(f"Training on {args.data} — {dataset.describe()} ({config.profile} profile)")
    _say_personal_data(bench, dataset)
    result = bench.train(data, roles=roles, config=config, costs=costs,
                         track=not args.no_mlflow, progress=TextProgress(), promote=args.promote, cluster=cluster,
                         sample_rows=args.sample_rows)
    say(result.summary())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text((result.bundle_dir / "metrics.json").read_text(encoding="utf-8"),
                                          encoding="utf-8")
        (out / "summary.txt").write_text(result.summary() + "\n", encoding="utf-8")
        say(f"Wrote {out / 'metrics.json'}")
    return EXIT_OK


def _say_personal_data(bench: Workbench, dataset: Dataset) -> None:
    """Tell, before training, which columns look like personal data and what to do about them."""
    found = bench.personal_data(dataset)
    if found:
        say(f"Personal data: {len(found)} column(s) look like it:")
    for p in found:
        say(f"  {'WARNING ' if p.role in ('feature', 'id') else ''}{p.column!r} ({p.role}): {p.message}")


def cmd_score(args: argparse.Namespace) -> int:
    """Score a file; record every score in the audit trail; then write scored rows and rejects."""
    bench = Workbench()
    bundle = bench.open_model(args.model)
    # fail closed: the output appears only once every score is on record
    job = bench.score(bundle, args.input, output=args.output, rejects=args.rejects, sheet=args.sheet,
                      explain=args.explain, progress=TextProgress(), cluster=cluster_from_args(args))
    say(job.summary())
    wrote = f"Wrote {job.output}" + (f" and {job.rejects_path}" if job.rejects_path else "")
    say(f"{wrote}; audit request {job.request_id}")
    if args.timings:
        timings = {k: round(v, 3) for k, v in job.timings.items()}
        for part in getattr(job, "partitions", ()):  # on a cluster: each worker's own peak memory, in MB
            key = f"worker_peak_mb:{part.worker}"
            timings[key] = max(timings.get(key, 0.0), round(part.peak_rss_bytes / 2**20, 1))
        print("timings: " + json.dumps(timings), file=sys.stderr, flush=True)
    return EXIT_PROBLEMS if job.n_rejected else EXIT_OK


def cmd_monitor(args: argparse.Namespace) -> int:
    """Monitor a later portfolio against the model's reference profile; write monitor.json; exit 1 on a failed alert."""
    bench = Workbench()
    bundle = bench.open_model(args.model)
    run = bench.monitor(bundle, None if args.from_audit else args.data, out=args.out, outcomes=args.outcomes,
                        period=args.period, positive=args.positive, sheet=args.sheet, since=args.since,
                        until=args.until, track=not args.no_mlflow, progress=TextProgress(),
                        cluster=cluster_from_args(args))
    say(run.summary())
    say(f"Wrote {run.written}" + (f"; monitoring run {run.run_id}" if run.run_id else ""))
    if run.retrain_job:
        say(f"A failing alert named in [retraining] on_alert queued the retraining loop as job {run.retrain_job} "
            f"(python -m riskcore jobs status {run.retrain_job})")
    if run.deliveries:
        _say_deliveries(bench, run.deliveries)
    if args.timings:
        print("timings: " + json.dumps({k: round(v, 3) for k, v in run.timings.items()}), file=sys.stderr,
              flush=True)
    return EXIT_PROBLEMS if run.report.failed else EXIT_OK


def _say_deliveries(bench: Workbench, planned: Sequence[Delivery]) -> None:
    """Wait (at most ``[alerts.delivery] wait_seconds``) for the alerts being delivered, then say how each went."""
    done = bench.wait_for_deliveries()
    try:
        found = {d.id: d for d in bench.deliveries(ids=[d.id for d in planned])}
    except RiskcoreError:
        found = {}
    say("Alerts delivered:" if done else "Alerts delivered (those still being tried stay pending; a worker sends "
        "them):")
    for d in planned:
        d = found.get(d.id, d)
        rule = d.notice.get("rule") or d.kind
        outcome = {"sent": f"sent ({d.attempts} attempt{'s' if d.attempts > 1 else ''})",
                   "failed": f"FAILED: {d.error}", "repeat": "not sent again (sent within [alerts.delivery] "
                                                              "repeat_hours)",
                   "pending": "still being tried"}.get(d.state, d.state)
        say(f"  {d.severity:<5} {rule} -> {d.target}: {outcome}")


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="python -m riskcore", description="riskcore — credit-risk workbench",
                                     epilog=_EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo-data", help="generate the known-truth demo portfolio")
    p.add_argument("--companies", type=int, default=5000, help="number of companies (default 5000)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--default-rate", type=float, default=0.06, help="target default rate (default 0.06)")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument("--later-years", type=int, default=0, choices=range(21), metavar="N",
                   help="also write N fiscal years after the training years, with planted changes to monitor "
                        "(0-20, default 0)")
    p.set_defaults(func=cmd_demo_data)

    p = sub.add_parser("check", help="data-quality report and leakage checks of a file")
    p.add_argument("--data", required=True, help="CSV, Excel (.xlsx) or Parquet file to check")
    p.add_argument("--sheet", help="the Excel sheet to read (default: the first)")
    add_role_options(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("train", help="train, evaluate and register a model")
    p.add_argument("--data", required=True, help="CSV, Excel (.xlsx) or Parquet file with a binary target")
    p.add_argument("--sheet", help="the Excel sheet to read (default: the first)")
    add_role_options(p)
    p.add_argument("--quick", action="store_true", help="quick profile (two candidates, small search)")
    p.add_argument("--candidates", metavar="KIND[,KIND…]",
                   help="train only these model kinds: logistic, lightgbm, xgboost, hist_gb, random_forest, "
                        "scorecard (points), ensemble (comma-separated; default: the profile's)")
    p.add_argument("--out", help="folder to write metrics.json and summary.txt to")
    p.add_argument("--allow-leaks", action="store_true", help="continue when a leakage check fails")
    p.add_argument("--calibration", choices=["isotonic", "platt"], help="calibration method (default isotonic)")
    p.add_argument("--smote", action="store_true", help="oversample defaults in training folds (SMOTE)")
    p.add_argument("--seed", type=int, help="random seed (default 7)")
    p.add_argument("--cost-fn", type=float, help="cost of a missed default (default 50,000)")
    p.add_argument("--cost-fp", type=float, help="cost of a false alarm (default 10,000)")
    p.add_argument("--cost-mode", choices=["fixed", "exposure"], help="exposure: a missed default costs LGD × exposure")
    p.add_argument("--lgd", type=float, help="loss given default for exposure mode (default 0.45)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--promote", dest="promote", action="store_true", default=None,
                   help="make the new model the champion (default: only when there is none)")
    g.add_argument("--no-promote", dest="promote", action="store_false")
    p.add_argument("--monotone", action="store_true",
                   help="constrain the boosted models to the schema's declared risk directions (higher leverage "
                        "never lowers the PD, …); the model report shows what it cost in AUC")
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow or register the model")
    engine_arguments(p, "--data is then a file, folder or glob of CSV/Parquet partitions, each holding whole "
                        "companies; XGBoost trains on every training row, the quality report, leakage checks and "
                        "search on a stratified sample (--sample-rows)")
    p.add_argument("--sample-rows", type=int, default=200_000,
                   help="with --engine dask: rows of the stratified sample the checks and the search use")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("score", help="score a portfolio file; every score goes to the audit trail")
    p.add_argument("--model", default="champion", help="a bundle folder, or 'champion' (default)")
    p.add_argument("--input", required=True, help="CSV, Excel (.xlsx) or Parquet file to score")
    p.add_argument("--sheet", help="the Excel sheet to read (default: the first)")
    p.add_argument("--output", required=True,
                   help="file for the scored rows: .parquet writes Parquet, anything else CSV")
    p.add_argument("--rejects", help="file for rows that could not be scored (default: next to --output)")
    p.add_argument("--explain", action="store_true", help="add reason codes to referred companies")
    p.add_argument("--timings", action="store_true",
                   help="print the seconds spent reading, scoring, recording and writing (one JSON line on stderr)")
    engine_arguments(p, "--input is then a file, folder or glob of CSV/Parquet partitions and --output a folder "
                         "of Parquet partitions with _rejects.csv and _manifest.json")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("monitor", help="drift, back-test and alerts of a portfolio scored after training")
    p.add_argument("--model", default="champion",
                   help="a model version (e.g. lightgbm-20261201T101500Z), a bundle folder, or 'champion' (default)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--data", help="the later portfolio: CSV, Excel (.xlsx) or Parquet (scored and recorded first)")
    g.add_argument("--from-audit", action="store_true",
                   help="monitor the scores the model already gave, from the audit trail (see --since, --until)")
    p.add_argument("--since", help="with --from-audit: scores recorded from this date or time (UTC), e.g. 2026-10-01")
    p.add_argument("--until", help="with --from-audit: scores recorded before this date or time (UTC)")
    p.add_argument("--sheet", help="the Excel sheet to read (default: the first)")
    p.add_argument("--outcomes", help="file with company id, period and outcome (0/1), once they arrived")
    p.add_argument("--positive", help="the outcome label that means default, when it is not 0/1")
    p.add_argument("--period", help="the column naming each row's period (default: the model's time column)")
    p.add_argument("--out", required=True, help="folder to write monitor.json and summary.txt to")
    engine_arguments(p, "--data is then a file, folder or glob of CSV/Parquet partitions, counted on the cluster")
    p.add_argument("--no-mlflow", action="store_true", help="do not log the monitoring run to MLflow")
    p.add_argument("--timings", action="store_true",
                   help="print the seconds spent reading, scoring, recording, monitoring (one JSON line on stderr)")
    p.set_defaults(func=cmd_monitor)

    add_models_parser(sub)
    add_jobs_parsers(sub)
    add_report_parser(sub)
    add_provisions_parser(sub)
    add_users_parser(sub)

    add_audit_parser(sub)
    return parser


def _fail(err: RiskcoreError) -> int:
    """Print an error the user can fix, without a traceback; its class decides the exit status."""
    print(f"error: {err}", file=sys.stderr)
    return err.exit_status


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status.

    A :class:`~riskcore.errors.RiskcoreError` is printed without a traceback and
    exits with its class's ``exit_status``; any other exception is a bug and
    surfaces as one.
    """
    set_thread_defaults()
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "against_trail", False) and not args.export:
        parser.error("audit verify --against-trail compares an export with the trail: name it with --export DIR")
    if getattr(args, "from_audit", False) and getattr(args, "models_command", None) == "compare" and not args.outcomes:
        parser.error("models compare --from-audit compares the shadow history with the outcomes observed since: "
                     "pass them with --outcomes FILE (company id, period, outcome)")
    try:
        return int(args.func(args))
    except RiskcoreError as err:
        return _fail(err)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
