"""The records a cut-off produces, in one plain-data form for JSON, tables and the dashboard.

:class:`riskcore.evaluation.metrics.ThresholdMetrics` (rates at a cut-off) and
:class:`riskcore.evaluation.costs.CostPoint` (costs at a cut-off) both start with
the cut-off and its confusion counts; :class:`CutoffCounts` declares those fields
once, and :class:`PlainData` gives every evaluation record the same ``as_dict``.
:func:`strict_json` turns such plain data into strict JSON data (the bundle's files,
``monitor.json``, the digest of a promotion gate's report).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["CutoffCounts", "PlainData", "strict_json"]


def strict_json(obj: Any) -> Any:
    """``obj`` with NaN and infinities as None, numpy scalars as Python values, keys as text (strict JSON)."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(v) for v in obj]
    return obj


@dataclass(frozen=True)
class PlainData:
    """A frozen record whose plain-data form is its fields, in declaration order."""

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return asdict(self)


@dataclass(frozen=True)
class CutoffCounts(PlainData):
    """Confusion counts when every row with ``y_prob >= threshold`` is referred.

    Subclasses add their fields after these, so ``as_dict`` and positional
    construction keep the order ``threshold, tp, fp, tn, fn, ...``.
    """

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
