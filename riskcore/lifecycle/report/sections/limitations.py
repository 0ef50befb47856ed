"""Section 9, limitations: one item per finding of the checks, the metrics and the data."""

from __future__ import annotations

from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, esc
from riskcore.lifecycle.report.section import Section

__all__ = ["SECTION", "limitations_section"]


def limitations_section(report: Report, n: Numbers) -> str:
    """Section 9: one item per finding of the checks, the metrics and the data."""
    if not report.limitations:
        return "<p>The recorded checks found no limitation beyond those of any statistical model.</p>"
    return ("<p>Written from this version's findings:</p><ol>"
            + "".join(f"<li>{esc(x)}</li>" for x in report.limitations) + "</ol>")


SECTION = Section("limitations", "9. Limitations", limitations_section)
