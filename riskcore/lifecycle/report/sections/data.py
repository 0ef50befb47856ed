"""Section 2, data: the source and its hash, size, periods, the split's parts, segments and quality findings."""

from __future__ import annotations

from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import NOT_RECORDED, Numbers, cell, esc, note, table
from riskcore.lifecycle.report.section import Section

__all__ = ["SECTION", "data_section"]


def _quality_findings(report: Report, n: Numbers) -> str:
    """The data-quality findings and cleaning the training run recorded."""
    data = n.get("data") or {}
    parts = []
    cleaning = data.get("cleaning") or []
    if cleaning:
        parts.append("<p>Cleaning before training:</p><ul>" + "".join(f"<li>{esc(c)}</li>" for c in cleaning)
                     + "</ul>")
    else:
        parts.append("<p>Cleaning before training: nothing had to be removed or set to missing.</p>")
    findings = data.get("quality")
    if findings is None:
        parts.append(note(f"The data-quality report's findings are {NOT_RECORDED}."))
    elif findings:
        rows = [[cell(f.get("severity", "")), cell(f.get("check", "")), cell(f.get("column") or ""),
                 cell(f.get("count"), "int"), cell(f.get("message", ""))] for f in findings]
        parts.append(table(["Severity", "Check", "Column", "Count", "Finding"], rows))
    else:
        parts.append("<p>The data-quality report found nothing to flag.</p>")
    if report.spec.notes:
        parts.append("<p>Reading the file:</p><ul>" + "".join(f"<li>{esc(x)}</li>" for x in report.spec.notes)
                     + "</ul>")
    return "\n".join(parts)


def _segments(report: Report, n: Numbers) -> str:
    """Rows and default rate per segment in training, and rows and defaults per segment in test."""
    seg = report.spec.segment
    if not seg:
        return "<p>The data set has no segment (sector) column.</p>"
    test = {str(s.get("segment")): i for i, s in enumerate(n.get("segments") or [])}
    train = {str(r.segment): r for r in report.training_segments.itertuples()}
    rows = []
    for name in sorted(set(test) | set(train)):
        t, i = train.get(name), test.get(name)
        rows.append([cell(name), cell(None if t is None else t.rows, "int"),
                     cell(None if t is None else t.default_rate, "pct"),
                     f'<td class="n">{n(f"segments.{i}.rows", "int") if i is not None else "—"}</td>',
                     f'<td class="n">{n(f"segments.{i}.defaults", "int") if i is not None else "—"}</td>'])
    return (f"<p>{esc(report.spec.label(seg))}: training rows (from the bundle's monitoring reference) and default "
            "rate (from its training profile), test rows and defaults (from <code>metrics.json</code>).</p>"
            + table([report.spec.label(seg), "Training rows", "Training default rate", "Test rows", "Test defaults"],
                    rows))


def data_section(report: Report, n: Numbers) -> str:
    """Source and hash, size, periods, the split's parts, sectors and the quality findings."""
    data = n.get("data") or {}
    source = esc(data["source"]) if data.get("source") else "not recorded (the model was trained from data in memory)"
    digest = (f"<code>{esc(data['sha256'])}</code>" if data.get("sha256")
              else f"the file's SHA-256 is {esc(NOT_RECORDED)}.")
    periods = (n.get("split") or {}).get("periods")
    period_text = ("; ".join(f"{esc(k)}: {esc(', '.join(map(str, periods[k])))}"
                             for k in ("train", "validation", "test") if periods.get(k))
                   if periods else "no time column: the rows are not ordered in time")
    summary = (n.get("split") or {}).get("summary") or []
    rows = [[cell(s.get("part")), f'<td class="n">{n(f"split.summary.{i}.rows", "int")}</td>',
             f'<td class="n">{n(f"split.summary.{i}.companies", "int")}</td>',
             f'<td class="n">{n(f"split.summary.{i}.defaults", "int")}</td>',
             f'<td class="n">{n(f"split.summary.{i}.default_rate", "pct")}</td>',
             cell(s.get("first", "")), cell(s.get("last", ""))] for i, s in enumerate(summary)]
    return "\n".join([
        f"<p>Source: {source}<br>Source SHA-256: {digest}</p>",
        f"<p>{n('data.rows', 'int')} rows after cleaning, {n('data.defaults', 'int')} defaults "
        f"(default rate {n('data.default_rate', 'pct2')}). Periods: {period_text}.</p>",
        table(["Part", "Rows", "Companies", "Defaults", "Default rate", "First period", "Last period"], rows),
        "<h3>Segments</h3>", _segments(report, n), "<h3>Quality findings</h3>", _quality_findings(report, n)])


SECTION = Section("data", "2. Data", data_section, bundle_only=True)
