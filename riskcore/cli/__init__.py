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
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskcore.errors import RiskcoreError

if TYPE_CHECKING:
    from riskcore.config import Costs, Settings
    from riskcore.data.schema import DatasetSpec
    from riskcore.data.tabular import Table

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PROBLEMS", "main"]

from riskcore.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS, bundle_from_arg, engine_arguments, say
from riskcore.cli.models import add_models_parser
from riskcore.cli.report import add_report_parser
from riskcore.cli.users import add_users_parser

_EPILOG = """exit statuses: 0 success; 1 the command ran and found problems (rows rejected, a failing
check, a failed alert or promotion gate, an altered audit trail); 2 the input cannot be used (unusable file,
missing required column, invalid values); 3 a setting or option is invalid; 4 no model, or its bundle
is missing or altered; 5 training stopped by a leakage check; 6 the audit trail or the experiment store
is unavailable."""


# ---------------------------------------------------------------------------
# helpers shared by commands
# ---------------------------------------------------------------------------

def _add_role_options(p: argparse.ArgumentParser, *, target_default: str | None = None) -> None:
    p.add_argument("--target", default=target_default,
                   help="the 0/1 (or two-label) outcome column; the demo layout is recognised without it")
    p.add_argument("--positive", help="the target label that means default, when it is not 0/1 or true/false")
    p.add_argument("--id", dest="id_col", help="company id column (default: the row number)")
    p.add_argument("--time", dest="time_col", help="fiscal year or date column (enables the out-of-time split)")
    p.add_argument("--segment", help="segment column used for breakdowns (e.g. sector)")
    p.add_argument("--exposure", help="exposure-at-default column (money)")
    p.add_argument("--drop", nargs="*", default=[], metavar="COL", help="columns to leave out of the features")


