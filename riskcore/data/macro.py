"""Macro scenarios on a frame of model inputs: how far each macro input moves, and the moved copy.

The model report's macro stress (:mod:`riskcore.modelling.soundness`), the provisions' upside and downside
scenarios (:mod:`riskcore.serving.provisions`) and scoring a file under scenarios
(:func:`riskcore.serving.scoring.score_frame`) move the inputs the same way; this module is light (NumPy and
pandas only) so that scoring, the API's hot path, can use it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from riskcore.data.schema import DatasetSpec, FeatureSpec

__all__ = ["STRESS_POINTS", "macro_shift", "stressed"]

STRESS_POINTS = 2.0
"""The macro shock for inputs measured in percentage points (GDP growth, rates): 2 points adverse.

Inputs in other units move by one standard deviation of their training values instead.
"""


def macro_shift(f: FeatureSpec, train_values: pd.Series) -> float:
    """The adverse shift of one macro input: :data:`STRESS_POINTS` for percentage points, else one training SD.

    The report's macro stress and the provisions' downside and upside scenarios move the macro inputs by it.
    """
    size = STRESS_POINTS if f.unit == "pp" else float(np.nanstd(pd.to_numeric(train_values, errors="coerce")))
    return float(np.sign(f.direction) * size) if np.isfinite(size) else 0.0


def stressed(X: pd.DataFrame, scenario: Mapping[str, float], spec: DatasetSpec,
             rows: np.ndarray | None = None) -> pd.DataFrame:
    """A copy of ``X`` with each scenario input shifted (on ``rows`` only, when given), inside its possible range."""
    out = X.copy()
    for name, shift in scenario.items():
        f = spec.feature(name)
        lo = -np.inf if f.min is None else f.min
        hi = np.inf if f.max is None else f.max
        values = pd.to_numeric(out[name], errors="coerce").to_numpy(dtype=float).copy()
        at = slice(None) if rows is None else rows
        values[at] = np.clip(values[at] + shift, lo, hi)
        out[name] = values
    return out
