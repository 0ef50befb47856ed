"""The rating master scale and risk levels.

Ten grades with fixed PD bounds, roughly doubling from grade to grade, in the
style of a bank's internal master scale (the rating-agency equivalents are
indicative only). Grades use the PD after Basel's 0.05% floor for corporate
exposures (CRR3 Art. 160): no company is graded better than grade 1.

Risk levels group the grades so that they mean something for realistic PDs:

========  ========  ===================
level     grades    PD
========  ========  ===================
Low       1–4       below 1%
Medium    5–6       1% to 4%
High      7–8       4% to 15%
Critical  9–10      15% and above
========  ========  ===================

The reference design's fixed bands (0.25 / 0.50 / 0.75) are available as
``bands="fixed"``; with realistic PDs they put almost every company in "Low".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["MASTER_SCALE", "PD_FLOOR", "RISK_LEVELS", "Grade", "grade_index", "grade_of", "master_scale_frame",
           "risk_level_index", "risk_level_of"]

PD_FLOOR = 0.0005
RISK_LEVELS: tuple[str, ...] = ("Low", "Medium", "High", "Critical")


@dataclass(frozen=True)
class Grade:
    """One grade of the master scale: PD in [lower, upper)."""

    name: str
    lower: float
    upper: float
    agency: str
    level: str


MASTER_SCALE: tuple[Grade, ...] = (
    Grade("1", 0.0000, 0.0010, "AAA to AA-", "Low"),
    Grade("2", 0.0010, 0.0025, "A+ to A-", "Low"),
    Grade("3", 0.0025, 0.0050, "BBB+ to BBB", "Low"),
    Grade("4", 0.0050, 0.0100, "BBB-", "Low"),
    Grade("5", 0.0100, 0.0200, "BB+ to BB", "Medium"),
    Grade("6", 0.0200, 0.0400, "BB-", "Medium"),
    Grade("7", 0.0400, 0.0800, "B+ to B", "High"),
    Grade("8", 0.0800, 0.1500, "B-", "High"),
    Grade("9", 0.1500, 0.3000, "CCC", "Critical"),
    Grade("10", 0.3000, 1.0000001, "CC to C", "Critical"),
)
_UPPERS = np.array([g.upper for g in MASTER_SCALE[:-1]])
_NAMES = np.array([g.name for g in MASTER_SCALE], dtype=object)
_LEVEL_INDEX = np.array([RISK_LEVELS.index(g.level) for g in MASTER_SCALE])
_FIXED_EDGES = np.array([0.25, 0.50, 0.75])


def _floored(p_default: np.ndarray) -> np.ndarray:
    p = np.asarray(p_default, dtype=float)
    if np.isnan(p).any():
        # searchsorted would put NaN in the worst grade without a word
        raise ValueError(f"{int(np.isnan(p).sum())} PD value(s) are missing (NaN); only a scored PD can be graded")
    return np.maximum(p, PD_FLOOR)


def grade_index(p_default: np.ndarray) -> np.ndarray:
    """Position in :data:`MASTER_SCALE` (0 for grade 1 … 9 for grade 10) of each PD, after the floor.

    Raises
    ------
    ValueError
        When a PD is missing (NaN).
    """
    return np.searchsorted(_UPPERS, _floored(p_default), side="right")


def risk_level_index(p_default: np.ndarray, bands: Literal["master", "fixed"] = "master") -> np.ndarray:
    """Position in :data:`RISK_LEVELS` of each PD (see :func:`risk_level_of`)."""
    if bands not in ("master", "fixed"):
        raise ValueError(f"bands={bands!r} is unknown; use 'master' or 'fixed'")
    p = _floored(p_default)
    if bands == "fixed":
        return np.searchsorted(_FIXED_EDGES, p, side="right")
    return _LEVEL_INDEX[np.searchsorted(_UPPERS, p, side="right")]


def grade_of(p_default: np.ndarray) -> np.ndarray:
    """Master-scale grade (``"1"`` … ``"10"``) of each PD, after the 0.05% floor.

    A grade holds the PDs in ``[lower, upper)``; the last grade includes 1.

    Raises
    ------
    ValueError
        When a PD is missing (NaN).
    """
    return _NAMES[grade_index(p_default)]


def risk_level_of(p_default: np.ndarray, bands: Literal["master", "fixed"] = "master") -> np.ndarray:
    """Low / Medium / High / Critical for each PD (master-scale bands, or the fixed 0.25/0.5/0.75).

    Raises
    ------
    ValueError
        When a PD is missing (NaN) or ``bands`` is unknown.
    """
    return np.array(RISK_LEVELS, dtype=object)[risk_level_index(p_default, bands)]


def master_scale_frame() -> pd.DataFrame:
    """The master scale as a table: grade, pd_from, pd_to, agency_equivalent, risk_level."""
    return pd.DataFrame([{"grade": g.name, "pd_from": max(g.lower, PD_FLOOR) if g.name == "1" else g.lower,
                          "pd_to": min(g.upper, 1.0), "agency_equivalent": g.agency, "risk_level": g.level}
                         for g in MASTER_SCALE])
