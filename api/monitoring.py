"""GET /monitoring: the latest monitoring summary of the deployed model, read from the monitoring history.

Monitoring runs are recorded by ``python -m riskcore monitor``, the dashboard's
monitoring page and the demo's first start, in the experiment store's monitoring
experiment. The engine's :class:`~riskcore.lifecycle.monitoring_history.MonitoringHistory`
reads the newest run of the served model version as a typed report; this endpoint
answers with its alerts, drift, expectations and back-test, not the whole report: the
full ``monitor.json`` stays in the store, named by ``run_id``.

The answer is kept for :data:`CACHE_SECONDS` seconds per process, so a busy client does
not query the store on every request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from riskcore.config import Settings
from riskcore.workbench import RecordedMonitoring, Workbench

__all__ = ["CACHE_SECONDS", "LatestMonitoring", "no_monitoring", "summary_of"]

CACHE_SECONDS = 30.0
_TOP_FEATURES = 20


def no_monitoring(model_version: str) -> str:
    """The 404 message: no monitoring run for the served model yet, and how to record one."""
    return (f"model {model_version} has not been monitored yet; record a monitoring run with "
            "python -m riskcore monitor --data FILE --out DIR (or the dashboard's Monitoring page)")


def summary_of(recorded: RecordedMonitoring) -> dict[str, Any]:
    """The API's view of a recorded run: alerts, drift, score, expected, realised, grades, the battery, deliveries."""
    report = recorded.report
    realised = report.realized
    return {
        "model_version": report.model_version, "run_id": recorded.run_id, "recorded_at": recorded.recorded_at,
        "periods": [str(p) for p in report.periods], "rows": report.n,
        "alerts": [{"rule": a.rule, "status": a.status, "detail": a.detail} for a in report.alerts],
        "features": [{"name": f.name, "family": f.family, "psi": f.psi, "status": f.status, "p_value": f.p_value,
                      "ks": f.ks, "missing_share": f.missing_share, "out_of_range_share": f.out_of_range_share}
                     for f in report.features[:_TOP_FEATURES]],
        "score": {"psi": report.score.psi, "status": report.score.status},
        "expected": {"default_rate": report.expected.default_rate, "auc": report.expected.auc,
                     "auc_ci": None if report.expected.auc_ci is None else list(report.expected.auc_ci)},
        "realized": None if realised is None else {
            "n": realised.n, "defaults": realised.defaults, "default_rate": realised.default_rate,
            "auc": realised.auc, "gini": realised.gini, "ks": realised.ks, "ece": realised.ece},
        "grades": [{"grade": g.grade, "n": g.n, "predicted_pd": g.predicted_pd, "observed_rate": g.observed_rate,
                    "traffic_light": g.traffic_light} for g in report.grades],
        "validation": None if report.validation is None else report.validation.summary(),
        "deliveries": [d.as_dict() for d in recorded.deliveries],
    }


class LatestMonitoring:
    """The summary of the newest monitoring run per model version, kept for :data:`CACHE_SECONDS` seconds.

    Parameters
    ----------
    bench : Workbench or Settings
        The workbench whose experiment store holds the runs (or the settings to open one with).
    clock : callable
        Seconds (monotonic); replaced in tests.
    """

    def __init__(self, bench: Workbench | Settings, clock: Callable[[], float] = time.monotonic):
        self._bench = bench if isinstance(bench, Workbench) else Workbench(bench)
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def latest(self, model_version: str) -> dict[str, Any] | None:
        """The summary of the newest monitoring run of ``model_version``; None when it was never monitored.

        Raises
        ------
        riskcore.errors.TrackingError
            When the experiment store cannot be read (the API answers 503).
        """
        now = self._clock()
        with self._lock:
            hit = self._cached.get(model_version)
            if hit is not None and now - hit[0] < CACHE_SECONDS:
                return hit[1]
        recorded = self._bench.latest_monitoring(model_version)
        found = None if recorded is None else summary_of(recorded)
        with self._lock:
            self._cached[model_version] = (now, found)
        return found
