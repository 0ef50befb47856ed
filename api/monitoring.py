"""GET /monitoring: the latest monitoring summary of the deployed model, read from the monitoring history.

Monitoring runs are recorded by ``python -m riskcore monitor``, the dashboard's
monitoring page and the demo's first start, in the experiment store's monitoring
experiment (:meth:`riskcore.modelling.tracking.Tracker.log_monitoring`). This
endpoint reads the newest run of the served model version and answers with its
alerts, drift, expectations and back-test, not the whole report: the full
``monitor.json`` stays in the store, named by ``run_id``.

The history is read at most every :data:`CACHE_SECONDS` seconds per process, so
a busy client does not query the store on every request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from riskcore.config import Settings
from riskcore.modelling.tracking import Tracker

__all__ = ["CACHE_SECONDS", "MonitoringHistory", "no_monitoring", "summary_of"]

CACHE_SECONDS = 30.0
_TOP_FEATURES = 20


def no_monitoring(model_version: str) -> str:
    """The 404 message: no monitoring run for the served model yet, and how to record one."""
    return (f"model {model_version} has not been monitored yet; record a monitoring run with "
            "python -m riskcore monitor --data FILE --out DIR (or the dashboard's Monitoring page)")


def summary_of(report: dict[str, Any], run_id: str, recorded_at: str) -> dict[str, Any]:
    """The API's view of a ``monitor.json``: alerts, the most drifted features, score, expected, realised, grades."""
    features = [{k: f.get(k) for k in ("name", "family", "psi", "status", "p_value", "ks", "missing_share",
                                       "out_of_range_share")} for f in report.get("features", [])[:_TOP_FEATURES]]
    score = report.get("score") or {}
    expected = report.get("expected") or {}
    realised = report.get("realized")
    return {
        "model_version": report.get("model_version"), "run_id": run_id, "recorded_at": recorded_at,
        "periods": [str(p) for p in report.get("periods", [])], "rows": report.get("n"),
        "alerts": [{k: a.get(k) for k in ("rule", "status", "detail")} for a in report.get("alerts", [])],
        "features": features,
        "score": {"psi": score.get("psi"), "status": score.get("status")},
        "expected": {"default_rate": expected.get("default_rate"), "auc": expected.get("auc"),
                     "auc_ci": expected.get("auc_ci")},
        "realized": None if not realised else {k: realised.get(k) for k in ("n", "defaults", "default_rate", "auc",
                                                                             "gini", "ks", "ece")},
        "grades": [{k: g.get(k) for k in ("grade", "n", "predicted_pd", "observed_rate", "traffic_light")}
                   for g in report.get("grades", [])],
    }


class MonitoringHistory:
    """The newest monitoring summary per model version, read from the store and kept for a few seconds.

    Parameters
    ----------
    settings : Settings
        Where the experiment store is.
    clock : callable
        Seconds (monotonic); replaced in tests.
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic):
        self._tracker = Tracker.from_settings(settings)
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
        runs = self._tracker.monitoring_runs(model_version)
        found = None
        if len(runs):
            newest = runs.iloc[0]
            report = self._tracker.monitoring_report(str(newest["run_id"]))
            found = summary_of(report, str(newest["run_id"]), newest["start_time"].isoformat())
        with self._lock:
            self._cached[model_version] = (now, found)
        return found
