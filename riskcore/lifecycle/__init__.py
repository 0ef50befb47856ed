"""The model's life after training: monitoring what it scores, and comparing it with a challenger.

- :mod:`riskcore.lifecycle.monitoring`: :func:`monitor_file`, :func:`monitor_audit`, :func:`record_monitoring`,
  :func:`monitor_demo_years`, :func:`first_start`;
- :mod:`riskcore.lifecycle.delivery`: :class:`~riskcore.lifecycle.delivery.Postman`, alerts delivered to people
  (webhooks, e-mail) from ``[alerts.delivery]``, each delivery on record, a repeat sent once per period;
- :mod:`riskcore.lifecycle.versions`: :func:`compare_versions`, :func:`promote`, :func:`rollback` (every move of
  the champion recorded in the audit trail's ledger, :class:`riskcore.serving.audit.ModelMove`);
- :mod:`riskcore.lifecycle.shadow`: :func:`compare_from_audit`, the same comparison on the companies the API
  scored with both models (a challenger in shadow);
- :mod:`riskcore.serving.server`: :class:`ModelServer` (what a long-running server scores with: the champion,
  or the last verified champion) and :func:`score_served` (shadow and canary scoring).

``python -m riskcore monitor`` and ``models``, the API, the dashboard's pages and its first start call these.
"""

from riskcore.lifecycle.monitoring import (
    DEMO_LATER_YEARS,
    MonitorRun,
    first_start,
    monitor_audit,
    monitor_demo_years,
    monitor_file,
    record_monitoring,
)
from riskcore.lifecycle.versions import Move, VersionComparison, compare_versions, promote, rollback

__all__ = ["DEMO_LATER_YEARS", "MonitorRun", "Move", "VersionComparison", "compare_versions", "first_start",
           "monitor_audit", "monitor_demo_years", "monitor_file", "promote", "record_monitoring", "rollback"]
