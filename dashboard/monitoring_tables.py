"""The tables of the monitoring page: a history of monitoring reports merged into tidy frames.

Each monitoring run writes a ``monitor.json`` (:meth:`riskcore.evaluation.monitoring.MonitorReport.as_dict`)
covering one or more periods. The page draws the periods of all runs side by side, so
:func:`monitoring_history` merges the reports' per-period entries into one frame per view; when two runs cover the
same period, the newest run's entry is the one shown (a period re-monitored after a fix replaces the old view).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from riskcore.evaluation import period_order, psi_band

__all__ = ["ALERT_TITLES", "LIGHT_ICONS", "MonitoringHistory", "alerts_in_order", "grades_table",
           "monitoring_history", "period_order", "runs_table", "segments_table", "vintages_table", "worst_alert"]

ALERT_TITLES = {"feature_psi": "Feature drift", "score_psi": "Score drift", "auc_drop": "AUC drop",
                "ece": "Calibration error (ECE)", "red_grade": "Back-test by grade"}
"""How each alert rule of ``riskcore.toml``'s ``[alerts]`` is named on the page."""
LIGHT_ICONS = {"green": "🟢 green", "amber": "🟠 amber", "red": "🔴 red"}
_SEVERITY = {"fail": 0, "warn": 1, "pass": 2}

DRIFT_COLUMNS = ["feature", "label", "family", "period", "psi", "status", "p_value", "n"]
SCORE_COLUMNS = ["period", "psi", "status", "p_value", "n"]
EXPECTED_COLUMNS = ["period", "n", "default_rate", "default_rate_low", "default_rate_high", "auc", "auc_low",
                    "auc_high"]
VINTAGE_COLUMNS = ["period", "n", "predicted_pd", "defaults", "observed_rate", "jeffreys_low", "jeffreys_high",
                   "p_value", "traffic_light", "auc", "expected_auc"]


@dataclass(frozen=True)
class MonitoringHistory:
    """The periods of several monitoring runs, one tidy frame per view, ordered by period.

    Attributes
    ----------
    drift : feature × period PSI (columns :data:`DRIFT_COLUMNS`).
    score : the score's PSI per period (:data:`SCORE_COLUMNS`).
    expected : the expected default rate and AUC per period, with their intervals (:data:`EXPECTED_COLUMNS`).
    vintages : the back-test per period, where outcomes arrived (:data:`VINTAGE_COLUMNS`).
    """

    drift: pd.DataFrame
    score: pd.DataFrame
    expected: pd.DataFrame
    vintages: pd.DataFrame

    @property
    def periods(self) -> list[Hashable]:
        """Every period of the history, in order."""
        found = pd.concat([self.drift["period"], self.score["period"], self.expected["period"],
                           self.vintages["period"]]).tolist()
        return sorted(set(found), key=period_order)


