"""The one sort every rank metric shares: rows by descending score, tied scores grouped.

AUC, average precision, KS, gains tables and ROC/PR curves all need the rows in
score order with runs of equal scores kept together (a tie counts half, and
never splits across a decile). Sorting once and summing weights per tie group
lets :mod:`riskcore.evaluation.bootstrap` compute a metric for a thousand
resamples at once: a resample is just another row of weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Ranked", "has_both_classes", "matvec", "rank_metrics", "rowdot"]


def has_both_classes(y: np.ndarray, w: np.ndarray | None) -> bool:
    """Whether both classes carry positive weight."""
    if w is None:
        return bool(0 < y.sum() < len(y))
    return bool(w[y == 1].sum() > 0 and w[y == 0].sum() > 0)


@dataclass(frozen=True)
class Ranked:
    """Rows sorted once by descending score, with runs of tied scores as groups."""

    order: np.ndarray
    starts: np.ndarray
    y: np.ndarray

    @classmethod
    def of(cls, y: np.ndarray, p: np.ndarray) -> Ranked:
        """Sort ``p`` descending (stable) and find where the score changes."""
        order = np.argsort(-p, kind="stable")
        starts = np.r_[0, np.flatnonzero(np.diff(p[order])) + 1]
        return cls(order, starts, y[order])

    def group_sums(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per tie group, riskiest first: weight of positives and of negatives, each (b, n_groups)."""
        ws = weights[:, self.order]
        pos = ws * self.y
        neg = ws - pos  # exact: y is 0/1, so each cell of pos is 0 or the weight itself
        if len(self.starts) == len(self.y):  # no ties: every row is its own group
            return pos, neg
        return np.add.reduceat(pos, self.starts, axis=1), np.add.reduceat(neg, self.starts, axis=1)


def rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two (b, m) arrays."""
    out: np.ndarray = np.einsum("ij,ij->i", a, b)
    return out


def matvec(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Multiply ``a @ v`` without BLAS, whose threaded gemv is slow on these wide, short matrices."""
    out: np.ndarray = np.einsum("ij,j->i", a, v)
    return out


def rank_metrics(pos: np.ndarray, neg: np.ndarray, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
    """AUC, average precision and KS of every row of grouped weights; NaN where a class is absent.

    With ``cpos``/``cneg`` the weights at or above each group (riskiest first),
    AUC = Σ_g pos_g (W_neg − cneg_g + ½ neg_g) / (W_pos W_neg) (ties count ½),
    AP = Σ_g (pos_g / W_pos) · precision_g and KS = max_g |TPR_g − FPR_g|.
    """
    cneg = np.cumsum(neg, axis=1)
    total_neg = cneg[:, -1]
    total_pos = pos.sum(axis=1)
    valid = (total_pos > 0) & (total_neg > 0)
    wp = np.where(valid, total_pos, 1.0)
    wn = np.where(valid, total_neg, 1.0)
    out: dict[str, np.ndarray] = {}
    if "auc" in metrics:
        # integer counts keep every product and sum exact in float64 (below 2**53)
        out["auc"] = (wp * wn - rowdot(pos, cneg) + 0.5 * rowdot(pos, neg)) / (wp * wn)
    if "ks" in metrics or "pr_auc" in metrics:
        cpos = np.cumsum(pos, axis=1)
        if "ks" in metrics:
            out["ks"] = np.abs(cpos / wp[:, None] - cneg / wn[:, None]).max(axis=1)
        if "pr_auc" in metrics:
            referred = cpos + cneg
            precision = np.divide(cpos, referred, out=np.zeros_like(cpos), where=referred > 0)
            out["pr_auc"] = rowdot(pos, precision) / wp
    for values in out.values():
        values[~valid] = np.nan
    return out
