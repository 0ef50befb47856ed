"""A stratified sample of a portfolio's rows, and a split restricted to it.

A training run on a cluster gathers at most a few hundred thousand rows to the client for the statistics
that need rows in one place (the quality report, the leakage checks, the search). :func:`stratified_sample`
draws them so that every part of the split, every period and both outcomes keep their share, and
:func:`sub_split` renumbers the split's parts as positions within the sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskcore.modelling.split import Split

__all__ = ["stratified_sample", "sub_split"]


def stratified_sample(strata: pd.DataFrame, n_max: int, random_state: int) -> np.ndarray:
    """A seeded sample of about ``n_max`` rows that keeps every stratum's share of the rows.

    Each stratum (a distinct row of ``strata``) gives ``n_max / n`` of its rows, rounded by largest
    remainders, and at least one row, so a rare stratum (one period's defaults) is never left out. Rows,
    not companies, are drawn: the search still keeps each company's sampled rows in one fold, because its
    folds are grouped by company.

    Parameters
    ----------
    strata : one row per portfolio row; its columns (e.g. part, period, outcome) define the strata.
    n_max : the sample's size; it is exceeded by at most the number of strata smaller than ``n / n_max``
        rows, each of which still gives one row.
    random_state : the seed of the draw.

    Returns
    -------
    numpy.ndarray
        Sorted positions into ``strata``; every position when there are no more than ``n_max`` rows.
    """
    n = len(strata)
    if n <= n_max:
        return np.arange(n)
    codes = strata.groupby(list(strata.columns), dropna=False, sort=True).ngroup().to_numpy()
    counts = np.bincount(codes)
    quota = counts * (n_max / n)
    take = np.floor(quota).astype(np.int64)
    spare = n_max - int(take.sum())
    if spare > 0:
        take[np.argsort(-(quota - take), kind="stable")[:spare]] += 1
    take = np.minimum(np.maximum(take, 1), counts)
    rng = np.random.default_rng(random_state)
    order = np.argsort(codes, kind="stable")
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    chosen = [rng.choice(order[s:s + c], size=k, replace=False) for s, c, k in zip(starts, counts, take)]
    return np.sort(np.concatenate(chosen))


def sub_split(split: Split, positions: np.ndarray) -> Split:
    """The split restricted to the rows at ``positions`` (sorted), renumbered as positions within them.

    The parts keep the split's mode, periods and note, so the leakage checks read the sample's split as
    the whole portfolio's.
    """
    labels = split.labels(len(split.train) + len(split.validation) + len(split.test))[positions]
    return Split(split.mode, np.flatnonzero(labels == "train"), np.flatnonzero(labels == "validation"),
                 np.flatnonzero(labels == "test"), periods=split.periods, note=split.note)
