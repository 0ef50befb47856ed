"""Figure data of monitoring: the feature × period drift heatmap and the PSI band of each cell.

A monitoring history holds, per feature (or per feature within a sector) and
period, the PSI of the period against the training bins, its band and the
χ² p-value of the same bins. The heatmap orders the features by their worst PSI
and the periods as periods sort (:func:`~riskcore.evaluation.monitoring.period_order`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import get_args

import numpy as np
import pandas as pd

from riskcore.evaluation.drift import DriftStatus, psi_band
from riskcore.evaluation.figures._base import freeze_arrays
from riskcore.evaluation.monitoring import period_order

__all__ = ["DRIFT_BANDS", "DriftHeatmap", "psi_bands"]

DRIFT_BANDS: tuple[DriftStatus, ...] = get_args(DriftStatus)
"""The PSI bands in order: ``stable`` below ``PSI_WATCH``, ``watch`` up to ``PSI_ACT``, ``act`` above."""


def psi_bands(statuses: Iterable[object], psis: Iterable[object]) -> list[DriftStatus]:
    """Each entry's PSI band: its recorded status, or the band of its PSI when it records none.

    Parameters
    ----------
    statuses : iterable
        The recorded statuses (``stable``, ``watch``, ``act``; anything else counts as none).
    psis : iterable
        The PSIs, as numbers or anything ``pandas.to_numeric`` reads (missing reads as stable).

    Returns
    -------
    list of {'stable', 'watch', 'act'}
    """
    numbers = pd.to_numeric(pd.Series(list(psis), dtype=object), errors="coerce")
    return [s if s in DRIFT_BANDS else psi_band(float(p))  # type: ignore[misc]
            for s, p in zip(statuses, numbers)]


@dataclass(frozen=True, eq=False)
class DriftHeatmap:
    """Feature × period PSI of a monitoring history, each cell with its band, the worst feature first.

    Attributes
    ----------
    features : tuple of str
        One row per feature (``<feature> within <sector>`` for drift confined to a sector), the largest PSI over
        the periods first (the history's order among equal ones).
    labels, families : tuple of str
        Each row's feature label and family (``macro`` series move every period by nature).
    periods : tuple of str
        One column per period, in period order, as text.
    psi : ndarray of shape (features, periods)
        The PSI of each cell; NaN where the feature was not measured in the period.
    band : ndarray of shape (features, periods)
        The cell's band as its index in :data:`DRIFT_BANDS` (0 stable, 1 watch, 2 act); NaN where not measured.
    status, p_value, n : ndarray of shape (features, periods)
        The recorded status, the χ² p-value of the same bins and the rows of the period (NaN where not measured).
    """

    features: tuple[str, ...]
    labels: tuple[str, ...]
    families: tuple[str, ...]
    periods: tuple[str, ...]
    psi: np.ndarray
    band: np.ndarray
    status: np.ndarray
    p_value: np.ndarray
    n: np.ndarray

    def __post_init__(self) -> None:
        freeze_arrays(self)

    @property
    def empty(self) -> bool:
        """Whether no feature drift was recorded."""
        return not self.features

    def frame(self) -> pd.DataFrame:
        """One row per measured cell, in row then column order.

        Returns
        -------
        pandas.DataFrame
            Columns ``feature, label, family, period, psi, band`` (the band's name), ``status, p_value, n``.
        """
        i, j = np.nonzero(~np.isnan(self.band.astype(float)))
        return pd.DataFrame({
            "feature": [self.features[r] for r in i], "label": [self.labels[r] for r in i],
            "family": [self.families[r] for r in i], "period": [self.periods[c] for c in j],
            "psi": self.psi[i, j], "band": [DRIFT_BANDS[int(b)] for b in self.band[i, j]],
            "status": self.status[i, j], "p_value": self.p_value[i, j], "n": self.n[i, j]},
            columns=["feature", "label", "family", "period", "psi", "band", "status", "p_value", "n"])

    @classmethod
    def from_drift(cls, drift: pd.DataFrame) -> DriftHeatmap:
        """Lay a tidy drift history out as a heatmap.

        Parameters
        ----------
        drift : pandas.DataFrame
            One row per feature and period, with columns ``feature, label, family, period, psi, status, p_value,
            n`` (a monitoring history's ``drift`` frame); one row at most per feature and period.

        Returns
        -------
        DriftHeatmap
            Empty (no rows, no periods) for an empty history.
        """
        if drift.empty:
            nothing = np.zeros((0, 0))
            return cls((), (), (), (), nothing, nothing, nothing, nothing, nothing)
        d = drift.assign(col=drift["period"].astype(str),
                         code=[DRIFT_BANDS.index(b) for b in psi_bands(drift["status"], drift["psi"])])
        worst = d.groupby("feature", sort=False)["psi"].max().sort_values(ascending=False, kind="stable")
        rows = [str(f) for f in worst.index]
        cols = [str(p) for p in sorted(drift["period"].unique(), key=period_order)]
        first = d.drop_duplicates("feature").set_index("feature")

        def grid(values: str) -> np.ndarray:
            out: np.ndarray = d.pivot(index="feature", columns="col", values=values) \
                .reindex(index=rows, columns=cols).to_numpy()
            return out

        return cls(tuple(rows), tuple(str(first.at[f, "label"]) for f in rows),
                   tuple(str(first.at[f, "family"]) for f in rows), tuple(cols), grid("psi"),
                   grid("code").astype(float), grid("status"), grid("p_value"), grid("n"))
