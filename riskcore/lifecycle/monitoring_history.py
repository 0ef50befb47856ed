"""The monitoring history of a model, read back from the experiment store as typed reports.

Every monitoring run (``python -m riskcore monitor``, the dashboard's upload, the first start)
is logged by :func:`riskcore.lifecycle.monitoring.record_monitoring` to the monitoring
experiment with its ``monitor.json``. :class:`MonitoringHistory` is the one reader of that
history: the runs of a model version, newest first; one run's report as a
:class:`~riskcore.evaluation.monitor_report.MonitorReport`; the newest run of a version.
``GET /monitoring`` and the dashboard's monitoring page both read through it (the page then merges
the runs' periods with :func:`riskcore.evaluation.monitor_periods.period_history`). With the audit trail's
:class:`~riskcore.serving.audit.DeliveryLog` it also reads where each run's alerts were delivered, and how.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from riskcore.config import Settings
from riskcore.errors import AuditError
from riskcore.evaluation.monitor_report import MonitorReport
from riskcore.modelling.tracking import Tracker
from riskcore.serving.audit import Delivery, DeliveryLog

__all__ = ["MonitoringHistory", "RecordedMonitoring"]

log = logging.getLogger("riskcore.monitoring")


@dataclass(frozen=True)
class RecordedMonitoring:
    """One recorded monitoring run: its id in the experiment store, when it was recorded, its report, its deliveries."""

    run_id: str
    recorded_at: str
    """ISO 8601 start time of the run (UTC)."""
    report: MonitorReport
    deliveries: tuple[Delivery, ...] = ()
    """Its alerts' deliveries, newest first (empty without a delivery log or when none was made)."""


class MonitoringHistory:
    """The monitoring runs recorded in an experiment store, read as typed reports.

    Parameters
    ----------
    tracker : Tracker
        The model's tracker; the runs are in its monitoring experiment.
    deliveries : DeliveryLog, optional
        Where the runs' alert deliveries are recorded (the audit trail's database).
    """

    def __init__(self, tracker: Tracker, deliveries: DeliveryLog | None = None):
        self.tracker = tracker
        self.deliveries_log = deliveries

    @classmethod
    def from_settings(cls, settings: Settings) -> MonitoringHistory:
        """The history in the experiment store of ``settings``."""
        return cls(Tracker.from_settings(settings))

    def runs(self, model_version: str | None = None) -> pd.DataFrame:
        """The monitoring runs (of one model version, or all), newest first (``Tracker.monitoring_runs``).

        Raises
        ------
        riskcore.errors.TrackingError
            When the experiment store cannot be read.
        """
        return self.tracker.monitoring_runs(model_version)

    def report(self, run_id: str) -> MonitorReport:
        """The report of one monitoring run, read from its ``monitor.json``.

        Raises
        ------
        riskcore.errors.TrackingError
            When the run or its report cannot be read.
        """
        return MonitorReport.from_json(self.tracker.monitoring_report(run_id))

    def deliveries(self, run_id: str) -> tuple[Delivery, ...]:
        """Where one run's alerts were delivered and how, newest first; empty when that cannot be read (logged)."""
        if self.deliveries_log is None or not run_id:
            return ()
        try:
            return tuple(self.deliveries_log.list(ref=run_id))
        except AuditError as err:
            log.warning("the deliveries of monitoring run %s cannot be read: %s", run_id, err)
            return ()

    def latest(self, model_version: str) -> RecordedMonitoring | None:
        """The newest monitoring run of ``model_version``; None when it was never monitored.

        Raises
        ------
        riskcore.errors.TrackingError
            When the experiment store cannot be read.
        """
        runs = self.runs(model_version)
        if not len(runs):
            return None
        newest = runs.iloc[0]
        run_id = str(newest["run_id"])
        return RecordedMonitoring(run_id, newest["start_time"].isoformat(), self.report(run_id),
                                  self.deliveries(run_id))
