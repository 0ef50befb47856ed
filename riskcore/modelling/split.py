"""Out-of-time and stratified splits, and cross-validation folds that keep a company together.

With a time column, :func:`split_portfolio` keeps whole periods together: the
earliest ≈75% of rows train, the next ≈12.5% validate (calibration and the
threshold), the latest ≈12.5% test. Without one, it draws a stratified split of
the same proportions, keeping every row of a company in one part. :func:`cv_folds`
makes the folds used inside the training part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from riskcore.errors import DataFileError

__all__ = ["Split", "SplitMode", "cv_folds", "split_portfolio"]

SplitMode = Literal["out_of_time", "stratified"]
PARTS = ("train", "validation", "test")


@dataclass(frozen=True)
class Split:
    """Row positions of the three parts and how they were chosen."""

    mode: SplitMode
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    periods: dict[str, list[object]] | None = None
    note: str = ""

    def part(self, name: str) -> np.ndarray:
        """Positions of one part by name."""
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]

    def labels(self, n: int) -> np.ndarray:
        """The part name of each of ``n`` rows."""
        out = np.full(n, "", dtype=object)
        for name in PARTS:
            out[self.part(name)] = name
        return out

    def summary(self, y: np.ndarray, ids: pd.Series | None = None, times: pd.Series | None = None) -> pd.DataFrame:
        """One row per part: part, rows, share, defaults, default_rate, companies, first, last."""
        n = len(self.train) + len(self.validation) + len(self.test)
        rows = []
        for name in PARTS:
            idx = self.part(name)
            yy = y[idx]
            rows.append({
                "part": name,
                "rows": len(idx),
                "share": len(idx) / max(n, 1),
                "defaults": int(np.nansum(yy)),
                "default_rate": float(np.nanmean(yy)) if len(idx) else np.nan,
                "companies": int(ids.iloc[idx].nunique()) if ids is not None else len(idx),
                "first": times.iloc[idx].min() if times is not None and len(idx) else None,
                "last": times.iloc[idx].max() if times is not None and len(idx) else None,
            })
        return pd.DataFrame(rows)


def _choose_tail(counts: np.ndarray, target: float, total: int, min_k: int = 1) -> int:
    """How many of the last periods to take so their share is closest to ``target``."""
    best_k, best_err = min_k, np.inf
    cum = 0
    for k in range(1, len(counts) + 1):
        cum += counts[-k]
        if k < min_k:
            continue
        err = abs(cum / total - target)
        if err < best_err:
            best_k, best_err = k, err
        if cum / total > target * 2:
            break
    return best_k


def split_portfolio(
    frame: pd.DataFrame,
    y: np.ndarray,
    *,
    time: str | None = None,
    id: str | None = None,
    fractions: tuple[float, float, float] = (0.75, 0.125, 0.125),
    random_state: int = 7,
) -> Split:
    """Split rows into train, validation and test.

    Parameters
    ----------
    frame : the portfolio.
    y : 0/1 outcomes, one per row.
    time : the period column; when given and there are at least three periods,
        the split is out-of-time with whole periods together.
    id : the company column; in a stratified split a company's rows stay together.
    fractions : target shares of train, validation and test.
    random_state : seed of the stratified split.

    Returns
    -------
    Split
    """
    y = np.asarray(y)
    n = len(frame)
    _, f_val, f_test = fractions
    note = ""
    if time and time in frame:
        t = frame[time]
        period = t.dt.year if pd.api.types.is_datetime64_any_dtype(t) and t.dt.normalize().nunique() > 40 else t
        values, counts = np.unique(period.to_numpy(), return_counts=True)
        if len(values) >= 3:
            k_test = _choose_tail(counts, f_test, n)
            k_val = _choose_tail(counts[: len(counts) - k_test], f_val, n)
            if len(values) - k_test - k_val >= 1:
                test_p = values[len(values) - k_test:]
                val_p = values[len(values) - k_test - k_val: len(values) - k_test]
                train_p = values[: len(values) - k_test - k_val]
                p = period.to_numpy()
                tr = np.flatnonzero(np.isin(p, train_p))
                va = np.flatnonzero(np.isin(p, val_p))
                te = np.flatnonzero(np.isin(p, test_p))
                if all(len(np.unique(y[idx])) == 2 for idx in (tr, va, te)):
                    return Split("out_of_time", tr, va, te, periods={
                        "train": [_plain(v) for v in train_p], "validation": [_plain(v) for v in val_p],
                        "test": [_plain(v) for v in test_p]})
                note = "an out-of-time split would leave a part without defaults; the split is stratified instead"
            else:
                note = "too few periods for an out-of-time split; the split is stratified instead"
        else:
            note = (f"only {len(values)} period(s) in {time!r}; an out-of-time split needs at least 3, "
                    "so it is stratified")
    # stratified: 8 folds of 12.5% each by default: 6 train, 1 validation, 1 test
    n_folds = max(3, int(round(1 / min(f_val, f_test))))
    groups = frame[id].to_numpy() if id and id in frame and frame[id].duplicated().any() else np.arange(n)
    n_pos = int(np.sum(y == 1))
    n_folds = max(3, min(n_folds, n_pos, int(np.sum(y == 0)))) if n_pos >= 3 else 3
    n_groups_pos = len(np.unique(groups[y == 1]))
    if n < n_folds or n_groups_pos < n_folds or len(np.unique(groups[y == 0])) < n_folds:
        raise DataFileError(f"only {n:,} usable rows ({n_pos:,} defaults) remain, too few to split into "
                            f"training, validation and test parts with both outcomes in each; add rows (at least "
                            f"{n_folds} defaults and {n_folds} non-defaults from different companies)")
    if len(np.unique(groups)) < len(groups):
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
        folds = [test for _, test in splitter.split(np.zeros(n), y, groups)]
    else:
        splitter2 = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
        folds = [test for _, test in splitter2.split(np.zeros(n), y)]
    te, va = np.sort(folds[0]), np.sort(folds[1])
    tr = np.sort(np.concatenate(folds[2:]))
    return Split("stratified", tr, va, te, periods=None, note=note)


def _plain(v: object) -> object:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, (np.datetime64, pd.Timestamp)):
        return str(pd.Timestamp(v).date())
    return v


def cv_folds(
    y: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    n_splits: int = 5,
    random_state: int = 7,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation folds, stratified by the target, each company in one fold.

    Returns
    -------
    list of (train_positions, validation_positions)
    """
    y = np.asarray(y)
    n = len(y)
    n_splits = max(2, min(n_splits, int(np.sum(y == 1)), int(np.sum(y == 0))))
    if groups is not None and len(np.unique(groups)) < n:
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        return [(tr, va) for tr, va in splitter.split(np.zeros(n), y, groups)]
    splitter2 = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    return [(tr, va) for tr, va in splitter2.split(np.zeros(n), y)]
