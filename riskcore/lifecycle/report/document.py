"""The model report as a document: its sections in order, rendered to HTML and written to a file.

:data:`SECTIONS` composes the report from its sections, one module each under
:mod:`riskcore.lifecycle.report.sections`, in the order of supervisory model-risk guidance;
:func:`render_report` walks that list through the page (:mod:`riskcore.lifecycle.report.page`);
:func:`write_report` writes ``model-report-<version>.html``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from riskcore.errors import ConfigError
from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.page import page
from riskcore.lifecycle.report.section import Section
from riskcore.lifecycle.report.sections import (
    data,
    features,
    history,
    lifetime,
    limitations,
    methodology,
    monitoring_plan,
    performance,
    purpose,
    sensitivity,
    signoff,
    soundness,
)

__all__ = ["REPORT_FORMATS", "SECTIONS", "SECTION_IDS", "render_report", "write_report"]

SECTIONS: tuple[Section, ...] = (purpose.SECTION, data.SECTION, features.SECTION, methodology.SECTION,
                                 soundness.SECTION, performance.SECTION, sensitivity.SECTION, lifetime.SECTION,
                                 limitations.SECTION, monitoring_plan.SECTION, history.SECTION, signoff.SECTION)
"""The report's sections in order: purpose and use, data, methodology, conceptual soundness, outcomes analysis,
lifetime PD, limitations, ongoing monitoring, history and sign-off."""
SECTION_IDS: tuple[str, ...] = tuple(s.id for s in SECTIONS)
"""The sections' anchor ids, in order (stable: links, the dashboard's preview and the tests use them)."""
REPORT_FORMATS: tuple[str, ...] = ("html", "pdf")


def render_report(report: Report, sections: Sequence[Section] = SECTIONS, *,
                  written: Mapping[str, str] | None = None) -> str:
    """The report as one self-contained HTML document (inline CSS and SVG, no script, no external resource).

    Parameters
    ----------
    report : from :func:`riskcore.lifecycle.report.build_report`.
    sections : the sections to write, in order (default all of :data:`SECTIONS`).
    written : sections already written for these facts, by id (what ``Section.html`` gave); the others are
        written now. The document is the same either way.

    Returns
    -------
    str
        The HTML; the same facts give the same text apart from the one line that holds the generation time.
    """
    return page(report, sections, written)


def write_report(report: Report, out_dir: str | Path, formats: tuple[str, ...] | list[str] = ("html",)) -> list[Path]:
    """Write the report into ``out_dir`` as ``model-report-<version>.html``; returns the files written.

    Parameters
    ----------
    report : from :func:`riskcore.lifecycle.report.build_report`.
    out_dir : the folder (created when missing).
    formats : ``"html"``; ``"pdf"`` is made from the HTML by the command's PDF step, not here.

    Returns
    -------
    list of Path
        The HTML file written.

    Raises
    ------
    ConfigError
        When a format is unknown, or ``"pdf"`` is asked of this function.
    """
    unknown = [f for f in formats if f not in REPORT_FORMATS]
    if unknown:
        raise ConfigError(f"unknown report format(s) {', '.join(map(repr, unknown))}; use "
                          f"{' or '.join(REPORT_FORMATS)} (comma-separated, e.g. 'html,pdf')")
    if "pdf" in formats:
        raise ConfigError("write_report writes the HTML only; make the PDF from it with the report command's "
                          "--format pdf")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"model-report-{report.version}.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_report(report), encoding="utf-8", newline="\n")
    tmp.replace(path)
    return [path]
