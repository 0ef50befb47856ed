"""The model's life after training: monitoring what it scores, and comparing it with a challenger.

- :mod:`riskcore.lifecycle.monitoring`: :func:`monitor_file`, :func:`monitor_audit`, :func:`record_monitoring`,
  :func:`monitor_demo_years`, :func:`first_start`;
- :mod:`riskcore.lifecycle.versions`: :func:`compare_versions`.

``python -m riskcore monitor`` and ``models``, the dashboard's monitoring page and its first start call these.
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
from riskcore.lifecycle.versions import VersionComparison, compare_versions

__all__ = ["DEMO_LATER_YEARS", "MonitorRun", "VersionComparison", "compare_versions", "first_start", "monitor_audit",
           "monitor_demo_years", "monitor_file", "record_monitoring"]
