"""Several monitoring reports merged period by period: one tidy frame per view, the newest run winning its period.

A monitoring run covers one or more periods; a history shows the periods of all runs
side by side. :func:`period_history` merges the runs' per-period entries; when two runs
cover the same period, the newest run's entry is kept, per view (a period monitored
again after a fix replaces the old view, and a newer run without outcomes does not
hide an older run's back-test of that period).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from riskcore.evaluation.drift import psi_band
from riskcore.evaluation.monitor_report import MonitorReport, PeriodExpectation, period_order

__all__ = ["DRIFT_COLUMNS", "EXPECTED_COLUMNS", "SCORE_COLUMNS", "VINTAGE_COLUMNS", "PeriodHistory",
           "period_history"]

DRIFT_COLUMNS = ["feature", "label", "family", "period", "psi", "status", "p_value", "n"]
SCORE_COLUMNS = ["period", "psi", "status", "p_value", "n"]
EXPECTED_COLUMNS = ["period", "n", "default_rate", "default_rate_low", "default_rate_high", "auc", "auc_low",
                    "auc_high"]
VINTAGE_COLUMNS = ["period", "n", "predicted_pd", "defaults", "observed_rate", "jeffreys_low", "jeffreys_high",
                   "p_value", "traffic_light", "auc", "expected_auc"]


@dataclass(frozen=True)
class PeriodHistory:
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


def _drift_entries(report: MonitorReport) -> Iterable[tuple[Hashable, dict[str, Any]]]:
    """One report's feature PSIs per period, then its drifts within a segment (each a row of its own)."""
    labels = {f.name: f.label or f.name for f in report.features}
    for f in report.features:
        for p in f.by_period:
            status = p.status or psi_band(float("nan") if p.psi is None else p.psi)
            yield (f.name, p.period), {
                "feature": f.name, "label": labels[f.name], "family": "" if f.family is None else f.family,
                "period": p.period, "psi": p.psi, "status": status, "p_value": p.p_value, "n": p.n}
    for seg in report.segments:
        name = f"{seg.feature} within {seg.segment}"
        yield (name, seg.period), {
            "feature": name, "label": f"{labels.get(seg.feature, seg.feature)} within {seg.segment}",
            "family": "" if seg.family is None else seg.family, "period": seg.period, "psi": seg.psi,
            "status": seg.status or psi_band(seg.psi), "p_value": seg.p_value, "n": seg.n}


def _expected_row(e: PeriodExpectation) -> dict[str, Any]:
    """One period of the expectation with its intervals split into columns."""
    dr_low, dr_high = e.default_rate_ci or (None, None)
    auc_low, auc_high = e.auc_ci or (None, None)
    return {"period": e.period, "n": e.n, "default_rate": e.default_rate, "default_rate_low": dr_low,
            "default_rate_high": dr_high, "auc": e.auc, "auc_low": auc_low, "auc_high": auc_high}


def period_history(reports: Sequence[MonitorReport]) -> PeriodHistory:
    """Merge monitoring reports (**newest first**) into tidy frames per period.

    Drift concentrated in one sector (a report's ``segments``) gets a drift row of its
    own, ``<feature> within <sector>``, filled in the periods where it was found: over the
    whole portfolio such a change hardly shows. A drift entry without a band gets the band
    of its PSI.

    Parameters
    ----------
    reports : sequence of MonitorReport
        The reports of the monitoring runs, newest first (the order of ``Tracker.monitoring_runs``). When two
        reports cover the same period, the first (newest) one's entry is kept, per view.

    Returns
    -------
    PeriodHistory
    """
    drift = _newest_first(entry for report in reports for entry in _drift_entries(report))
    score = _newest_first((p.period, {c: getattr(p, c) for c in SCORE_COLUMNS})
                          for report in reports for p in report.score.by_period)
    expected = _newest_first((e.period, _expected_row(e)) for report in reports for e in report.expected.by_period)
    vintages = _newest_first((v.period, v.as_dict()) for report in reports for v in report.vintages)
    return PeriodHistory(drift=_frame(drift, DRIFT_COLUMNS, "feature"), score=_frame(score, SCORE_COLUMNS),
                         expected=_frame(expected, EXPECTED_COLUMNS), vintages=_frame(vintages, VINTAGE_COLUMNS))