def _newest_first(entries: Iterable[tuple[Hashable, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The first entry seen for each key: reports come newest first, so the newest run wins its period."""
    kept: dict[Hashable, dict[str, Any]] = {}
    for key, entry in entries:
        kept.setdefault(key, entry)
    return list(kept.values())


def _frame(rows: list[dict[str, Any]], columns: list[str], *sort: str) -> pd.DataFrame:
    """Rows as a frame with exactly ``columns``, sorted by period (then ``sort``)."""
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame
    frame["_order"] = frame["period"].map(period_order)
    return frame.sort_values(["_order", *sort], kind="stable").drop(columns="_order").reset_index(drop=True)


def _drift_rows(reports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every feature's PSI per period, the newest run's for each (feature, period).

    Drift concentrated in one sector (a report's ``segments``) gets a row of its own,
    ``<feature> within <sector>``, filled in the periods where it was found: over the
    whole portfolio such a change hardly shows.
    """
    def entries() -> Iterable[tuple[Hashable, dict[str, Any]]]:
        for report in reports:
            labels = {f["name"]: f.get("label") or f["name"] for f in report.get("features") or []}
            for f in report.get("features") or []:
                for p in f.get("by_period") or []:
                    status = p.get("status") or psi_band(float("nan") if p.get("psi") is None else p["psi"])
                    yield (f["name"], p["period"]), {
                        "feature": f["name"], "label": labels[f["name"]], "family": f.get("family", ""),
                        "period": p["period"], "psi": p["psi"], "status": status, "p_value": p.get("p_value"),
                        "n": p.get("n")}
            for seg in report.get("segments") or []:
                name = f"{seg['feature']} within {seg['segment']}"
                yield (name, seg["period"]), {
                    "feature": name, "label": f"{labels.get(seg['feature'], seg['feature'])} within {seg['segment']}",
                    "family": seg.get("family", ""), "period": seg["period"], "psi": seg["psi"],
                    "status": seg.get("status") or psi_band(seg["psi"]), "p_value": seg.get("p_value"),
                    "n": seg.get("n")}
    return _newest_first(entries())


def _per_period(reports: Sequence[dict[str, Any]], pick: Callable[[dict[str, Any]], list[dict[str, Any]] | None],
                shape: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per period from the entries ``pick(report)`` returns, the newest run's for each period."""
    return _newest_first((e["period"], shape(e)) for report in reports for e in pick(report) or [])


def _interval(entry: dict[str, Any], key: str) -> tuple[Any, Any]:
    """The two ends of an interval entry (``[low, high]``), or missing values."""
    ci = entry.get(key) or [None, None]
    return ci[0], ci[1]


def _expected_row(e: dict[str, Any]) -> dict[str, Any]:
    """One period of ``expected.by_period`` with its intervals split into columns."""
    dr_low, dr_high = _interval(e, "default_rate_ci")
    auc_low, auc_high = _interval(e, "auc_ci")
    return {"period": e["period"], "n": e.get("n"), "default_rate": e.get("default_rate"),
            "default_rate_low": dr_low, "default_rate_high": dr_high, "auc": e.get("auc"), "auc_low": auc_low,
            "auc_high": auc_high}


def monitoring_history(reports: Sequence[dict[str, Any]]) -> MonitoringHistory:
    """Merge monitoring reports (``monitor.json`` dicts, **newest first**) into tidy frames per period.

    Parameters
    ----------
    reports : sequence of dict
        The reports of the monitoring runs, newest first (the order of ``Tracker.monitoring_runs``). When two
        reports cover the same period, the first (newest) one's entry is kept, per view: a newer run without
        outcomes does not hide an older run's back-test of that period.

    Returns
    -------
    MonitoringHistory
    """
    return MonitoringHistory(
        drift=_frame(_drift_rows(reports), DRIFT_COLUMNS, "feature"),
        score=_frame(_per_period(reports, lambda r: (r.get("score") or {}).get("by_period"),
                                 lambda e: {c: e.get(c) for c in SCORE_COLUMNS}), SCORE_COLUMNS),
        expected=_frame(_per_period(reports, lambda r: (r.get("expected") or {}).get("by_period"), _expected_row),
                        EXPECTED_COLUMNS),
        vintages=_frame(_per_period(reports, lambda r: r.get("vintages"),
                                    lambda e: {c: e.get(c) for c in VINTAGE_COLUMNS}), VINTAGE_COLUMNS))


def alerts_in_order(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's alerts, failures first, then warnings, then passes (the rules' order within each)."""
    return sorted(report.get("alerts") or [], key=lambda a: _SEVERITY.get(str(a.get("status")), 3))


def worst_alert(report: dict[str, Any]) -> str:
    """``fail``, ``warn`` or ``pass``: the worst status among the report's alerts."""
    ordered = alerts_in_order(report)
    return str(ordered[0]["status"]) if ordered else "pass"


def grades_table(report: dict[str, Any]) -> pd.DataFrame:
    """The per-grade back-test of a report, with the traffic light as an icon (empty without outcomes)."""
    columns = ["grade", "n", "predicted_pd", "defaults", "observed_rate", "jeffreys_low", "jeffreys_high",
               "p_value", "traffic_light"]
    frame = pd.DataFrame(report.get("grades") or [], columns=columns)
    return frame.assign(traffic_light=frame["traffic_light"].map(lambda t: LIGHT_ICONS.get(str(t), t)))


def vintages_table(vintages: pd.DataFrame) -> pd.DataFrame:
    """The back-test by vintage with the traffic light as an icon and the period as text."""
    return vintages.assign(period=vintages["period"].astype(str),
                           traffic_light=vintages["traffic_light"].map(lambda t: LIGHT_ICONS.get(str(t), t)))


def segments_table(report: dict[str, Any]) -> pd.DataFrame:
    """The segment drifts of a report that are not stable, the largest PSI first."""
    columns = ["segment", "feature", "period", "psi", "status", "p_value", "n"]
    frame = pd.DataFrame(report.get("segments") or [], columns=columns)
    frame = frame[frame["status"] != "stable"]
    return frame.assign(period=frame["period"].astype(str)).sort_values("psi", ascending=False,
                                                                         ignore_index=True)


_RUN_COLUMNS = {"start_time": "time", "tags.periods": "periods", "metrics.rows": "rows",
                "tags.worst_alert": "worst alert", "metrics.score_psi": "score PSI",
                "metrics.expected_auc": "expected AUC", "metrics.realized_auc": "realised AUC",
                "tags.source": "file", "run_id": "run_id"}


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The monitoring runs (``Tracker.monitoring_runs``) as the page's history table, newest first."""
    out = pd.DataFrame({label: runs[col] if col in runs else pd.Series([None] * len(runs), dtype=object)
                        for col, label in _RUN_COLUMNS.items()})
    if len(out):
        out["time"] = pd.to_datetime(out["time"], utc=True).dt.strftime("%Y-%m-%d %H:%M")
    return out
