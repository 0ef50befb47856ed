"""Section 5, conceptual soundness: the leakage checklist with its evidence and the declared directions checked."""

from __future__ import annotations

from riskcore.lifecycle import report_figures as figures
from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, cell, esc, figure, missing_note, note, num, table
from riskcore.lifecycle.report.section import Section

__all__ = ["SECTION", "soundness_section"]

_STATUS = {"pass": "ok", "warn": "", "fail": "bad"}
_SIGN = {1: "↑ raises PD", -1: "↓ lowers PD", 0: "flat"}


def _leakage(n: Numbers) -> str:
    """The leakage checklist with its evidence."""
    rows = [[cell(f.get("check", "").replace("_", " ")),
             f'<td class="{_STATUS.get(f.get("status", ""), "")}">{esc(f.get("status", ""))}</td>',
             cell(f.get("detail", "")), cell(", ".join(f.get("columns") or []))] for f in n.get("leakage") or []]
    if not rows:
        return missing_note("The leakage checklist")
    return table(["Check", "Status", "Evidence", "Columns"], rows)


def _direction_rows(n: Numbers) -> list[list[str]]:
    """One row per declared-direction feature of the soundness block."""
    rows = []
    for i, f in enumerate(n.get("soundness.features") or []):
        key = f"soundness.features.{i}"
        verdict = '<td class="ok">agrees</td>' if f.get("agrees") else '<td class="bad">contradicts</td>'
        rows.append([cell(f.get("label") or f.get("name")), cell(f.get("family", "")),
                     cell(_SIGN.get(int(f.get("declared", 0)), "")), cell(_SIGN.get(int(f.get("measured", 0)), "")),
                     num(n, f"{key}.spearman", "signed"), num(n, f"{key}.pd_low", "pct2"),
                     num(n, f"{key}.pd_high", "pct2"), num(n, f"{key}.ice_agree_share", "pct"), verdict])
    return rows


def _directions(report: Report, n: Numbers) -> str:
    """Declared against measured directions, disagreements flagged, with the partial-dependence curves."""
    block = n.get("soundness")
    declared = [f.name for f in report.spec.all_features if f.direction]
    if not block:
        return (f"<p>The schema declares an expected direction for {len(declared)} features.</p>"
                + missing_note("The model's directions measured by partial dependence"))
    features = block.get("features") or []
    parts = [f"<p>Method: {esc(block.get('method', ''))}; grid of {n('soundness.grid_resolution', 'int')} values "
             f"per feature on {n('soundness.rows', 'int')} validation rows. A flat curve is not a contradiction.</p>"]
    disagreements = block.get("disagreements") or []
    if disagreements:
        parts.append(note(f"{len(disagreements)} feature(s) go against their declared direction: "
                          f"{', '.join(disagreements)}. A reviewer should see why before the model is used.", "warn"))
    else:
        parts.append(note(f"All {len(features)} measured features agree with their declared direction or are flat."))
    parts.append(table(["Feature", "Family", "Declared", "Measured", "Spearman", "PD at lowest", "PD at highest",
                        "ICE curves agreeing", ""], _direction_rows(n)))
    skipped = block.get("skipped") or []
    if skipped:
        parts.append("<p>Not measured: " + "; ".join(f"{esc(s.get('name'))} ({esc(s.get('reason', ''))})"
                                                    for s in skipped) + ".</p>")
    if features:
        parts.append(figure(figures.soundness_svg(features),
                             "Average PD (partial dependence) over each feature's grid; ↑/↓ the declared direction, "
                             "red with ✗ where the model contradicts it."))
    return "\n".join(parts)


def soundness_section(report: Report, n: Numbers) -> str:
    """Section 5: the leakage checklist with evidence and the declared directions checked."""
    return "\n".join(["<h3>Leakage checklist</h3>", _leakage(n), "<h3>Expected directions</h3>",
                      _directions(report, n)])


SECTION = Section("soundness", "5. Conceptual soundness", soundness_section, bundle_only=True)
