"""The tables of the monitoring page, from typed monitoring reports: alerts in order, back-tests, runs.

The reports are :class:`riskcore.evaluation.monitor_report.MonitorReport` (read through
:class:`riskcore.lifecycle.monitoring_history.MonitoringHistory`); a ``monitor.json`` dict is read
with ``MonitorReport.from_json`` first. The runs' periods are merged by the engine
(:func:`riskcore.evaluation.monitor_periods.period_history`); this module only names, orders and
decorates what the page shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from riskcore.evaluation import Alert, MonitorReport, PeriodHistory, period_history, period_order
from riskcore.workbench import Delivery

__all__ = ["ALERT_TITLES", "LIGHT_ICONS", "PeriodHistory", "alerts_in_order", "deliveries_table", "features_table",
           "grades_table", "monitoring_history", "period_order", "runs_table", "segments_table", "vintages_table",
           "worst_alert"]

ALERT_TITLES = {"feature_psi": "Feature drift", "score_psi": "Score drift", "auc_drop": "AUC drop",
                "ece": "Calibration error (ECE)", "red_grade": "Back-test by grade"}
"""How each alert rule of ``riskcore.toml``'s ``[alerts]`` is named on the page."""
LIGHT_ICONS = {"green": "🟢 green", "amber": "🟠 amber", "red": "🔴 red"}
_SEVERITY = {"fail": 0, "warn": 1, "pass": 2}
_GRADE_COLUMNS = ["grade", "n", "predicted_pd", "defaults", "observed_rate", "jeffreys_low", "jeffreys_high",
                  "p_value", "traffic_light"]
_SEGMENT_COLUMNS = ["segment", "feature", "period", "psi", "status", "p_value", "n"]

Reportish = MonitorReport | Mapping[str, Any]
"""A typed report, or a ``monitor.json`` as parsed."""


def _typed(report: Reportish) -> MonitorReport:
    """The report as typed data."""
    return report if isinstance(report, MonitorReport) else MonitorReport.from_json(report)


def monitoring_history(reports: Sequence[Reportish]) -> PeriodHistory:
    """The periods of several runs' reports (**newest first**) merged, the newest run winning each period."""
    return period_history([_typed(r) for r in reports])


def alerts_in_order(report: Reportish) -> list[Alert]:
    """The report's alerts, failures first, then warnings, then passes (the rules' order within each)."""
    return sorted(_typed(report).alerts, key=lambda a: _SEVERITY.get(str(a.status), 3))


def worst_alert(report: Reportish) -> str:
    """``fail``, ``warn`` or ``pass``: the worst status among the report's alerts."""
    ordered = alerts_in_order(report)
    return str(ordered[0].status) if ordered else "pass"


def features_table(report: Reportish) -> pd.DataFrame:
    """The report's features, the largest drift first, without their per-period entries."""
    features = pd.DataFrame([f.as_dict() for f in _typed(report).features])
    return features.drop(columns=["by_period"], errors="ignore")


def grades_table(report: Reportish) -> pd.DataFrame:
    """The per-grade back-test of a report, with the traffic light as an icon (empty without outcomes)."""
    frame = pd.DataFrame([g.as_dict() for g in _typed(report).grades], columns=_GRADE_COLUMNS)
    return frame.assign(traffic_light=frame["traffic_light"].map(lambda t: LIGHT_ICONS.get(str(t), t)))


def vintages_table(vintages: pd.DataFrame) -> pd.DataFrame:
    """The back-test by vintage with the traffic light as an icon and the period as text."""
    return vintages.assign(period=vintages["period"].astype(str),
                           traffic_light=vintages["traffic_light"].map(lambda t: LIGHT_ICONS.get(str(t), t)))


def segments_table(report: Reportish) -> pd.DataFrame:
    """The segment drifts of a report that are not stable, the largest PSI first."""
    frame = pd.DataFrame([s.as_dict() for s in _typed(report).segments], columns=_SEGMENT_COLUMNS)
    frame = frame[frame["status"] != "stable"]
    return frame.assign(period=frame["period"].astype(str)).sort_values("psi", ascending=False,
                                                                         ignore_index=True)


_RUN_COLUMNS = {"start_time": "time", "tags.periods": "periods", "metrics.rows": "rows",
                "tags.worst_alert": "worst alert", "metrics.score_psi": "score PSI",
                "metrics.expected_auc": "expected AUC", "metrics.realized_auc": "realised AUC",
                "tags.source": "file", "run_id": "run_id"}


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The monitoring runs (``MonitoringHistory.runs``) as the page's history table, newest first."""
    out = pd.DataFrame({label: runs[col] if col in runs else pd.Series([None] * len(runs), dtype=object)
                        for col, label in _RUN_COLUMNS.items()})
    if len(out):
        out["time"] = pd.to_datetime(out["time"], utc=True).dt.strftime("%Y-%m-%d %H:%M")
    return out


_DELIVERY_STATES = {"sent": "sent", "failed": "failed", "repeat": "not sent again (sent lately)",
                    "pending": "being sent"}


def deliveries_table(deliveries: Sequence[Delivery]) -> pd.DataFrame:
    """Where a run's alerts were delivered: alert, severity, target, outcome, attempts, why (newest first)."""
    rows = [{"alert": ALERT_TITLES.get(str(d.notice.get("rule", "")), d.kind), "severity": d.severity,
             "target": d.target, "outcome": _DELIVERY_STATES.get(d.state, d.state), "attempts": d.attempts,
             "why": d.error} for d in deliveries]
    return pd.DataFrame(rows, columns=["alert", "severity", "target", "outcome", "attempts", "why"])
