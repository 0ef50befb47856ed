"""Distribution shift between two samples of a column: population stability index and KS statistic.

Leakage check (d) (:mod:`riskcore.modelling.leakage`) compares the training and
test parts column by column: a large shift is expected for macro series in an
out-of-time split, and elsewhere can mean a column changed its definition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskcore.evaluation.drift import psi

__all__ = ["population_stability", "shift_table"]


def population_stability(expected: pd.Series, actual: pd.Series, bins: int = 10) -> tuple[float, float]:
    """PSI (quantile bins of ``expected``, missing values as their own bin) and the KS statistic.

    Returns ``(psi, ks)``; KS is NaN for text columns. The PSI is :func:`riskcore.evaluation.drift.psi`
    on these bins (NaN when a side has no rows).
    """
    ce: np.ndarray
    ca: np.ndarray
    if pd.api.types.is_numeric_dtype(expected) and not pd.api.types.is_bool_dtype(expected):
        e = expected.to_numpy(dtype=float, na_value=np.nan)
        a = actual.to_numpy(dtype=float, na_value=np.nan)
        fe, fa = e[~np.isnan(e)], a[~np.isnan(a)]
        if len(fe) == 0 or len(fa) == 0:
            return float("nan"), float("nan")
        edges = np.unique(np.quantile(fe, np.linspace(0, 1, bins + 1)[1:-1]))
        ce = np.bincount(np.searchsorted(edges, fe, side="right"), minlength=len(edges) + 1)
        ca = np.bincount(np.searchsorted(edges, fa, side="right"), minlength=len(edges) + 1)
        ce = np.append(ce, np.isnan(e).sum())
        ca = np.append(ca, np.isnan(a).sum())
        from scipy.stats import ks_2samp

        ks = float(ks_2samp(fe, fa).statistic)
    else:
        cats = pd.Index(pd.concat([expected, actual]).astype(object).fillna("__missing__").unique())
        ce = expected.astype(object).fillna("__missing__").value_counts().reindex(cats, fill_value=0).to_numpy()
        ca = actual.astype(object).fillna("__missing__").value_counts().reindex(cats, fill_value=0).to_numpy()
        ks = float("nan")
    return psi(ce, ca), ks


def shift_table(expected: pd.DataFrame, actual: pd.DataFrame, columns: list[str], warn_above: float) -> pd.DataFrame:
    """PSI and KS of each column between two frames, largest PSI first.

    Columns ``column``, ``psi``, ``ks`` and ``status`` (``warn`` above ``warn_above``, else ``pass``).
    """
    rows = []
    for c in columns:
        value, ks = population_stability(expected[c], actual[c])
        rows.append({"column": c, "psi": value, "ks": ks, "status": "warn" if value > warn_above else "pass"})
    return pd.DataFrame(rows, columns=["column", "psi", "ks", "status"]).sort_values("psi", ascending=False)