def load_with_spec(path: str, args: argparse.Namespace) -> tuple[Table, DatasetSpec]:
    """Read a data file and decide its spec: the demo layout when recognised, else inferred from the options."""
    from riskcore.data.infer import extend_spec, infer_spec
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.data.tabular import normalise_name, read_table

    table = read_table(path, sheet=getattr(args, "sheet", None))
    cols = {normalise_name(c) for c in table.frame.columns}
    demo_cols = {normalise_name(c) for c in (*DEMO_SPEC.feature_names, DEMO_SPEC.id or "", DEMO_SPEC.time or "")}
    explicit = any(getattr(args, a, None) for a in ("target", "id_col", "time_col", "segment", "exposure"))
    if demo_cols <= cols and (not explicit or args.target in (None, DEMO_SPEC.target)):
        spec = extend_spec(DEMO_SPEC, table.frame, decimal=table.info.decimal)
        if args.drop:
            spec = spec.without_features(tuple(args.drop))
        return table, spec
    spec = infer_spec(table.frame, target=args.target, id=args.id_col, time=args.time_col, segment=args.segment,
                      exposure=args.exposure, positive=args.positive, drop=tuple(args.drop or ()),
                      decimal=table.info.decimal)
    return table, spec


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
    from riskcore.data.synth import generate_portfolio
    from riskcore.data.tabular import write_csv

    portfolio = generate_portfolio(args.companies, seed=args.seed, default_rate=args.default_rate,
                                   later_years=args.later_years)
    out = Path(args.out)
    write_csv(portfolio.frame, out)
    manifest_path = out.with_name(out.name + ".manifest.json")
    manifest_path.write_text(portfolio.manifest.to_json(), encoding="utf-8")
    m = portfolio.manifest
    say(f"Wrote {out} ({m.n_rows:,} rows, {m.n_companies:,} companies, fiscal years {m.first_year}–{m.last_year})")
    say(f"  default rate: {m.default_rate:.2%} (target {m.default_rate_target:.2%}); stress year {m.stress_year}")
    say(f"  oracle AUC (true PD vs outcomes): {m.oracle_auc:.3f} overall, {m.oracle_auc_latest:.3f} "
           "in the latest two years")
    say(f"  injected: {len(m.esg_missing):,} rows without ESG, {len(m.outliers)} outliers, "
           f"{len(m.impossible)} impossible values, {len(m.duplicates)} duplicate rows")
    if portfolio.later is not None:
        later_path = out.with_name(out.stem + ".later.csv")
        outcomes_path = out.with_name(out.stem + ".later_outcomes.csv")
        from riskcore.modelling.features import with_history_features

        # the later file carries its year-on-year features, as a lender's export would (see with_history_features)
        write_csv(with_history_features(portfolio.frame, portfolio.later.frame, portfolio.spec), later_path)
        write_csv(portfolio.later.outcomes, outcomes_path)
        say(f"Wrote {later_path} ({len(portfolio.later.frame):,} rows, fiscal years {m.later_first_year}–"
               f"{m.later_last_year}, default rate {m.later_default_rate:.2%}) and its outcomes {outcomes_path}")
        for change in portfolio.later.changes:
            say(f"  from {change['year']} ({change['kind']}): {change['change']}")
    say(f"  manifest: {manifest_path}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """Print the data-quality report and, with a target, the split and the leakage checks.

    The checks are :func:`riskcore.workflows.check_file`'s, so this command and the
    dashboard's data-quality page give the same findings for the same file.
    """
    from riskcore.workflows import check_file

    table, spec = load_with_spec(args.data, args)
    check = check_file(table, spec, positive=args.positive, drop=args.drop)
    say(f"File: {args.data} — {table.info.describe()}")
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


def _costs_from_args(args: argparse.Namespace, settings: Settings) -> Costs:
    """The settings' costs with the command's --cost-fn, --cost-fp, --lgd and --cost-mode applied."""
    from dataclasses import replace

    costs = settings.costs
    changes = {k: v for k, v in (("fn", args.cost_fn), ("fp", args.cost_fp), ("lgd", args.lgd),
                                  ("mode", args.cost_mode)) if v is not None}
    return replace(costs, **changes) if changes else costs


def cmd_train(args: argparse.Namespace) -> int:
    """Train, evaluate and register a model; print the summary; write metrics.json."""
    from riskcore.config import TrainingConfig, load_settings, parse_candidates
    from riskcore.modelling.tracking import Tracker
    from riskcore.progress import TextProgress
    from riskcore.workflows import default_caller, train_file

    settings = load_settings()
    files = None
    if args.engine == "dask":
        from riskcore.serving.cluster import partition_files

        files = partition_files(args.data)
    table, spec = load_with_spec(str(files[0]) if files else args.data, args)  # on a cluster: the first partition's
    overrides: dict[str, object] = {"allow_leaks": args.allow_leaks, "smote": args.smote, "monotone": args.monotone}
    if args.candidates:
        overrides["candidates"] = parse_candidates(args.candidates)
    if args.calibration:
        overrides["calibration"] = args.calibration
    if args.seed is not None:
        overrides["random_state"] = args.seed
    config = TrainingConfig.for_profile("quick" if args.quick else "full", **overrides)
    tracker = None if args.no_mlflow else Tracker.from_settings(settings)
    if files:
        from riskcore.modelling.cluster_train import train_on_cluster
        from riskcore.serving.cluster import cluster_failures, open_cluster

        say(f"Training on {len(files)} partition(s) of {args.data} on a Dask cluster ({config.profile} profile)")
        with open_cluster(args.scheduler, args.workers) as client, \
                cluster_failures("training on the cluster", "no model was saved or registered"):
            result = train_on_cluster(files, spec, client=client, config=config,
                                      costs=_costs_from_args(args, settings), models_dir=settings.models_dir,
                                      tracker=tracker, progress=TextProgress(), positive=args.positive,
                                      promote=args.promote, source=str(Path(args.data).resolve()),
                                      sample_rows=args.sample_rows, trained_by=default_caller("cli"))
    else:
        say(f"Training on {args.data} — {table.info.describe()} ({config.profile} profile)")
        result = train_file(table, spec, settings=settings, config=config, costs=_costs_from_args(args, settings),
                            tracker=tracker, progress=TextProgress(), positive=args.positive, promote=args.promote,
                            source=str(Path(args.data).resolve()), trained_by=default_caller("cli"))
    say(result.summary())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text((result.bundle_dir / "metrics.json").read_text(encoding="utf-8"),
                                          encoding="utf-8")
        (out / "summary.txt").write_text(result.summary() + "\n", encoding="utf-8")
        say(f"Wrote {out / 'metrics.json'}")
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    """Score a file; record every score in the audit trail; then write scored rows and rejects."""
    import json

    from riskcore.config import load_settings
    from riskcore.progress import TextProgress
    from riskcore.serving.audit import AuditLog
    from riskcore.workflows import score_and_record

    settings = load_settings()
    bundle = bundle_from_arg(args.model, settings)
    audit = AuditLog.from_settings(settings)
    # fail closed: the output appears only once every score is on record
    if args.engine == "dask":
        job = _score_on_cluster(args, bundle, audit, settings)
    else:
        job = score_and_record(bundle, args.input, audit=audit, face="cli", output=args.output,
                               rejects_path=args.rejects, sheet=args.sheet, risk_bands=settings.risk_bands,
                               explain=args.explain, progress=TextProgress())
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


def _score_on_cluster(args: argparse.Namespace, bundle: Any, audit: Any, settings: Any) -> Any:
    """``score --engine dask``: partitions scored by a Dask cluster (``--scheduler``, or ``--workers`` local ones)."""
    from riskcore.progress import TextProgress
    from riskcore.serving.batch import FileRequest
    from riskcore.serving.cluster import open_cluster
    from riskcore.serving.distributed import score_partitions
    from riskcore.workflows import default_caller

    request = FileRequest(face="cli", caller=default_caller("cli"), risk_bands=settings.risk_bands,
                          explain=args.explain, progress=TextProgress())
    with open_cluster(args.scheduler, args.workers) as client:
        return score_partitions(bundle, args.input, args.output, client=client, audit=audit, request=request)


def cmd_monitor(args: argparse.Namespace) -> int:
    """Monitor a later portfolio against the model's reference profile; write monitor.json; exit 1 on a failed alert."""
    import json

    from riskcore.config import load_settings
    from riskcore.lifecycle import monitor_audit, monitor_file, record_monitoring
    from riskcore.modelling.tracking import Tracker
    from riskcore.progress import TextProgress
    from riskcore.serving.audit import AuditLog

    settings = load_settings()
    bundle = bundle_from_arg(args.model, settings)
    audit = AuditLog.from_settings(settings)
    out = Path(args.out)
    if args.from_audit:
        run = monitor_audit(bundle, audit, since=args.since, until=args.until, outcomes=args.outcomes,
                            period=args.period, rules=settings.alerts, positive=args.positive)
    elif args.engine == "dask":
        from riskcore.serving.cluster import open_cluster

        with open_cluster(args.scheduler, args.workers) as client:
            run = monitor_file(bundle, args.data, audit=audit, face="cli", outcomes=args.outcomes,
                               period=args.period, rules=settings.alerts, positive=args.positive,
                               rejects_path=out / "rejects.csv", progress=TextProgress(), client=client)
    else:
        run = monitor_file(bundle, args.data, audit=audit, face="cli", outcomes=args.outcomes, period=args.period,
                           rules=settings.alerts, sheet=args.sheet, positive=args.positive,
                           rejects_path=out / "rejects.csv", progress=TextProgress())
    tracker = None if args.no_mlflow else Tracker.from_settings(settings)
    record_monitoring(run, bundle, out=out, tracker=tracker)
    say(run.summary())
    say(f"Wrote {run.written}" + (f"; monitoring run {run.run_id}" if run.run_id else ""))
    if args.timings:
        print("timings: " + json.dumps({k: round(v, 3) for k, v in run.timings.items()}), file=sys.stderr,
              flush=True)
    return EXIT_PROBLEMS if run.report.failed else EXIT_OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Verify the audit trail's hash chain; name the first altered row."""
    from riskcore.config import load_settings
    from riskcore.serving.audit import AuditLog

    settings = load_settings()
    result = AuditLog(args.url or settings.resolved_audit_url).verify()
    say(result.message)
    return EXIT_OK if result.ok else EXIT_PROBLEMS


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
    _add_role_options(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("train", help="train, evaluate and register a model")
    p.add_argument("--data", required=True, help="CSV, Excel (.xlsx) or Parquet file with a binary target")
    p.add_argument("--sheet", help="the Excel sheet to read (default: the first)")
    _add_role_options(p)
    p.add_argument("--quick", action="store_true", help="quick profile (two candidates, small search)")
    p.add_argument("--candidates", metavar="KIND[,KIND…]",
                   help="train only these model kinds: logistic, lightgbm, xgboost, hist_gb, random_forest, "
                        "ensemble (comma-separated; default: the profile's)")
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
    add_report_parser(sub)
    add_users_parser(sub)

    p = sub.add_parser("audit", help="the audit trail")
    audit_sub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    v = audit_sub.add_parser("verify", help="verify the hash chain; name the first altered row")
    v.add_argument("--url", help="audit database URL (default: the settings')")
    v.set_defaults(func=cmd_audit_verify)
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
    from riskcore.config import set_thread_defaults

    set_thread_defaults()
    parser = build_parser()
    args = parser.parse_args(argv)
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
