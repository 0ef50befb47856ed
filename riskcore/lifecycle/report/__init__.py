"""The model documentation report: one self-contained HTML file a model-risk reviewer can read and sign.

:func:`build_report` gathers every fact of one model version as plain data (a
:class:`Report`), :func:`render_report` writes it as HTML and :func:`write_report`
writes ``model-report-<version>.html``. The sections answer the headings of supervisory
model-risk guidance (purpose and use, data, methodology, conceptual soundness,
outcomes analysis, limitations, ongoing monitoring), in this order and under these
anchor ids: :data:`SECTION_IDS`.

How it is built, bottom to top (each module imports only those above it in this list)::

    facts       Report, Performance, History: plain data
    findings    the limitations' sentences, from the findings
    gather      build_report: the facts of one version
    markup      Numbers, cell, table, note, figure: HTML building blocks
    section     Section: anchor id, title, body
    sections/   one module per section, each a Section named SECTION
    page        the page around the sections: style, header, contents
    document    SECTIONS (the list), render_report, write_report
    pdf         html_to_pdf: the same HTML printed as PDF
    store       ReportStore: written sections and files kept on disk by what made them

Where the numbers come from, so a validator can check them:

- every headline number is read from the bundle's ``metrics.json`` and marked in the
  HTML with its path there (``<data class="m" data-key="test.auc">``);
- the per-grade back-test repeats ``reference.json``'s test grades (with the traffic
  light of :func:`riskcore.evaluation.backtest.grade_backtest`); the curves, the
  baseline's KS, the periods' AUCs and the missing-value pattern are computed from
  the bundle's own scored hold-out rows (``holdout.parquet``) with the functions the
  dashboard's evaluation pages use (:mod:`riskcore.evaluation.report`);
- the run's parameters come from its MLflow run, the versions from the model
  registry and the champion's moves from the audit trail's ledger, when they are given.

Nothing is refitted or rescored. A block a version does not hold (a bundle trained
before riskcore measured directions or sensitivities) is reported as not recorded.
The same inputs give the same bytes apart from the one line that holds the generation time.
:class:`ReportStore` keeps the written sections that read the bundle only, and each report's
HTML and PDF, on disk under a digest of what made them (:func:`report_key`), so the dashboard
opens a report written once at once, in any process, and writes the same bytes when it writes.
"""

from riskcore.lifecycle.report.document import REPORT_FORMATS, SECTION_IDS, SECTIONS, render_report, write_report
from riskcore.lifecycle.report.facts import History, Performance, Report
from riskcore.lifecycle.report.gather import build_report, gather_history
from riskcore.lifecycle.report.markup import NOT_RECORDED
from riskcore.lifecycle.report.pdf import NO_PDF_ENGINE, html_to_pdf
from riskcore.lifecycle.report.section import Section
from riskcore.lifecycle.report.store import REPORT_CACHE, ReportFiles, ReportStore, report_key

__all__ = ["NOT_RECORDED", "NO_PDF_ENGINE", "REPORT_CACHE", "REPORT_FORMATS", "SECTIONS", "SECTION_IDS", "History",
           "Performance", "Report", "ReportFiles", "ReportStore", "Section", "build_report", "gather_history",
           "html_to_pdf", "render_report", "report_key", "write_report"]
