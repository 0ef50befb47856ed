"""``python -m riskcore models …``: the registered versions, a challenger against the champion, the ledger."""

from __future__ import annotations

import argparse

from riskcore.cli.common import EXIT_OK, EXIT_PROBLEMS, say
from riskcore.workbench import Workbench, default_caller

__all__ = ["add_models_parser"]


def cmd_models_list(args: argparse.Namespace) -> int:
    """The registered model versions, newest first, the champion marked."""
    versions = Workbench().versions()
    if versions.empty:
        say("No model is registered yet: train one (python -m riskcore train --data FILE).")
        return EXIT_OK
    say(f"{'':2s}{'registry':>8s}  {'model version':40s} {'test AUC':>8s}")
    for row in sorted(versions.itertuples(), key=lambda r: -int(str(r.version))):
        test_auc = row.test_auc
        shown = f"{test_auc:.3f}" if isinstance(test_auc, float) and test_auc == test_auc else "—"
        mark = "*" if row.champion else "-" if row.previous_champion else " "
        say(f"{mark:2s}{row.version:>8s}  {str(row.model_version):40s} {shown:>8s}")
    say("* the champion: the model `score`, the dashboard and the API use; - the previous champion "
           "(models rollback goes back to it)")
    return EXIT_OK


def cmd_models_compare(args: argparse.Namespace) -> int:
    """Compare a challenger with the champion on the same rows; exit 1 when the promotion gate fails."""
    bench = Workbench()
    champion = bench.open_model(args.champion)
    challenger = bench.open_model(args.challenger)
    found = bench.compare(challenger, champion, data=args.data, from_audit=args.from_audit, outcomes=args.outcomes,
                          since=args.since, until=args.until, positive=args.positive)
    say(found.summary())
    if args.out:
        say(f"Wrote {bench.write_comparison(found, args.out)}")
    return EXIT_OK if found.comparison.passed else EXIT_PROBLEMS


def cmd_models_promote(args: argparse.Namespace) -> int:
    """Make a version the champion through the promotion gate; exit 1 when the gate fails without --override."""
    move = Workbench().promote(args.version, reason=args.reason, actor=default_caller("cli"), override=args.override,
                               data=args.data)
    if move.comparison is not None:
        say(move.comparison.summary())
    say(move.message)
    return EXIT_OK if move.moved else EXIT_PROBLEMS


def cmd_models_rollback(args: argparse.Namespace) -> int:
    """Make the previous champion the champion again, on record."""
    say(Workbench().rollback(reason=args.reason, actor=default_caller("cli")).message)
    return EXIT_OK


def cmd_models_history(args: argparse.Namespace) -> int:
    """Every move of the champion, from the ledger in the audit trail."""
    moves = Workbench().history()
    if not moves:
        say("The champion has not been moved yet (the first model trained became it without a ledger entry).")
    for m in moves:
        gate = f" · gate {m.gate_digest[:12]}" if m.gate_digest else ""
        say(f"{m.ts[:19].replace('T', ' ')} UTC  {m.event:8s} {m.from_version or '—'} → {m.to_version}  by "
               f"{m.actor}{gate}\n    {m.reason}")
    return EXIT_OK


def add_models_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``models`` command and its actions."""
    p = sub.add_parser("models", help="the registered model versions: list them, compare a challenger")
    models_sub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    m = models_sub.add_parser("list", help="the registered versions, newest first, the champion marked")
    m.set_defaults(func=cmd_models_list)
    m = models_sub.add_parser("compare", help="a challenger against the champion on the same rows, and the gate")
    m.add_argument("challenger", help="the challenger: a model version, a bundle folder")
    m.add_argument("--champion", default="champion", help="the version to compare with (default: the champion)")
    g = m.add_mutually_exclusive_group()
    g.add_argument("--data", help="a file with the models' columns and the outcome (default: the challenger's "
                                  "test rows, when the champion did not train on their period)")
    g.add_argument("--from-audit", action="store_true", help="compare on the companies the API scored with both "
                                                             "(the challenger in shadow), with --outcomes FILE")
    m.add_argument("--outcomes", help="with --from-audit: file with company id, period and outcome (0/1)")
    m.add_argument("--since", help="with --from-audit: requests recorded from this date or time (UTC)")
    m.add_argument("--until", help="with --from-audit: requests recorded before this date or time (UTC)")
    m.add_argument("--positive", help="the outcome label that means default, when it is not 0/1")
    m.add_argument("--out", help="folder to write comparison.json to")
    m.set_defaults(func=cmd_models_compare)
    m = models_sub.add_parser("promote", help="make a version the champion through the gate, on record")
    m.add_argument("version", help="the model version to promote")
    m.add_argument("--reason", required=True, help="why: it goes into the model ledger")
    m.add_argument("--override", action="store_true",
                   help="promote even when the gate fails or you trained the version (recorded as an override)")
    m.add_argument("--data", help="a file with outcomes to compare on (default: the challenger's test rows)")
    m.set_defaults(func=cmd_models_promote)
    m = models_sub.add_parser("rollback", help="make the previous champion the champion again, on record")
    m.add_argument("--reason", required=True, help="why: it goes into the model ledger")
    m.set_defaults(func=cmd_models_rollback)
    m = models_sub.add_parser("history", help="every move of the champion, from the ledger")
    m.set_defaults(func=cmd_models_history)
