"""The HTML building blocks the report's sections share: numbers, cells, tables, notes, figures.

Every headline number is written by :class:`Numbers`, which reads it from
``metrics.json`` by its path and marks it ``<data class="m" value="<repr>" data-key="<path>">``,
so a reader (or a test) can trace it back. Figures are inline SVG
(:mod:`riskcore.lifecycle.report_figures`) wrapped by :func:`figure`. The page around the
sections is :mod:`riskcore.lifecycle.report.page`; the sections are :mod:`riskcore.lifecycle.report.sections`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["NOT_RECORDED", "Numbers", "cell", "esc", "figure", "fmt_number", "missing_note", "note", "num", "table"]

NOT_RECORDED = "not recorded for this version (trained before riskcore measured it); retrain to get it"

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


def missing_note(what: str) -> str:
    """A note that ``what`` was not recorded for this version (``<what>: not recorded …; retrain to get it.``)."""
    return note(f"{what}: {NOT_RECORDED}.")


def num(numbers: Numbers, key: str, style: str = "f3") -> str:
    """A right-aligned table cell holding the marked number at ``key`` (see :class:`Numbers`)."""
    return f'<td class="n">{numbers(key, style)}</td>'


def figure(svg: str, caption: str) -> str:
    """An inline SVG figure with its caption (escaped)."""
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"
