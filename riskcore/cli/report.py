"""``python -m riskcore report``: the model documentation pack of one version, HTML and PDF."""

from __future__ import annotations

import argparse
from pathlib import Path

from riskcore.cli.common import EXIT_OK, bundle_from_arg, say

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
    from riskcore.config import load_settings
    from riskcore.errors import RiskcoreError
    from riskcore.lifecycle.report import build_report, html_to_pdf, render_report, write_report
    from riskcore.modelling.tracking import Tracker
    from riskcore.serving.audit import AuditLog

    settings = load_settings()
    bundle = bundle_from_arg(args.model, settings)
    audit = None
    try:  # the history section reads the ledger when there is one; the report is still written without it
        audit = AuditLog.from_settings(settings)
    except RiskcoreError as err:
        say(f"note: the audit trail cannot be read ({err}); the history section shows the registry only")
    report = build_report(bundle, settings=settings, tracker=Tracker.from_settings(settings), audit=audit)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = write_report(report, out, ("html",)) if "html" in args.format else []
    if "pdf" in args.format:
        written.append(html_to_pdf(render_report(report), out / f"model-report-{bundle.version}.pdf"))
    for path in written:
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
