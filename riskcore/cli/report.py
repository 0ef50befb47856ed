"""``python -m riskcore report``: the model documentation pack of one version, HTML and PDF."""

from __future__ import annotations

import argparse

from riskcore.cli.common import EXIT_OK, say
from riskcore.errors import RiskcoreError
from riskcore.workbench import Workbench

__all__ = ["add_report_parser"]

FORMATS = ("html", "pdf")


def _formats(text: str) -> tuple[str, ...]:
    """``html,pdf`` as a tuple; argparse answers a usage error (exit 2) for anything else."""
    found = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in found if f not in FORMATS]
    if not found or unknown:
        raise argparse.ArgumentTypeError(f"choose html, pdf or html,pdf (not {text!r})")
    return found


def cmd_report(args: argparse.Namespace) -> int:
    """Write the model report of one version (its facts from the bundle, the MLflow run and the ledger)."""
    bench = Workbench()
    bundle = bench.open_model(args.model)
    audit = None
    try:  # the history section reads the ledger when there is one; the report is still written without it
        audit = bench.audit
    except RiskcoreError as err:
        say(f"note: the audit trail cannot be read ({err}); the history section shows the registry only")
    report = bench.report(bundle, audit=audit)
    for path in bench.write_report(report, args.out, args.format):
        say(f"Wrote {path}")
    return EXIT_OK


def add_report_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``report`` command."""
    p = sub.add_parser("report", help="the model documentation pack a model-risk reviewer signs (HTML, PDF)")
    p.add_argument("--model", default="champion",
                   help="a model version (e.g. lightgbm-20261201T101500Z), a bundle folder, or 'champion' (default)")
    p.add_argument("--out", required=True, help="folder to write model-report-VERSION.html / .pdf to")
    p.add_argument("--format", type=_formats, default=("html",), help="html (default), pdf, or html,pdf")
    p.set_defaults(func=cmd_report)
