"""The model report's page: the style, the header with the one generation line, the contents, the sections.

One file that opens anywhere: the style is inline, figures are inline SVG, there is no
script and no reference to another file or address. :func:`page` walks a list of
:class:`~riskcore.lifecycle.report.section.Section` in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, esc
from riskcore.lifecycle.report.section import Section

__all__ = ["page", "section_page"]

_CSS = """
body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;font-size:10.5pt;line-height:1.45;color:#1a1a1a;
max-width:60em;margin:2em auto;padding:0 1.5em}
h1{font-size:18pt;margin-bottom:.2em}h2{font-size:13.5pt;border-bottom:2px solid #1f4e79;padding-bottom:.15em;
margin-top:2em;page-break-after:avoid}h3{font-size:11pt;margin-bottom:.3em;page-break-after:avoid}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:9pt;page-break-inside:auto}
th,td{border:1px solid #c8c8c8;padding:.2em .45em;text-align:left;vertical-align:top}
th{background:#eef2f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr{page-break-inside:avoid}.meta td{border:none;padding:.05em .8em .05em 0}
.note{background:#f6f6f6;border-left:3px solid #7f7f7f;padding:.4em .7em;margin:.6em 0}
.warn{background:#fff4e5;border-left:3px solid #f9a825;padding:.4em .7em;margin:.6em 0}
.bad{color:#c62828;font-weight:bold}.ok{color:#2e7d32}
.light{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.3em;vertical-align:middle}
.green{background:#2e7d32}.amber{background:#f9a825}.red{background:#c62828}
figure{margin:.6em 0 1.2em;page-break-inside:avoid}figure svg{max-width:100%;height:auto}
figcaption{font-size:8.5pt;color:#555}
.sign{border:1px solid #999;padding:.6em 1em;margin:.8em 0;page-break-inside:avoid}
.sign .line{border-bottom:1px solid #333;height:1.8em;margin:.2em 0 .6em}
nav ol{columns:2;font-size:9.5pt}data.m,data.r{font-variant-numeric:tabular-nums}
@media print{body{margin:0;max-width:none}nav{display:none}}
"""


def _header(report: Report) -> str:
    """Title, identification of the version, and the one line that holds the generation time."""
    m = report.metrics.get("model", {})
    rows = [("Model version", esc(report.version)), ("Kind", esc(m.get("kind", report.info.get("kind", "")))),
            ("Trained", esc(m.get("trained_at", report.info.get("created_at", "")))),
            ("Bundle manifest SHA-256", f"<code>{esc(report.bundle_hash)}</code>"),
            ("Dataset", esc(report.spec.name))]
    meta = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return (f"<header><h1>Model documentation: {esc(report.version)}</h1>\n"
            f'<table class="meta">{meta}</table>\n'
            f'<p class="generated">Generated {esc(report.generated_at)} by riskcore from the model bundle.</p>\n'
            "</header>")


def _toc(sections: Sequence[Section]) -> str:
    """The table of contents, one link per section anchor."""
    items = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in sections)
    return f"<nav><h2>Contents</h2><ol>{items}</ol></nav>"


def _head(report: Report) -> str:
    """The document's start: its head with the inline style, and the opening of its body."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>Model documentation {esc(report.version)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n")


def page(report: Report, sections: Sequence[Section], written: Mapping[str, str] | None = None) -> str:
    """The whole document: head and style, header, contents, then each section in the order given.

    Parameters
    ----------
    report : the facts.
    sections : the sections to write, in order (:data:`riskcore.lifecycle.report.document.SECTIONS`).
    written : sections already written for these facts, by id (``Section.html`` of each); the others are
        written here.

    Returns
    -------
    str
        One self-contained HTML document.
    """
    numbers = Numbers(report.metrics)
    done = written or {}
    body = [done[s.id] if s.id in done else s.html(report, numbers) for s in sections]
    return (_head(report) + _header(report) + "\n" + _toc(sections) + "\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def section_page(report: Report, section_html: str) -> str:
    """One written section alone in the report's page (its style, no header and no contents), for a preview."""
    return _head(report) + section_html + "\n</body>\n</html>\n"
