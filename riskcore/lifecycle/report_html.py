"""The model report as HTML: the page, its style and the building blocks its sections share.

One file that opens anywhere: the style is inline, figures are inline SVG
(:mod:`riskcore.lifecycle.report_figures`), there is no script and no reference to
another file or address. Every headline number is written by :class:`Numbers`,
which reads it from ``metrics.json`` by its path and marks it
``<data class="m" value="<repr>" data-key="<path>">``, so a reader (or a test) can
trace it back. The sections themselves are written in :mod:`riskcore.lifecycle.report_sections`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from riskcore.lifecycle.report import Report

__all__ = ["NOT_RECORDED", "Numbers", "cell", "esc", "fmt_number", "note", "page", "table"]

NOT_RECORDED = "not recorded for this version (trained before riskcore measured it); retrain to get it"

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


def esc(value: Any) -> str:
    """Text made safe for HTML (quotes included)."""
    return html.escape(str(value), quote=True)


def fmt_number(value: Any, style: str = "f3") -> str:
    """A number as the report prints it: ``f3`` (3 decimals), ``f4``, ``pct`` (1 decimal), ``pct2``, ``int``, ``money``.

    Anything else than a finite number (None, NaN, text) is a dash.
    """
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    v = float(value)
    if style == "int":
        return f"{v:,.0f}"
    if style == "money":
        return f"{v:,.0f}"
    if style == "pct":
        return f"{v:.1%}"
    if style == "pct2":
        return f"{v:.2%}"
    if style.startswith("f"):
        return f"{v:.{int(style[1:])}f}"
    if style == "signed":
        return f"{v:+.3f}"
    return f"{v:g}"


class Numbers:
    """Writes numbers read from one JSON document by their dotted path, each marked with that path.

    Parameters
    ----------
    data : the document (``metrics.json``, or ``reference.json`` with ``css="r"``).
    css : the class of the ``<data>`` elements: ``m`` for ``metrics.json``.
    prefix : put before each path in ``data-key`` (``reference.`` for the reference's numbers).
    """

    def __init__(self, data: dict[str, Any], css: str = "m", prefix: str = ""):
        self.data, self.css, self.prefix = data, css, prefix

    def get(self, key: str) -> Any:
        """The value at a dotted path (list positions as numbers), or None when it is absent."""
        node: Any = self.data
        for step in key.split("."):
            if isinstance(node, dict) and step in node:
                node = node[step]
            elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
                node = node[int(step)]
            else:
                return None
        return node

    def __call__(self, key: str, style: str = "f3") -> str:
        """The number at ``key``, formatted and marked; a dash when it is absent or not a finite number."""
        value = self.get(key)
        text = fmt_number(value, style)
        if text == "—":
            return text
        return (f'<data class="{self.css}" value="{esc(repr(value))}" data-key="{esc(self.prefix + key)}">'
                f"{esc(text)}</data>")

    def interval(self, key: str, style: str = "f3") -> str:
        """A stored ``[lower, upper]`` pair as ``[a, b]``, both marked."""
        if not isinstance(self.get(key), list):
            return ""
        return f"[{self(f'{key}.0', style)}, {self(f'{key}.1', style)}]"


def cell(value: Any, style: str | None = None) -> str:
    """A table cell: a number formatted with ``style`` (right-aligned), anything else escaped."""
    if style is not None:
        return f'<td class="n">{fmt_number(value, style)}</td>'
    return f"<td>{esc(value)}</td>"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str = "") -> str:
    """An HTML table from headers and rows of ready cells (``<td>…</td>``, see :func:`cell`)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"


def note(text: str, kind: str = "note") -> str:
    """A highlighted paragraph (``note`` or ``warn``), text escaped."""
    return f'<p class="{kind}">{esc(text)}</p>'


def _header(report: Report, numbers: Numbers) -> str:
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


def _toc(titles: Sequence[tuple[str, str]]) -> str:
    """The table of contents, one link per section anchor."""
    items = "".join(f'<li><a href="#{esc(i)}">{esc(t)}</a></li>' for i, t in titles)
    return f"<nav><h2>Contents</h2><ol>{items}</ol></nav>"


def page(report: Report, sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole document around the sections (anchor id, title, body HTML), in their order."""
    numbers = Numbers(report.metrics)
    body = [f'<section id="{esc(sid)}">\n<h2>{esc(title)}</h2>\n{content}\n</section>'
            for sid, title, content in sections]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>Model documentation {esc(report.version)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + _header(report, numbers) + "\n" + _toc([(s, t) for s, t, _ in sections]) + "\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
