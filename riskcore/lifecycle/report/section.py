"""One section of the model report: a stable anchor id, a title, and the function that writes its body.

Each section lives in its own module of :mod:`riskcore.lifecycle.report.sections` as a
:class:`Section` named ``SECTION``; :data:`riskcore.lifecycle.report.document.SECTIONS` lists
them in order, and the page renderer walks that list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, esc

__all__ = ["Section", "SectionBody"]

SectionBody = Callable[[Report, Numbers], str]
"""Writes a section's body from the report's facts and the ``metrics.json`` numbers (HTML, no heading)."""


@dataclass(frozen=True)
class Section:
    """A section of the report.

    Attributes
    ----------
    id : str
        The anchor id (``<section id="…">``), stable across versions of riskcore: links and tests use it.
    title : str
        The heading, numbered as the section's place in the report (``1. Purpose and use``).
    body : callable
        ``body(report, numbers) -> str``, the section's HTML under its heading.
    bundle_only : bool
        The body reads only what the bundle holds (its spec, ``metrics.json``, importances and scored hold-out
        rows), never the settings, the registry, the ledger or the generation time, so it is the same in every
        report of one bundle; :class:`riskcore.lifecycle.report.store.ReportStore` keeps it by the bundle's
        manifest hash.
    """

    id: str
    title: str
    body: SectionBody
    bundle_only: bool = False

    def html(self, report: Report, numbers: Numbers) -> str:
        """The section as ``<section id="…">`` with its heading and body."""
        return f'<section id="{esc(self.id)}">\n<h2>{esc(self.title)}</h2>\n{self.body(report, numbers)}\n</section>'
